"""Ingesting pages into the database: the library's `ingest` and the `digest ingest` command."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from digest.models import Page, Paper
from digest.store import ingest

DAY = date(2026, 1, 5)
NAMES = [
    "000_d067d0052f9a516d.txt",
    "001_3bb45698569393bd.txt",
    "002_902aa772df44fb6a.txt",
    "003_7a0eb3a62e6b80d7.txt",
    "004_9ae350f601ced06d.txt",
]
# Per page: entries, page date on DAY, papers not on an earlier page (by name).
EXPECTED = {
    NAMES[0]: (63, date(2025, 4, 18), 63),
    NAMES[1]: (224, None, 201),
    NAMES[2]: (76, date(2025, 3, 12), 52),
    NAMES[3]: (105, date(2025, 3, 12), 68),
    NAMES[4]: (67, date(2025, 3, 17), 47),
}
ECOFORMER = "EcoFormer: Energy-Saving Attention with Linear Complexity"
ABSTRACT = (
    "We study a carefully made up problem that no real page lists, so that its title can only "
    "come from this crafted file; the method is evaluated on nothing at all and improves on "
    "every baseline by a margin that we report with great care and enthusiasm."
)
# A page that starts well (one paper nobody else lists) and breaks on line 15.
# A page saved without its header: a digest page cannot be told from any other text.
HEADER = "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\n"
BROKEN_PAGE = f"Mar 20\n\nZebra Finches Write Papers Too\n\n{ABSTRACT}\n"
BROKEN_LINE = 3


def count(engine: Engine, model: type) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(model))


def page_rows(engine: Engine) -> list[Page]:
    with Session(engine) as session:
        return list(session.scalars(select(Page).order_by(Page.id)))


def paper_titled(engine: Engine, title: str) -> list[Paper]:
    with Session(engine) as session:
        return list(session.scalars(select(Paper).where(Paper.title == title)))


def inbox_with(tmp_path: Path, pages: Path, extra: dict[str, bytes]) -> Path:
    """A copy of the real pages plus `extra` files, in tmp_path/inbox."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in NAMES:
        shutil.copy(pages / name, inbox / name)
    for name, data in extra.items():
        (inbox / name).write_bytes(data)
    return inbox


def last_json(stdout: str) -> dict:
    data = json.loads(stdout.strip().splitlines()[-1])
    assert isinstance(data, dict)
    return data


# --- the library ------------------------------------------------------------------------------


def test_ingest_five_pages(engine: Engine, pages: Path) -> None:
    report = ingest(engine, [pages], DAY)

    assert (report.pages, report.pages_new) == (5, 5)
    assert (report.papers_seen, report.papers_new) == (535, 431)
    assert report.errors == []
    assert count(engine, Paper) == 431
    rows = page_rows(engine)
    assert [Path(r.source).name for r in rows] == NAMES  # SOURCE.md is not a page
    for row in rows:
        name = Path(row.source).name
        entries, page_date, new = EXPECTED[name]
        assert row.source == str(pages / name)
        assert row.sha256 == hashlib.sha256((pages / name).read_bytes()).hexdigest()
        assert (row.entries, row.page_date, row.papers_new) == (entries, page_date, new)
        assert row.digest_date == DAY


def test_second_ingest_adds_nothing(engine: Engine, pages: Path) -> None:
    ingest(engine, [pages], DAY)

    report = ingest(engine, [pages], date(2026, 1, 6))

    assert (report.pages, report.pages_new) == (5, 0)
    assert (report.papers_seen, report.papers_new) == (535, 0)
    assert report.errors == []
    assert count(engine, Paper) == 431
    assert count(engine, Page) == 5


def test_first_seen_is_the_ingest_day_and_stays(engine: Engine, pages: Path) -> None:
    ingest(engine, [pages / NAMES[0]], DAY)
    ingest(engine, [pages], date(2026, 1, 9))

    with Session(engine) as session:
        seen = dict(
            session.execute(select(Paper.first_seen, func.count()).group_by(Paper.first_seen)).all()
        )
    assert seen == {DAY: 63, date(2026, 1, 9): 431 - 63}


def test_paper_on_several_pages_is_stored_once_with_the_first_page(
    engine: Engine, pages: Path
) -> None:
    ingest(engine, [pages], DAY)

    rows = paper_titled(engine, ECOFORMER)
    assert len(rows) == 1
    assert rows[0].code_url == "https://github.com/ziplab/EcoFormer"
    first_page = next(r for r in page_rows(engine) if r.source.endswith(NAMES[0]))
    assert rows[0].page_id == first_page.id


def test_paper_first_stored_from_the_page_ingested_first(engine: Engine, pages: Path) -> None:
    ingest(engine, [pages / NAMES[2], pages / NAMES[0]], DAY)

    rows = paper_titled(engine, ECOFORMER)
    page_ids = {Path(r.source).name: r.id for r in page_rows(engine)}
    assert [r.page_id for r in rows] == [page_ids[NAMES[2]]]


def test_same_content_under_another_name_is_one_page(
    engine: Engine, pages: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "renamed.txt"
    shutil.copy(pages / NAMES[3], copy)

    report = ingest(engine, [pages / NAMES[3], copy], DAY)

    assert (report.pages, report.pages_new, report.papers_new) == (2, 1, 105)
    assert [r.source for r in page_rows(engine)] == [str(pages / NAMES[3])]


def test_bad_page_in_a_folder_is_reported_and_skipped(
    engine: Engine, pages: Path, tmp_path: Path
) -> None:
    inbox = inbox_with(tmp_path, pages, {"002b_broken.txt": BROKEN_PAGE.encode()})

    report = ingest(engine, [inbox], DAY)

    assert [(e.source, e.line) for e in report.errors] == [
        (str(inbox / "002b_broken.txt"), BROKEN_LINE)
    ]
    assert "not a digest page" in report.errors[0].problem
    assert (report.pages, report.papers_seen, report.papers_new) == (5, 535, 431)
    assert count(engine, Page) == 5
    assert count(engine, Paper) == 431
    assert not any(r.source.endswith("002b_broken.txt") for r in page_rows(engine))
    assert paper_titled(engine, "Zebra Finches Write Papers Too") == []


def test_bad_page_goes_in_once_fixed(engine: Engine, pages: Path, tmp_path: Path) -> None:
    broken = tmp_path / "late.txt"
    broken.write_text(BROKEN_PAGE, encoding="utf-8")
    assert ingest(engine, [broken], DAY).errors

    broken.write_text(HEADER + BROKEN_PAGE, encoding="utf-8")
    report = ingest(engine, [broken], DAY)

    assert report.errors == []
    assert (report.pages_new, report.papers_new) == (1, 1)
    [row] = page_rows(engine)
    assert (row.page_date, row.entries) == (date(2025, 3, 20), 1)


def test_missing_path_is_an_error_and_the_rest_goes_in(
    engine: Engine, pages: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere" / "page.txt"

    report = ingest(engine, [missing, pages], DAY)

    assert len(report.errors) == 1
    error = report.errors[0]
    assert (error.source, error.line) == (str(missing), None)
    assert str(error) == f"{missing}: no such file or folder"
    assert report.papers_new == 431
    assert count(engine, Page) == 5


def test_report_as_json(engine: Engine, pages: Path, tmp_path: Path) -> None:
    inbox = inbox_with(tmp_path, pages, {"zz.txt": b"a,b\n1,2\n"})

    data = ingest(engine, [inbox], DAY).as_json()

    assert json.loads(json.dumps(data)) == data
    assert data["pages"] == 5
    assert (data["papers_seen"], data["papers_new"]) == (535, 431)
    [error] = data["errors"]
    assert (error["source"], error["line"]) == (str(inbox / "zz.txt"), 1)
    assert error["error"].startswith("not a digest page")


# --- the command line -------------------------------------------------------------------------


def test_cli_ingest_json(cli, engine: Engine, pages: Path) -> None:
    result = cli("ingest", str(pages), "--date", "2026-01-05", "--json")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == (
        "5 page(s) read (5 new), 535 paper entries, 431 new paper(s), 0 error(s)"
    )
    data = last_json(result.stdout)
    assert {"pages", "papers_seen", "papers_new", "errors"} <= data.keys()
    assert (data["pages"], data["papers_seen"], data["papers_new"]) == (5, 535, 431)
    assert data["errors"] == []
    assert count(engine, Paper) == 431


def test_cli_first_seen_is_the_date_given(cli, engine: Engine, pages: Path) -> None:
    result = cli("ingest", str(pages / NAMES[4]), "--date", "2024-02-29")

    assert result.exit_code == 0, result.output
    with Session(engine) as session:
        assert set(session.scalars(select(Paper.first_seen))) == {date(2024, 2, 29)}
        assert set(session.scalars(select(Page.digest_date))) == {date(2024, 2, 29)}
        # "Mar 17" read on 2024-02-29 is the March 17 before it.
        assert set(session.scalars(select(Page.page_date))) == {date(2023, 3, 17)}


def test_cli_second_ingest_adds_nothing(cli, engine: Engine, pages: Path) -> None:
    assert cli("ingest", str(pages), "--date", "2026-01-05").exit_code == 0

    result = cli("ingest", str(pages), "--date", "2026-01-06", "--json")

    assert result.exit_code == 0, result.output
    data = last_json(result.stdout)
    assert (data["pages"], data["papers_seen"], data["papers_new"]) == (5, 535, 0)
    assert count(engine, Page) == 5
    assert count(engine, Paper) == 431


def test_cli_bad_file_exits_1_and_names_it(cli, engine: Engine, pages: Path, tmp_path: Path):
    inbox = inbox_with(tmp_path, pages, {"002b_broken.txt": BROKEN_PAGE.encode()})
    bad = str(inbox / "002b_broken.txt")

    result = cli("ingest", str(inbox), "--date", "2026-01-05", "--json")

    assert result.exit_code == 1
    assert "Traceback" not in result.output
    problem_lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(problem_lines) == 1, result.stderr
    assert f"{bad}:{BROKEN_LINE}: " in problem_lines[0]
    assert "not a digest page" in problem_lines[0]
    data = last_json(result.stdout)
    assert (data["pages"], data["papers_new"]) == (5, 431)
    assert [(e["source"], e["line"]) for e in data["errors"]] == [(bad, BROKEN_LINE)]
    assert count(engine, Page) == 5
    assert count(engine, Paper) == 431
    assert paper_titled(engine, "Zebra Finches Write Papers Too") == []


def test_cli_missing_path_exits_1_and_the_rest_goes_in(
    cli, engine: Engine, pages: Path, tmp_path: Path
) -> None:
    missing = str(tmp_path / "no-such-page.txt")

    result = cli("ingest", missing, str(pages), "--date", "2026-01-05", "--json")

    assert result.exit_code == 1
    problem_lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(problem_lines) == 1, result.stderr
    assert f"{missing}: no such file or folder" in problem_lines[0]
    data = last_json(result.stdout)
    assert data["errors"] == [{"source": missing, "line": None, "error": "no such file or folder"}]
    assert data["papers_new"] == 431
    assert count(engine, Page) == 5


def test_cli_reads_stdin(cli, engine: Engine, pages: Path) -> None:
    data = (pages / NAMES[0]).read_bytes()

    result = cli("ingest", "-", "--date", "2026-01-05", "--json", input=data)

    assert result.exit_code == 0, result.output
    assert last_json(result.stdout)["papers_new"] == 63
    [row] = page_rows(engine)
    assert (row.source, row.entries, row.page_date) == ("<stdin>", 63, date(2025, 4, 18))
    assert row.sha256 == hashlib.sha256(data).hexdigest()
    # The same page from its file is already known by its content.
    again = cli("ingest", str(pages / NAMES[0]), "--date", "2026-01-06", "--json")
    assert last_json(again.stdout)["papers_new"] == 0
    assert count(engine, Page) == 1


@pytest.mark.parametrize(
    ("data", "line", "problem"),
    [
        (b"", None, "empty file"),
        (b"name,email\nada,ada@example.org\n", 1, "not a digest page"),
    ],
    ids=["empty", "csv"],
)
def test_cli_bad_stdin(cli, engine: Engine, data: bytes, line: int | None, problem: str):
    result = cli("ingest", "-", "--date", "2026-01-05", "--json", input=data)

    assert result.exit_code == 1
    [error] = last_json(result.stdout)["errors"]
    assert (error["source"], error["line"]) == ("<stdin>", line)
    assert error["error"].startswith(problem)
    where = "<stdin>" if line is None else f"<stdin>:{line}"
    assert f"{where}: {problem}" in result.stderr
    assert count(engine, Page) == 0
