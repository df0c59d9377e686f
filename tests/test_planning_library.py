"""A reader's library as their profile: its papers are seeds, named in the email's "why",
never sent back to them; a library that cannot be read fails nobody's digest."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

from digest.config import Settings
from tests.support import PAGES, ROOT

DAY = "2026-03-20"
EXAMPLE = ROOT / "examples" / "library" / "ada.bib"
HNERV = "HNeRV: A Hybrid Neural Representation for Videos"


def reader(settings: Settings, tmp_path: Path, entry: str) -> Settings:
    """Settings whose profile file holds one reader, lee@example.org, as `entry` says."""
    profiles = tmp_path / "profiles.toml"
    profiles.write_text(f'[[subscriber]]\nemail = "lee@example.org"\n{entry}\n')
    return dataclasses.replace(settings, profiles=profiles)


def picks(cli, settings: Settings) -> tuple[list[str], str]:
    """The titles lee's digest would hold today, and its text."""
    assert cli("ingest", str(PAGES), "--date", DAY, settings_=settings).exit_code == 0
    synced = cli("subscribers", "sync", str(settings.profiles), settings_=settings)
    assert synced.exit_code == 0, synced.output
    result = cli("preview", "lee@example.org", "--date", DAY, "--text", settings_=settings)
    assert result.exit_code == 0, result.output
    return re.findall(r"^\d+\. (.+)$", result.stdout, flags=re.MULTILINE), result.stdout


def test_a_library_alone_is_a_profile_and_its_papers_are_named_as_seeds(cli, settings, tmp_path):
    shutil.copy(EXAMPLE, tmp_path / "mine.bib")
    titles, text = picks(cli, reader(settings, tmp_path, 'library = "mine.bib"'))

    assert titles
    assert any("Neural Representation" in t or "Video" in t for t in titles[:3])
    library = re.findall(r"^   Why: like (.+?) \(score", text, flags=re.MULTILINE)
    assert library  # no keywords: every reason is a paper of the library
    named = {title for line in library for title in line.split("; ")}
    assert HNERV in named


def test_a_library_paper_that_is_stored_is_never_a_pick(cli, settings, tmp_path):
    keywords = 'keywords = ["HNeRV"]'
    without, _ = picks(cli, reader(settings, tmp_path, keywords))
    assert HNERV in without  # the day's pages list it

    (tmp_path / "mine.json").write_text(json.dumps([{"title": HNERV, "issued": {"raw": "2023"}}]))
    with_library, _ = picks(cli, reader(settings, tmp_path, f'{keywords}\nlibrary = "mine.json"'))
    assert with_library
    assert HNERV not in with_library


def test_an_unreadable_library_fails_no_digest(cli, lab, tmp_path):
    (tmp_path / "library" / "ada.bib").write_text("@article{ada, title = {Unclosed\n")

    result = cli("run", "--date", DAY, "--json", settings_=lab)

    report = json.loads(result.stdout.splitlines()[-1])
    assert result.exit_code == 1  # a partial failure
    assert sorted(report["sent"]) == ["ada@example.org", "alan@example.org", "grace@example.org"]
    (problem,) = report["problems"]
    assert problem.startswith(f"ada@example.org: {tmp_path / 'library' / 'ada.bib'}:1: ")
    assert problem.endswith("no library seeds until it can be read")
