"""The MIME writer: what it writes parses back, with the email package, to what went in."""

from __future__ import annotations

import binascii
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from hypothesis import given
from hypothesis import strategies as st

from digest.mime import address, alternative, quoted_printable

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=3000)
name = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\u2028\u2029"),
    max_size=120,
)


def parse(data: bytes) -> EmailMessage:
    parsed = message_from_bytes(data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def written(headers: list[tuple[str, str]], plain: str, html: str) -> bytes:
    """The message of `headers` and the two bodies, each encoded as the composer does."""
    return alternative(headers, quoted_printable(plain), quoted_printable(html))


def client_text(part: EmailMessage | None) -> str:
    """A part's text as a mail client shows it: CRLF line ends as newlines."""
    assert part is not None
    return part.get_content().replace("\r\n", "\n")


@given(plain=text, html=text)
def test_bodies_come_back_as_written(plain: str, html: str) -> None:
    data = written([("Subject", "Hi")], plain, html)
    message = parse(data)

    assert data.isascii()
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert not message.defects
    assert message.get_content_type() == "multipart/alternative"
    # A lone CR is a line end as well, and the last line is ended, as the email package does.
    lines = (t.replace("\r\n", "\n").replace("\r", "\n") for t in (plain, html))
    expected = tuple(t if t.endswith("\n") else t + "\n" for t in lines)
    got = (client_text(message.get_body(("plain",))), client_text(message.get_body(("html",))))
    assert got == expected


@given(display=name | st.text(alphabet='abc ,"', min_size=60, max_size=200))
def test_any_display_name_round_trips(display: str) -> None:
    data = written([("To", address(display, "zoe@example.org"))], "x", "<p>x</p>")
    header_block = data.split(b"\r\n\r\n")[0]

    assert data.isascii()
    for line in header_block.split(b"\r\n"):
        # Longer only by spaces that cannot start a line, or where a word is that long.
        assert len(line.rstrip()) <= 78 or b" " not in line.removeprefix(b"To: ").strip(), line
    (to,) = parse(data)["To"].addresses
    assert to.addr_spec == "zoe@example.org"
    # The parser may put a space where a name was folded between two encoded words.
    assert "".join(to.display_name.split()) == "".join(display.split())


def test_a_long_header_is_folded_and_unfolds_to_the_same_value() -> None:
    links = ", ".join(f"<https://d.example/u?t={n * 7:030d}>" for n in range(4))
    data = written([("List-Unsubscribe", links)], "x", "<p>x</p>")

    lines = data.split(b"\r\nMIME-Version:")[0].split(b"\r\n")
    assert len(lines) > 1
    assert lines[0].startswith(b"List-Unsubscribe: <https://")
    assert all(line.startswith(b" <https://") for line in lines[1:])
    assert all(len(line) <= 78 for line in lines)
    assert parse(data)["List-Unsubscribe"] == links


def test_a_header_that_cannot_be_folded_short_enough_is_refused() -> None:
    with pytest.raises(ValueError, match="List-Unsubscribe header has a part longer than 998"):
        written([("List-Unsubscribe", f"<https://x.example/{'a' * 1000}>")], "x", "y")


@pytest.mark.parametrize(
    "value", ["Eve\r\nBcc: victim@example.org", "Eve\nTo: x@y", "Eve\r", "a\0"]
)
def test_a_line_break_in_a_header_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="line break or a NUL"):
        written([("Subject", value)], "x", "y")
    with pytest.raises(ValueError, match="display name"):
        address(value, "eve@example.org")
    with pytest.raises(ValueError, match="address"):
        address("Eve", f"eve{value}@example.org")


def test_a_mailbox_that_is_not_ascii_is_refused() -> None:
    with pytest.raises(ValueError, match="not ASCII"):
        address("Zoë", "zoë@example.org")


def test_names_are_quoted_or_encoded_as_needed() -> None:
    assert address("", "ada@example.org") == "ada@example.org"
    assert address("Ada Lovelace", "ada@example.org") == "Ada Lovelace <ada@example.org>"
    assert address('Doe, Jane "JD"', "j@example.org") == '"Doe, Jane \\"JD\\"" <j@example.org>'
    encoded = address("Zoë " * 30, "zoe@example.org")
    words = encoded.removesuffix(" <zoe@example.org>").split(" ")
    assert len(words) > 1
    assert all(w.startswith("=?utf-8?") and w.endswith("?=") and len(w) <= 75 for w in words)


awkward_lines = st.text(
    alphabet=st.sampled_from([" ", "\t", ".", "=", "a", "é", "…", "\r", "\n", "-"]),
    max_size=400,
)


def canonical(text: str) -> bytes:
    """`text` in UTF-8 with CRLF line ends, the last line ended (RFC 2046 4.1.1); a lone CR
    is a line end, as the email package has it."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").removesuffix("\n").split("\n")
    return "".join(f"{line}\r\n" for line in lines).encode()


@given(st.one_of(text, awkward_lines))
def test_quoted_printable_line_by_line_is_what_binascii_writes_for_the_whole(body: str) -> None:
    # Encoded a line at a time (each line cached); the bytes must be those of one pass over
    # the whole canonical text, soft breaks, trailing blanks and lone dots included.
    whole = binascii.b2a_qp(canonical(body), quotetabs=False, istext=True, header=False)

    assert quoted_printable(body) == whole
    assert quoted_printable(body) == whole
