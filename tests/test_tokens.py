"""Signed tokens: one purpose each, a previous secret that checks but never signs."""

from __future__ import annotations

import pytest

from digest.tokens import Signer, TokenError
from digest.unsubscribe import make_token, read_token

SECRET = "test-secret-not-for-production"
OLD = "the-secret-before-the-rotation"


def test_a_token_carries_its_payload_and_checks():
    signer = Signer("vote", SECRET)
    token = signer.sign(b"up:7:ada@example.org")
    assert signer.check(token) == b"up:7:ada@example.org"
    assert signer.check(f"  {token}\n") == b"up:7:ada@example.org"


def test_a_token_of_one_purpose_is_refused_by_every_other():
    payload = b"ada@example.org"
    purposes = ("unsubscribe", "vote", "resubscribe")
    for made in purposes:
        token = Signer(made, SECRET).sign(payload)
        for other in purposes:
            if other == made:
                assert Signer(other, SECRET).check(token) == payload
                continue
            with pytest.raises(TokenError, match=f"this {other} token is not valid here"):
                Signer(other, SECRET).check(token)


def test_unsubscribe_tokens_keep_the_format_of_mail_already_sent():
    # A token from a digest sent before the web side existed: the same bytes still check.
    sent_before = "YWRhQGV4YW1wbGUub3Jn.5X3YBof6W45vuy7RwgOuSA"
    assert make_token(SECRET, "ada@example.org") == sent_before
    assert read_token(SECRET, sent_before) == "ada@example.org"


def test_after_a_rotation_old_links_check_and_new_ones_use_the_new_secret():
    old_link = make_token(OLD, "ada@example.org")
    assert read_token(SECRET, old_link, previous=OLD) == "ada@example.org"
    with pytest.raises(TokenError, match="wrong or forged"):
        read_token(SECRET, old_link)

    rotated = Signer("vote", SECRET, previous=OLD)
    new_link = rotated.sign(b"up:7:ada@example.org")
    assert new_link == Signer("vote", SECRET).sign(b"up:7:ada@example.org")
    with pytest.raises(TokenError, match="wrong or forged"):
        Signer("vote", OLD).check(new_link)


def test_a_token_signed_by_another_secret_is_refused():
    token = Signer("vote", "another-installation-secret").sign(b"up:7:ada@example.org")
    with pytest.raises(TokenError, match="not valid here"):
        Signer("vote", SECRET, previous=OLD).check(token)


@pytest.mark.parametrize(
    "token",
    ["", ".", "abc", "YWRh.", ".c2ln", "YWRh.c2ln.", "YWRh!.c2ln", "YWRh.c2ln=", "YWRi.c2ln"],
)
def test_malformed_tokens_are_refused_with_a_clear_error(token):
    with pytest.raises(TokenError, match=r"not (a vote token|valid here)"):
        Signer("vote", SECRET).check(token)


def test_a_signature_moved_onto_another_payload_is_refused():
    signer = Signer("vote", SECRET)
    _, _, up_signature = signer.sign(b"up:7:ada@example.org").partition(".")
    down_payload, _, _ = signer.sign(b"down:7:ada@example.org").partition(".")
    with pytest.raises(TokenError, match="wrong or forged"):
        signer.check(f"{down_payload}.{up_signature}")
