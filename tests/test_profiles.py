"""Subscriber profiles: loading and validating the TOML file, syncing it, the CLI commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from digest.db import unit_of_work
from digest.errors import ProfileError
from digest.models import Subscriber
from digest.profiles import load_profiles, sync_profiles
from tests.support import PROFILES

KNOWN_KEYS = (
    "known keys: email, name, keywords, seeds, library, exclude, max_papers, min_score, "
    "timezone, send_time, frequency, weekday"
)

ADA = """
[[subscriber]]
email = "ada@example.org"
name = "Ada"
keywords = ["video compression"]
"""


def write(tmp_path: Path, text: str, name: str = "profiles.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> tuple[Path, str]:
    """Load `text` as a profile file and return the file and the ProfileError's message."""
    path = write(tmp_path, text)
    with pytest.raises(ProfileError) as caught:
        load_profiles(path)
    return path, str(caught.value)


def stored(engine: Engine) -> dict[str, Subscriber]:
    with unit_of_work(engine) as session:
        return {s.email: s for s in session.scalars(select(Subscriber))}


# --- loading the example file ---------------------------------------------------------------


def test_example_file_loads() -> None:
    profiles = load_profiles(PROFILES)

    assert [p.email for p in profiles] == [
        "ada@example.org",
        "grace@example.org",
        "alan@example.org",
    ]
    ada, grace, alan = profiles
    assert ada.name == "Ada"
    assert ada.keywords == {
        "implicit neural representation": 1.0,
        "video compression": 1.0,
        "NeRV": 1.0,
    }
    assert ada.exclude == ["medical"]
    assert ada.max_papers == 5
    assert grace.max_papers == 10  # the default
    assert grace.exclude == []
    assert len(grace.keywords) == 4
    assert alan.keywords == {"speech recognition": 2.0, "text-to-speech": 1.5, "audio": 1.0}
    assert all(isinstance(w, float) for p in profiles for w in p.keywords.values())
    assert alan.exclude == ["music"]
    assert alan.max_papers == 5


def test_emails_are_normalized_and_terms_collapsed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[[subscriber]]
email = "  Ada@Example.ORG "
name = "  Ada Lovelace "
keywords = { "video   compression" = 2, "NeRV" = 0.5 }
exclude = ["medical", "medical"]
min_score = 1
""",
    )
    (profile,) = load_profiles(path)
    assert profile.email == "ada@example.org"
    assert profile.name == "Ada Lovelace"
    assert profile.keywords == {"video compression": 2.0, "NeRV": 0.5}
    assert all(type(w) is float for w in profile.keywords.values())
    assert profile.exclude == ["medical"]
    assert profile.min_score == 1.0


# --- errors name the file, the entry and the field ------------------------------------------


def test_bad_email_names_file_entry_and_value(tmp_path: Path) -> None:
    path, message = load_error(
        tmp_path,
        ADA
        + """
[[subscriber]]
email = "grace at example.org"
keywords = ["retrieval"]
""",
    )
    assert str(path) in message
    assert "subscriber #2" in message
    assert "email" in message
    assert "'grace at example.org'" in message
    assert "not an email address" in message


@pytest.mark.parametrize(
    "email",
    [
        "ada@example.org\\r\\nBcc: eve@example.org",
        "ada@example.org\\nBcc: eve@example.org",
        "ada\\r@example.org",
    ],
)
def test_email_with_line_break_is_refused(tmp_path: Path, email: str) -> None:
    path, message = load_error(
        tmp_path, f'[[subscriber]]\nemail = "{email}"\nkeywords = ["video"]\n'
    )
    assert str(path) in message
    assert "subscriber #1" in message
    assert "email" in message
    assert "not an email address" in message


def test_name_with_newline_is_refused(tmp_path: Path) -> None:
    path, message = load_error(
        tmp_path,
        '[[subscriber]]\nemail = "ada@example.org"\nname = "Ada\\nBcc: eve@example.org"\n'
        'keywords = ["video"]\n',
    )
    assert str(path) in message
    assert "subscriber #1 (ada@example.org)" in message
    assert "name:" in message
    assert "line breaks" in message


def test_unknown_key_lists_the_known_keys(tmp_path: Path) -> None:
    path, message = load_error(
        tmp_path,
        '[[subscriber]]\nemail = "ada@example.org"\nkeyword = ["video"]\n',
    )
    assert str(path) in message
    assert "subscriber #1" in message
    assert "unknown key 'keyword'" in message
    assert KNOWN_KEYS in message


def test_unknown_key_error_names_the_entry_email(tmp_path: Path) -> None:
    """Every entry error names '#N (email)' when the email is known; this one does not."""
    _, message = load_error(
        tmp_path,
        ADA + '\n[[subscriber]]\nemail = "grace@example.org"\nkeyword = ["retrieval"]\n',
    )
    assert "subscriber #2 (grace@example.org)" in message


def test_missing_email(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, '[[subscriber]]\nkeywords = ["video"]\n')
    assert message == f"{path}: subscriber #1: email: missing"


def test_missing_keywords(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, '[[subscriber]]\nemail = "ada@example.org"\n')
    assert str(path) in message
    assert "subscriber #1 (ada@example.org): keywords: missing" in message


@pytest.mark.parametrize("keywords", ["[]", "{}"])
def test_empty_keywords(tmp_path: Path, keywords: str) -> None:
    path, message = load_error(
        tmp_path, f'[[subscriber]]\nemail = "ada@example.org"\nkeywords = {keywords}\n'
    )
    assert str(path) in message
    assert "subscriber #1 (ada@example.org): keywords: empty" in message


@pytest.mark.parametrize(
    ("keywords", "shown"),
    [
        ('["video", 3]', "3"),
        ('["video", "!!!"]', "'!!!'"),
        ('["video", "  "]', "'  '"),
        ('["video", ["nested"]]', "['nested']"),
        ('{ "--" = 1.0 }', "'--'"),
    ],
)
def test_keyword_that_is_not_a_term(tmp_path: Path, keywords: str, shown: str) -> None:
    path, message = load_error(
        tmp_path, f'[[subscriber]]\nemail = "ada@example.org"\nkeywords = {keywords}\n'
    )
    assert str(path) in message
    assert "subscriber #1 (ada@example.org): keywords:" in message
    assert f"{shown} is not a term" in message


def test_keywords_of_wrong_type(tmp_path: Path) -> None:
    _, message = load_error(
        tmp_path, '[[subscriber]]\nemail = "ada@example.org"\nkeywords = "video"\n'
    )
    assert "subscriber #1 (ada@example.org): keywords: must be a list" in message


def test_exclude_term_is_validated(tmp_path: Path) -> None:
    path, message = load_error(
        tmp_path,
        '[[subscriber]]\nemail = "ada@example.org"\nkeywords = ["video"]\nexclude = ["?"]\n',
    )
    assert str(path) in message
    assert "subscriber #1 (ada@example.org): exclude: '?' is not a term" in message


@pytest.mark.parametrize("weight", ["0", "0.0", "-1.5", "-inf", "101", "true", '"2"'])
def test_weight_must_be_a_positive_number(tmp_path: Path, weight: str) -> None:
    path, message = load_error(
        tmp_path,
        f'[[subscriber]]\nemail = "ada@example.org"\nkeywords = {{ "video" = {weight} }}\n',
    )
    assert str(path) in message
    assert "subscriber #1 (ada@example.org): keywords: 'video': must be" in message


def test_nan_weight_is_refused(tmp_path: Path) -> None:
    """TOML allows `nan`; it is no positive weight and would poison every score."""
    _, message = load_error(
        tmp_path,
        '[[subscriber]]\nemail = "ada@example.org"\nkeywords = { "video" = nan }\n',
    )
    assert "subscriber #1 (ada@example.org): keywords: 'video': must be" in message


def test_nan_min_score_is_refused(tmp_path: Path) -> None:
    _, message = load_error(
        tmp_path,
        '[[subscriber]]\nemail = "ada@example.org"\nkeywords = ["video"]\nmin_score = nan\n',
    )
    assert "subscriber #1 (ada@example.org): min_score: must be" in message


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("0", "must be from 1 to 100, not 0"),
        ("-3", "must be from 1 to 100, not -3"),
        ("101", "must be from 1 to 100, not 101"),
        ("2.5", "must be a whole number"),
        ("5.0", "must be a whole number"),
        ('"5"', "must be a whole number"),
        ("true", "must be a whole number"),
        ("false", "must be a whole number"),
    ],
)
def test_max_papers(tmp_path: Path, value: str, problem: str) -> None:
    path, message = load_error(
        tmp_path,
        ADA + f'\n[[subscriber]]\nemail = "grace@example.org"\nkeywords = ["retrieval"]\n'
        f"max_papers = {value}\n",
    )
    assert message == f"{path}: subscriber #2 (grace@example.org): max_papers: {problem}"


@pytest.mark.parametrize("value", ["-0.1", "1.5", "true"])
def test_min_score_range(tmp_path: Path, value: str) -> None:
    _, message = load_error(
        tmp_path,
        f'[[subscriber]]\nemail = "ada@example.org"\nkeywords = ["video"]\nmin_score = {value}\n',
    )
    assert "subscriber #1 (ada@example.org): min_score: must be" in message


def test_duplicate_email_is_case_insensitive_and_names_both_entries(tmp_path: Path) -> None:
    path, message = load_error(
        tmp_path,
        ADA
        + """
[[subscriber]]
email = "grace@example.org"
keywords = ["retrieval"]

[[subscriber]]
email = "ADA@example.org"
keywords = ["speech"]
""",
    )
    assert str(path) in message
    assert "subscriber #3" in message
    assert "subscriber #1" in message
    assert "email" in message
    assert "ada@example.org" in message
    assert "already used" in message


def test_invalid_toml_names_the_file_and_line(tmp_path: Path) -> None:
    path, message = load_error(
        tmp_path,
        '[[subscriber]]\nemail = "ada@example.org"\nkeywords = ["video"\nname = "Ada"\n',
    )
    assert message.startswith(f"{path}: not valid TOML")
    assert "line 4" in message


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ProfileError) as caught:
        load_profiles(path)
    assert str(caught.value) == f"{path}: no such profile file"


def test_unknown_top_level_key(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, "version = 2\n" + ADA)
    assert str(path) in message
    assert "unknown top-level key 'version'" in message


def test_singular_table_is_a_typo_for_the_array(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, ADA.replace("[[subscriber]]", "[subscribers]"))
    assert str(path) in message
    assert "unknown top-level key 'subscribers'" in message


@pytest.mark.parametrize(
    "text",
    ["", "# only a comment\n", "subscriber = []\n", '[subscriber]\nemail = "a@b.org"\n'],
)
def test_no_subscriber_entries(tmp_path: Path, text: str) -> None:
    path, message = load_error(tmp_path, text)
    assert message == f"{path}: no [[subscriber]] entries"


# --- sync ------------------------------------------------------------------------------------


def test_sync_adds_the_example_subscribers(engine: Engine) -> None:
    report = sync_profiles(engine, PROFILES)

    assert report.added == ["ada@example.org", "grace@example.org", "alan@example.org"]
    assert report.updated == report.unchanged == report.deactivated == []
    assert str(report) == "3 added, 0 updated, 0 unchanged, 0 deactivated"
    rows = stored(engine)
    assert set(rows) == {"ada@example.org", "grace@example.org", "alan@example.org"}
    ada = rows["ada@example.org"]
    assert ada.name == "Ada"
    assert ada.active is True
    assert ada.max_papers == 5
    assert ada.exclude == ["medical"]
    assert ada.keywords == {
        "implicit neural representation": 1.0,
        "video compression": 1.0,
        "NeRV": 1.0,
    }
    assert rows["alan@example.org"].keywords == {
        "speech recognition": 2.0,
        "text-to-speech": 1.5,
        "audio": 1.0,
    }
    assert rows["grace@example.org"].max_papers == 10


def test_resync_unchanged(engine: Engine) -> None:
    sync_profiles(engine, PROFILES)
    report = sync_profiles(engine, PROFILES)

    assert report.added == report.updated == report.deactivated == []
    assert sorted(report.unchanged) == [
        "ada@example.org",
        "alan@example.org",
        "grace@example.org",
    ]
    assert str(report) == "0 added, 0 updated, 3 unchanged, 0 deactivated"


def test_editing_keywords_updates(engine: Engine, tmp_path: Path) -> None:
    text = PROFILES.read_text(encoding="utf-8")
    sync_profiles(engine, PROFILES)
    ids = {email: row.id for email, row in stored(engine).items()}
    edited = text.replace('"audio" = 1.0', '"audio" = 3.0')
    assert edited != text
    report = sync_profiles(engine, write(tmp_path, edited))

    assert report.updated == ["alan@example.org"]
    assert sorted(report.unchanged) == ["ada@example.org", "grace@example.org"]
    assert report.added == report.deactivated == []
    rows = stored(engine)
    assert rows["alan@example.org"].keywords["audio"] == 3.0
    assert {email: row.id for email, row in rows.items()} == ids  # updated in place


def test_removed_subscriber_is_deactivated_and_comes_back(engine: Engine, tmp_path: Path) -> None:
    sync_profiles(engine, PROFILES)
    without_grace = [p for p in load_profiles(PROFILES) if p.email != "grace@example.org"]
    assert len(without_grace) == 2
    text = PROFILES.read_text(encoding="utf-8")
    start = text.index('[[subscriber]]\nemail = "grace@example.org"')
    end = text.index("[[subscriber]]", start + 1)
    smaller = write(tmp_path, text[:start] + text[end:], "smaller.toml")
    grace_id = stored(engine)["grace@example.org"].id

    report = sync_profiles(engine, smaller)
    assert report.deactivated == ["grace@example.org"]
    assert sorted(report.unchanged) == ["ada@example.org", "alan@example.org"]
    rows = stored(engine)
    assert len(rows) == 3  # the row is kept, with its history
    assert rows["grace@example.org"].active is False
    assert rows["grace@example.org"].id == grace_id

    again = sync_profiles(engine, smaller)
    assert again.deactivated == []  # already inactive: not reported twice

    back = sync_profiles(engine, PROFILES)
    assert back.updated == ["grace@example.org"]
    assert back.added == []
    rows = stored(engine)
    assert rows["grace@example.org"].active is True
    assert rows["grace@example.org"].id == grace_id


def test_an_entry_with_an_error_is_left_as_stored_and_the_others_sync(
    engine: Engine, tmp_path: Path
) -> None:
    sync_profiles(engine, PROFILES)
    alan_before = stored(engine)["alan@example.org"]
    # Ada edited, Grace removed, a newcomer added... and a typo in the last entry.
    broken = write(
        tmp_path,
        """
[[subscriber]]
email = "ada@example.org"
keywords = ["something else"]

[[subscriber]]
email = "new@example.org"
keywords = ["graphs"]

[[subscriber]]
email = "alan@example.org"
keywords = { "audio" = 0 }
""",
    )
    report = sync_profiles(engine, broken)

    (error,) = report.errors
    assert str(error).startswith(f"{broken}: subscriber #3 (alan@example.org): keywords: ")
    assert (report.added, report.updated, report.deactivated) == (
        ["new@example.org"],
        ["ada@example.org"],
        ["grace@example.org"],
    )
    after = stored(engine)
    assert after["ada@example.org"].keywords == {"something else": 1.0}
    alan = after["alan@example.org"]
    assert (alan.keywords, alan.active) == (alan_before.keywords, True)


def test_an_entry_whose_address_is_unreadable_does_not_deactivate_it(
    engine: Engine, tmp_path: Path
) -> None:
    sync_profiles(engine, PROFILES)
    edited = PROFILES.read_text(encoding="utf-8").replace(
        'email = "grace@example.org"', 'email = "grace@example.org"\nmax_papers = "ten"'
    )

    report = sync_profiles(engine, write(tmp_path, edited))

    assert report.deactivated == []
    assert "max_papers: must be a whole number" in str(report.errors[0])
    assert stored(engine)["grace@example.org"].active


def test_sync_of_an_empty_database_with_a_bad_entry_adds_the_good_ones(
    engine: Engine, tmp_path: Path
) -> None:
    report = sync_profiles(engine, write(tmp_path, ADA + "\n[[subscriber]]\nemail = 'x'\n"))

    assert report.added == ["ada@example.org"]
    assert "subscriber #2: email: 'x' is not an email address" in str(report.errors[0])
    assert list(stored(engine)) == ["ada@example.org"]


def test_a_file_that_is_not_toml_changes_nothing(engine: Engine, tmp_path: Path) -> None:
    sync_profiles(engine, PROFILES)
    with pytest.raises(ProfileError, match="not valid TOML"):
        sync_profiles(engine, write(tmp_path, ADA + "\n[[subscriber]\n"))
    assert all(s.active for s in stored(engine).values())


# --- CLI -------------------------------------------------------------------------------------


def test_cli_sync_and_list(cli) -> None:
    result = cli("subscribers", "sync", str(PROFILES))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"{PROFILES}: 3 added, 0 updated, 0 unchanged, 0 deactivated"

    result = cli("subscribers", "sync", str(PROFILES))
    assert result.exit_code == 0, result.output
    assert "0 added, 0 updated, 3 unchanged, 0 deactivated" in result.stdout

    result = cli("subscribers", "list", "--json")
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    listing = json.loads(lines[-1])
    assert [s["email"] for s in listing] == [
        "ada@example.org",
        "alan@example.org",
        "grace@example.org",
    ]
    ada = listing[0]
    assert ada == {
        "email": "ada@example.org",
        "name": "Ada",
        "active": True,
        "unsubscribed": False,
        "suspended": False,
        "keywords": {"implicit neural representation": 1.0, "video compression": 1.0, "NeRV": 1.0},
        "exclude": ["medical"],
        "max_papers": 5,
        **{key: ada[key] for key in ("next_due", "next_due_utc", "due_now")},
        "schedule": "daily at 07:00 UTC",
        "timezone": "UTC",
        "send_time": "07:00",
        "frequency": "daily",
        "weekday": None,
    }
    assert listing[1]["keywords"] == {
        "speech recognition": 2.0,
        "text-to-speech": 1.5,
        "audio": 1.0,
    }
    assert lines[0] == "ada@example.org: implicit neural representation, video compression, NeRV"


def test_cli_list_marks_inactive(cli, tmp_path: Path) -> None:
    assert cli("subscribers", "sync", str(PROFILES)).exit_code == 0
    result = cli("subscribers", "sync", str(write(tmp_path, ADA)))
    assert result.exit_code == 0, result.output
    assert "0 added, 1 updated, 0 unchanged, 2 deactivated" in result.stdout

    result = cli("subscribers", "list", "--json")
    assert "grace@example.org (inactive): " in result.stdout
    listing = {s["email"]: s for s in json.loads(result.stdout.strip().splitlines()[-1])}
    assert listing["grace@example.org"]["active"] is False
    assert listing["ada@example.org"]["active"] is True
    assert listing["ada@example.org"]["keywords"] == {"video compression": 1.0}


@pytest.mark.parametrize(
    "text",
    [
        '[[subscriber]]\nemail = "ada@example.org"\nmax_papers = 0\nkeywords = ["x"]\n',
        "[[subscriber]\n",
    ],
)
def test_cli_sync_bad_file(cli, tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text, "bad.toml")
    result = cli("subscribers", "sync", str(path))

    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {path}: ")
    assert "Traceback" not in result.output

    listing = cli("subscribers", "list", "--json")
    assert json.loads(listing.stdout.strip().splitlines()[-1]) == []


LONG_NAME = "N" * 201


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        (f'name = "{LONG_NAME}"', "name: 201 characters, at most 200 are kept"),
        ("", "email: 77 characters with 65 before the @; an address has at most 254"),
    ],
    ids=["name over the column", "local part over 64"],
)
def test_cli_sync_an_entry_too_long_is_named_and_the_others_sync(
    cli, tmp_path: Path, entry: str, problem: str
) -> None:
    """Fails before: PostgreSQL refused the 201 characters of the name with a traceback; a
    local part of 65 was stored, and the file outbox then failed on its name forever."""
    email = "ada@example.org" if entry else f"{'a' * 65}@example.org"
    path = write(
        tmp_path,
        f'[[subscriber]]\nemail = "{email}"\n{entry}\nkeywords = ["x"]\n\n'
        '[[subscriber]]\nemail = "grace@example.org"\nkeywords = ["x"]\n',
    )
    result = cli("subscribers", "sync", str(path))

    assert result.exit_code == 1
    assert "Traceback" not in result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {path}: subscriber #1")
    assert problem in line
    listing = cli("subscribers", "list", "--json")
    assert [s["email"] for s in json.loads(listing.stdout.strip().splitlines()[-1])] == [
        "grace@example.org"
    ]


def test_cli_sync_missing_file(cli, tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    result = cli("subscribers", "sync", str(path))
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: {path}: no such profile file"
