"""Real feeds: the HTTP source against a server on 127.0.0.1, and weeks of real days replayed."""

from __future__ import annotations

import dataclasses
import json
import re
import tarfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from digest.config import Settings
from digest.db import make_engine, unit_of_work
from digest.models import Delivery, Paper
from tests.support import ROOT, create_database, drop_database, free_port

ARCHIVE = ROOT / "examples" / "hf-api" / "2025-03-17_2025-06-13.tar.xz"
FIRST, LAST = date(2025, 3, 17), date(2025, 6, 13)

PROFILES = """
[[subscriber]]
email = "diffusion@example.org"
keywords = ["diffusion model", "image generation"]

[[subscriber]]
email = "rl@example.org"
keywords = ["reinforcement learning", "reward model"]
exclude = ["robot"]

[[subscriber]]
email = "video@example.org"
keywords = ["video generation", "video understanding"]
max_papers = 3

[[subscriber]]
email = "speech@example.org"
keywords = { "speech" = 2.0, "audio" = 1.0 }

[[subscriber]]
email = "agents@example.org"
keywords = ["GUI agent", "web agent", "tool use"]
"""


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 65 real API days, unpacked from the archive the repository ships."""
    folder = tmp_path_factory.mktemp("hf-api")
    with tarfile.open(ARCHIVE) as archive:
        archive.extractall(folder, filter="data")
    return folder


@pytest.fixture
def feeds(tmp_path: Path, settings: Settings) -> Settings:
    profiles = tmp_path / "profiles.toml"
    profiles.write_text(PROFILES)
    return dataclasses.replace(settings, profiles=profiles)


class Source:
    """A daily-papers API on 127.0.0.1 serving the real files, with faults on demand."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.requests: Counter[str] = Counter()
        self.fail: dict[str, list[int | str]] = {}  # date -> faults to serve first, in order
        self.port = free_port()
        source = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                day = parse_qs(url.query).get("date", [""])[0]
                source.requests[day] += 1
                faults = source.fail.get(day, [])
                fault = faults.pop(0) if faults else None
                if fault == "slow":
                    time.sleep(1.5)
                    fault = None
                if isinstance(fault, int):
                    self.send_error(fault)
                    return
                path = source.folder / f"{day}.json"
                if url.path != "/api/daily_papers" or not path.exists():
                    self.send_error(404)
                    return
                body = b"<html>oops</html>" if fault == "malformed" else path.read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/daily_papers?date={{date}}"


@pytest.fixture
def source(history: Path) -> Iterator[Source]:
    served = Source(history)
    thread = threading.Thread(target=served.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        served.server.shutdown()
        served.server.server_close()


def with_source(settings: Settings, source: Source) -> Settings:
    return dataclasses.replace(
        settings, source_url=source.url, source_timeout=1.0, retry_attempts=3
    )


def papers_stored(settings: Settings) -> int:
    with unit_of_work(make_engine(settings.database_url)) as session:
        return session.scalar(select(func.count()).select_from(Paper)) or 0


def outbox(settings: Settings) -> list[EmailMessage]:
    return [
        message_from_bytes(path.read_bytes(), policy=policy.default)
        for path in sorted(settings.outbox.glob("*.eml"))
    ]


def plain(message: EmailMessage) -> str:
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")


def titles(message: EmailMessage) -> list[str]:
    return re.findall(r"^\d+\. (.+)$", plain(message), flags=re.MULTILINE)


def run(cli, settings: Settings, day: date, *args: str):
    return cli("run", "--date", day.isoformat(), *args, settings_=settings)


def test_run_fetches_its_day_and_links_the_papers_on_arxiv(cli, feeds, source):
    settings = with_source(feeds, source)
    result = run(cli, settings, date(2025, 3, 17), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["ingest"]["papers_new"] == 12
    assert source.requests["2025-03-17"] == 1
    messages = outbox(settings)
    assert messages
    html = messages[0].get_body(("html",)).get_content()
    assert re.search(r'href="https://arxiv\.org/abs/\d{4}\.\d{5}"', html)
    assert re.search(r'href="https://arxiv\.org/pdf/\d{4}\.\d{5}"', html)
    assert re.search(r'href="https://huggingface\.co/papers/\d{4}\.\d{5}"', html)
    assert "upvotes" in plain(messages[0])


def test_a_server_error_is_retried_and_then_succeeds(cli, feeds, source):
    settings = with_source(feeds, source)
    source.fail["2025-03-18"] = [500, 503]
    result = run(cli, settings, date(2025, 3, 18))
    assert result.exit_code == 0, result.output
    assert source.requests["2025-03-18"] == 3
    assert papers_stored(settings) > 0


def test_a_slow_answer_times_out_and_is_retried(cli, feeds, source):
    settings = with_source(feeds, source)
    source.fail["2025-03-19"] = ["slow"]
    result = run(cli, settings, date(2025, 3, 19))
    assert result.exit_code == 0, result.output
    assert source.requests["2025-03-19"] == 2
    assert papers_stored(settings) > 0


def test_a_source_that_keeps_failing_is_reported_and_stores_nothing(cli, feeds, source):
    settings = with_source(feeds, source)
    source.fail["2025-03-20"] = [500, 500, 500]
    result = run(cli, settings, date(2025, 3, 20))
    assert result.exit_code == 1
    assert "answered 500" in result.output
    assert "127.0.0.1" in result.output
    assert source.requests["2025-03-20"] == 3
    assert papers_stored(settings) == 0


def test_a_missing_day_is_a_day_without_papers(cli, feeds, source):
    settings = with_source(feeds, source)
    result = run(cli, settings, date(2025, 3, 22))  # a Saturday: the API has no file
    assert result.exit_code == 0, result.output
    assert "404, no papers for that day" in result.output
    assert source.requests["2025-03-22"] == 1
    assert papers_stored(settings) == 0


def test_a_malformed_answer_is_an_error_naming_the_url_and_nothing_is_stored(cli, feeds, source):
    settings = with_source(feeds, source)
    source.fail["2025-03-21"] = ["malformed"]
    result = run(cli, settings, date(2025, 3, 21))
    assert result.exit_code == 1
    assert "date=2025-03-21: not a Hugging Face papers page" in result.output
    assert papers_stored(settings) == 0


def test_a_paper_from_a_text_dump_and_the_api_is_one_row_with_its_id(engine, history, tmp_path):
    from digest.store import ingest

    entry = json.loads((history / "2025-03-17.json").read_text())[0]["paper"]
    title, abstract = " ".join(entry["title"].split()), " ".join(entry["summary"].split())
    page = tmp_path / "page.txt"
    page.write_text(
        f"Get trending papers in your email inbox!\n\nSubscribe\n\n{title.upper()}\n\n{abstract}\n"
    )
    ingest(engine, [page], date(2025, 3, 17))
    with unit_of_work(engine) as session:
        (stored,) = session.scalars(select(Paper)).all()
        assert stored.arxiv_id is None
    report = ingest(engine, [history / "2025-03-17.json"], date(2025, 3, 17))
    assert report.papers_new == 11
    with unit_of_work(engine) as session:
        merged = session.scalar(select(Paper).where(Paper.key == stored.key))
        assert merged.arxiv_id == entry["id"]
        assert merged.authors and merged.upvotes == entry["upvotes"]
        assert merged.title == title.upper()
        assert session.scalar(select(func.count()).select_from(Paper)) == 12


def test_run_for_past_days_over_http_matches_a_replay_of_the_same_files(
    cli, feeds, source, history, tmp_path
):
    days = [date(2025, 3, 17) + timedelta(days=n) for n in range(5)]
    over_http = with_source(feeds, source)
    for day in days:
        assert run(cli, over_http, day).exit_code == 0
    replayed = dataclasses.replace(
        feeds, database_url=create_database(tmp_path), outbox=tmp_path / "replay-outbox"
    )
    result = cli(
        "replay", str(history), "--from", "2025-03-17", "--to", "2025-03-21", settings_=replayed
    )
    assert result.exit_code == 0, result.output

    def sent(settings: Settings) -> set[tuple[str, str, tuple[str, ...]]]:
        return {
            (m["To"].addresses[0].addr_spec, m["Subject"], tuple(titles(m)))
            for m in outbox(settings)
        }

    assert sent(over_http) == sent(replayed)
    assert sent(over_http)
    drop_database(replayed.database_url)


@pytest.mark.slow
def test_replaying_weeks_of_real_days_sends_each_paper_once_and_only_matches(cli, feeds, history):
    result = cli(
        "replay",
        str(history),
        "--from",
        FIRST.isoformat(),
        "--to",
        LAST.isoformat(),
        "--json",
        settings_=feeds,
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["days"] == (LAST - FIRST).days + 1
    assert summary["papers_new"] == 1089

    engine = make_engine(feeds.database_url)
    with unit_of_work(engine) as session:
        first_seen = {p.title: p.first_seen for p in session.scalars(select(Paper))}
        deliveries = session.execute(select(Delivery.digest_date, Delivery.status)).all()
    assert {status for _, status in deliveries} == {"sent"}
    assert summary["emails"] == len(deliveries)

    keywords = {
        "diffusion@example.org": ["diffusion model", "image generation"],
        "rl@example.org": ["reinforcement learning", "reward model"],
        "video@example.org": ["video generation", "video understanding"],
        "speech@example.org": ["speech", "audio"],
        "agents@example.org": ["GUI agent", "web agent", "tool use"],
    }
    got: dict[str, list[EmailMessage]] = defaultdict(list)
    for message in outbox(feeds):
        got[message["To"].addresses[0].addr_spec].append(message)
    assert set(got) == set(keywords)

    with tarfile.open(ARCHIVE) as archive:
        names = archive.getnames()
    papers_by_day: dict[date, list[tuple[str, str]]] = defaultdict(list)
    for name in names:
        if not name.endswith(".json"):
            continue
        day = date.fromisoformat(Path(name).stem)
        for item in json.loads((history / Path(name).name).read_text()):
            paper = item["paper"]
            papers_by_day[day].append(
                (" ".join(paper["title"].split()), " ".join(paper["summary"].split()))
            )

    for email, messages in got.items():
        seen = [title for message in messages for title in titles(message)]
        assert len(seen) == len(set(seen)), f"{email} got a paper twice"
        subjects = Counter(message["Subject"] for message in messages)
        assert max(subjects.values()) == 1, f"{email} got two digests for one day"
        patterns = [re.compile(rf"\b{re.escape(k)}\b", re.IGNORECASE) for k in keywords[email]]
        for message in messages:
            for title in titles(message):
                assert title in first_seen
        for day, papers in papers_by_day.items():
            matching = any(p.search(f"{t} {a}") for t, a in papers for p in patterns)
            emailed = any(first_seen[titles(m)[0]] == day for m in messages)
            if matching:
                assert emailed, f"{email} had a matching paper on {day} but no email"
        for message in messages:
            for why in re.findall(r"^   Why: matches (.+) \(score", plain(message), re.MULTILINE):
                assert set(why.split(", ")) <= set(keywords[email])
