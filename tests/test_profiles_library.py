"""A profile's `library`: the path it names, and a sync that reads the export only when it
changed and keeps the last good seeds when it cannot be read."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

import digest.profiles
from digest.db import unit_of_work
from digest.errors import ProfileError
from digest.library import Library
from digest.models import Subscriber
from digest.profiles import load_profiles, sync_profiles
from tests.support import ROOT

EXAMPLE = ROOT / "examples" / "library" / "ada.bib"
ONE_PAPER = "@article{one, title = {Attention Is All You Need}, year = {2017}}\n"


def profiles(folder: Path, *entries: str) -> Path:
    path = folder / "profiles.toml"
    path.write_text("\n".join(f"[[subscriber]]\n{entry}" for entry in entries))
    return path


def library_of(engine: Engine, email: str) -> tuple[str | None, str | None, list[Any]]:
    with unit_of_work(engine) as session:
        row = session.scalars(select(Subscriber).where(Subscriber.email == email)).one()
        return row.library, row.library_sha256, row.library_seeds


def seed_titles(engine: Engine, email: str) -> list[str]:
    return [seed["title"] for seed in library_of(engine, email)[2]]


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The exports each sync parses, in order."""
    seen: list[Path] = []
    parse: Callable[[bytes, Path], Library] = digest.profiles.parse_export

    def counted(data: bytes, path: Path) -> Library:
        seen.append(path)
        return parse(data, path)

    monkeypatch.setattr(digest.profiles, "parse_export", counted)
    return seen


# --- the profile field ----------------------------------------------------------------------


def test_a_library_path_is_taken_from_the_profile_files_folder(tmp_path: Path) -> None:
    path = profiles(
        tmp_path,
        'email = "ada@example.org"\nlibrary = "exports/My Library.bib"',
        f'email = "alan@example.org"\nlibrary = "{tmp_path / "elsewhere.ris"}"',
        'email = "grace@example.org"\nkeywords = ["retrieval"]',
    )
    ada, alan, grace = load_profiles(path)
    assert ada.library == tmp_path / "exports" / "My Library.bib"
    assert ada.keywords == {}  # a library stands for keywords
    assert alan.library == tmp_path / "elsewhere.ris"
    assert grace.library is None


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("42", "library: must be the path of a library export (.bib, .bibtex, .ris, .json)"),
        ('" "', "library: must be the path of a library export (.bib, .bibtex, .ris, .json)"),
        (
            '"library.enl"',
            "library: 'library.enl' is not a BibTeX, RIS or CSL-JSON export (its name ends in "
            ".bib, .bibtex, .ris, .json)",
        ),
    ],
)
def test_a_bad_library_value_is_named(tmp_path: Path, value: str, problem: str) -> None:
    path = profiles(tmp_path, f'email = "ada@example.org"\nlibrary = {value}')
    with pytest.raises(ProfileError) as caught:
        load_profiles(path)
    assert str(caught.value) == f"{path}: subscriber #1 (ada@example.org): {problem}"


# --- sync -----------------------------------------------------------------------------------


def test_sync_stores_the_seeds_and_reads_an_unchanged_export_once(
    engine: Engine, tmp_path: Path, parses: list[Path]
) -> None:
    shutil.copy(EXAMPLE, tmp_path / "ada.bib")
    path = profiles(tmp_path, 'email = "ada@example.org"\nlibrary = "ada.bib"')

    first = sync_profiles(engine, path)
    assert first.added == ["ada@example.org"]
    library, sha256, seeds = library_of(engine, "ada@example.org")
    assert library == str(tmp_path / "ada.bib")
    assert sha256 is not None and len(sha256) == 64
    assert len(seeds) == 8
    assert seeds[0]["title"] == "NERV++: An Enhanced Implicit Neural Video Representation"
    assert parses == [tmp_path / "ada.bib"]

    again = sync_profiles(engine, path)
    assert again.unchanged == ["ada@example.org"]
    assert again.library_errors == []
    assert parses == [tmp_path / "ada.bib"]  # not parsed again


def test_a_changed_export_is_read_again_at_the_next_sync(
    engine: Engine, tmp_path: Path, parses: list[Path]
) -> None:
    export = tmp_path / "ada.bib"
    export.write_text(ONE_PAPER)
    path = profiles(tmp_path, 'email = "ada@example.org"\nlibrary = "ada.bib"')
    sync_profiles(engine, path)
    assert seed_titles(engine, "ada@example.org") == ["Attention Is All You Need"]

    export.write_text(ONE_PAPER + "@misc{two, title = {A Newer Paper}, year = {2024}}\n")
    report = sync_profiles(engine, path)

    assert report.updated == ["ada@example.org"]
    assert seed_titles(engine, "ada@example.org") == ["A Newer Paper", "Attention Is All You Need"]
    assert len(parses) == 2


def test_the_same_content_under_another_path_is_not_parsed_again(
    engine: Engine, tmp_path: Path, parses: list[Path]
) -> None:
    (tmp_path / "a.bib").write_text(ONE_PAPER)
    sync_profiles(engine, profiles(tmp_path, 'email = "ada@example.org"\nlibrary = "a.bib"'))
    (tmp_path / "a.bib").rename(tmp_path / "b.bib")

    report = sync_profiles(
        engine, profiles(tmp_path, 'email = "ada@example.org"\nlibrary = "b.bib"')
    )
    assert report.updated == ["ada@example.org"]
    assert library_of(engine, "ada@example.org")[0] == str(tmp_path / "b.bib")
    assert parses == [tmp_path / "a.bib"]


def test_readers_sharing_an_export_have_it_parsed_once(
    engine: Engine, tmp_path: Path, parses: list[Path]
) -> None:
    (tmp_path / "group.bib").write_text(ONE_PAPER)
    sync_profiles(
        engine,
        profiles(
            tmp_path,
            'email = "ada@example.org"\nlibrary = "group.bib"',
            'email = "alan@example.org"\nlibrary = "group.bib"',
        ),
    )
    assert seed_titles(engine, "alan@example.org") == seed_titles(engine, "ada@example.org")
    assert parses == [tmp_path / "group.bib"]


def test_a_broken_export_keeps_the_last_good_seeds_and_the_others_sync(
    engine: Engine, tmp_path: Path
) -> None:
    export = tmp_path / "ada.json"
    export.write_text('[{"title": "Attention Is All You Need"}]')
    entries = ['email = "ada@example.org"\nlibrary = "ada.json"']
    sync_profiles(engine, profiles(tmp_path, *entries))
    before = library_of(engine, "ada@example.org")

    export.write_text('[{"title": "Attention Is All You Need"},\n {"title": ]')
    report = sync_profiles(
        engine,
        profiles(
            tmp_path,
            'email = "ada@example.org"\nlibrary = "ada.json"\nmax_papers = 3',
            'email = "grace@example.org"\nkeywords = ["retrieval"]',
        ),
    )

    (error,) = report.library_errors
    assert str(error) == (
        f"ada@example.org: {export}:2: not valid JSON: Expecting value; keeping the seeds "
        "last read from its library"
    )
    assert report.errors == []
    assert report.added == ["grace@example.org"]
    assert report.updated == ["ada@example.org"]  # her max_papers
    assert str(report) == "1 added, 1 updated, 0 unchanged, 0 deactivated, 1 libraries unreadable"
    assert library_of(engine, "ada@example.org") == before


def test_a_missing_export_at_the_first_sync_adds_the_reader_without_seeds(
    engine: Engine, tmp_path: Path
) -> None:
    report = sync_profiles(
        engine,
        profiles(
            tmp_path,
            'email = "ada@example.org"\nlibrary = "gone.ris"\nkeywords = ["video"]',
        ),
    )
    assert report.added == ["ada@example.org"]
    assert [str(error) for error in report.library_errors] == [
        f"ada@example.org: {tmp_path / 'gone.ris'}: no such library file; no library seeds "
        "until it can be read"
    ]
    assert library_of(engine, "ada@example.org") == (None, None, [])

    (tmp_path / "gone.ris").write_text("TY  - JOUR\nTI  - Found Again\nER  - \n")
    again = sync_profiles(engine, tmp_path / "profiles.toml")
    assert again.updated == ["ada@example.org"]
    assert again.library_errors == []
    assert seed_titles(engine, "ada@example.org") == ["Found Again"]


def test_removing_the_library_from_a_profile_forgets_its_seeds(
    engine: Engine, tmp_path: Path
) -> None:
    (tmp_path / "ada.bib").write_text(ONE_PAPER)
    sync_profiles(
        engine,
        profiles(tmp_path, 'email = "ada@example.org"\nlibrary = "ada.bib"\nkeywords = ["video"]'),
    )
    report = sync_profiles(
        engine, profiles(tmp_path, 'email = "ada@example.org"\nkeywords = ["video"]')
    )

    assert report.updated == ["ada@example.org"]
    assert library_of(engine, "ada@example.org") == (None, None, [])


def test_subscribers_sync_reports_an_unreadable_library_and_exits_1(
    cli: Callable[..., Any], tmp_path: Path
) -> None:
    (tmp_path / "ada.bib").write_bytes(b"@article{a, title = {Caf\xe9}}")
    path = profiles(tmp_path, 'email = "ada@example.org"\nlibrary = "ada.bib"')

    result = cli("subscribers", "sync", str(path))

    assert result.exit_code == 1
    assert f"error: ada@example.org: {tmp_path / 'ada.bib'}:1: not UTF-8 text (byte 0xe9)" in (
        result.stderr
    )
    assert (
        result.stdout.strip()
        == f"{path}: 1 added, 0 updated, 0 unchanged, 0 deactivated, 1 libraries unreadable"
    )
