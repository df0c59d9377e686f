"""`digest web` behind waitress on a loopback port, asked as a mail client and a reader would:
one-click unsubscribe, pages that change nothing on GET, votes, forged and cross-purpose
links, size limits, a busy database, the command itself, and a reader clicking through in
a real headless browser (Debian's chromium, driven by Playwright)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date
from email import message_from_bytes, policy
from email.message import EmailMessage
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, sync_playwright
from sqlalchemy import Engine, func, select, text

from digest.config import Settings
from digest.db import make_engine, read_only, unit_of_work, upgrade
from digest.feedback import Ballot, vote_signer
from digest.jobs import run_daily
from digest.models import Delivery, Paper, Subscriber, Vote
from digest.models import Page as StoredPage
from digest.profiles import sync_profiles
from digest.transports import make_transport
from digest.unsubscribe import make_token, make_undo_token, unsubscribe_address
from digest.web import BUSY_SECONDS, create_app
from tests.support import PAGES, PROFILES, env_for, free_port
from tests.web_server import Answer, Site, serving

SECRET = "test-secret-not-for-production"
DAY1, DAY2 = date(2026, 3, 20), date(2026, 3, 21)
ONE_CLICK = {"List-Unsubscribe": "One-Click"}
NOT_VALID = "This link is not valid"


@pytest.fixture
def readers(tmp_path: Path, settings: Settings) -> Settings:
    """The example readers; the inbox holds the first three sample pages (day one)."""
    settings.inbox.mkdir()
    for page in sorted(PAGES.glob("*.txt"))[:3]:
        shutil.copy(page, settings.inbox)
    profiles = tmp_path / "profiles.toml"
    shutil.copy(PROFILES, profiles)
    return dataclasses.replace(settings, profiles=profiles)


@pytest.fixture
def site(readers: Settings) -> Iterator[Site]:
    with serving(readers) as running:
        yield running


@pytest.fixture
def db(readers: Settings) -> Iterator[Engine]:
    engine = make_engine(readers.database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def run_day(settings: Settings, day: date) -> dict[str, EmailMessage]:
    """Run the daily cycle into the file outbox; the day's messages by recipient."""
    engine = make_engine(settings.database_url)
    outbox = settings.outbox / day.isoformat()
    settings = dataclasses.replace(settings, outbox=outbox)
    try:
        report = run_daily(engine, settings, day, make_transport(settings))
    finally:
        engine.dispose()
    assert report.ok, report.as_json()
    messages = [
        message_from_bytes(path.read_bytes(), policy=policy.default)
        for path in sorted(outbox.glob("*.eml"))
    ]
    return {m["To"].addresses[0].addr_spec: m for m in messages}  # type: ignore[misc]


@pytest.fixture
def mail(readers: Settings, site: Site) -> dict[str, EmailMessage]:
    """Day one's digests, their links into `site`."""
    return run_day(dataclasses.replace(readers, base_url=site.url), DAY1)


def one_click_link(message: EmailMessage) -> str:
    links = [p.strip().strip("<>") for p in str(message["List-Unsubscribe"]).split(",")]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    (web,) = [link for link in links if link.startswith("http")]
    assert any(link.startswith("mailto:") for link in links)
    return web


def feedback_links(message: EmailMessage, label: str) -> list[str]:
    """The message's links labelled `label` in its HTML part, in order of the papers."""
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    return [unescape(url) for url in re.findall(rf'<a href="([^"]+)"[^>]*>{label}</a>', html)]


def unsubscribed_at(engine: Engine, email: str):
    with unit_of_work(engine) as session:
        return session.scalar(select(Subscriber.unsubscribed_at).where(Subscriber.email == email))


def votes(engine: Engine) -> list[tuple[str, int, str]]:
    with unit_of_work(engine) as session:
        rows = session.execute(
            select(Subscriber.email, Vote.paper_id, Vote.vote).join(Subscriber).order_by(Vote.id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def form_of(answer: Answer, action: str | None = None) -> dict[str, str]:
    """The hidden fields of the page's one form (whose action is `action`, or none)."""
    (form,) = re.findall(r"<form ([^>]*)>(.*?)</form>", answer.body, re.S)
    attributes, inside = form
    assert 'method="post"' in attributes
    found = re.search(r'action="([^"]*)"', attributes)
    assert (unescape(found[1]) if found else None) == action
    assert len(re.findall(r"<button", inside)) == 1
    return {
        unescape(name): unescape(value)
        for name, value in re.findall(r'name="([^"]+)" value="([^"]*)"', inside)
    }


def assert_safe_page(answer: Answer) -> None:
    headers = answer.headers
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Content-Type-Options"] == "nosniff"
    policy_ = headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy_
    assert "script-src" not in policy_ and "unsafe-inline" not in policy_
    assert headers["Set-Cookie"] is None
    assert headers["Location"] is None
    assert "<script" not in answer.body.lower()
    assert "style=" not in answer.body
    assert "Traceback" not in answer.body


# --- the server ---------------------------------------------------------------------------


def test_the_front_page_is_one_line_for_health_checks(site):
    answer = site.get("/")
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
    assert len(re.findall(r"<p>", answer.body)) == 1
    assert_safe_page(answer)
    assert site.request("HEAD", "/").status == 200
    style = site.get("/style.css")
    assert style.status == 200
    assert style.headers["Content-Type"].startswith("text/css")
    assert "Cache-Control" in style.headers and "max-age" in style.headers["Cache-Control"]


def test_unknown_pages_and_methods_get_pages_of_their_status(site):
    missing = site.get("/admin")
    assert missing.status == 404
    assert "There is no such page here" in missing.body
    assert_safe_page(missing)
    wrong = site.request("PUT", "/unsubscribe?token=x")
    assert wrong.status == 405
    assert_safe_page(wrong)
    assert site.get("/resubscribe").status == 405  # only the page's button posts there


# --- one-click unsubscribe ----------------------------------------------------------------


def test_the_one_click_post_unsubscribes_at_once_twice_harmlessly_and_stops_the_mail(
    readers, site, mail, db
):
    link = one_click_link(mail["ada@example.org"])
    assert link.startswith(f"{site.url}/unsubscribe?token=")

    first = site.post(link, ONE_CLICK)
    assert first.status == 200
    assert_safe_page(first)
    assert "ada@example.org</strong> will get no more digests" in first.body
    when = unsubscribed_at(db, "ada@example.org")
    assert when is not None

    second = site.post(link, ONE_CLICK)
    assert second.status == 200
    assert "will get no more digests" in second.body
    assert unsubscribed_at(db, "ada@example.org") == when

    for page in sorted(PAGES.glob("*.txt"))[3:]:
        shutil.copy(page, readers.inbox)
    next_day = run_day(dataclasses.replace(readers, base_url=site.url), DAY2)
    assert sorted(next_day) == ["alan@example.org", "grace@example.org"]


def test_a_get_of_any_link_changes_nothing(site, mail, db):
    message = mail["ada@example.org"]
    link = one_click_link(message)
    (visible,) = re.findall(
        r'<a href="([^"]+)"[^>]*>Unsubscribe</a>',
        message.get_body(("html",)).get_content(),  # type: ignore[union-attr]
    )
    assert unescape(visible) == link  # the body's link leads to the same page

    for _ in range(3):  # a link scanner, then a preview, then the reader
        page = site.get(link)
        assert page.status == 200
        assert_safe_page(page)
        assert "ada@example.org" in page.body
        assert form_of(page) == ONE_CLICK
        assert site.request("HEAD", link).status == 200
    less = feedback_links(message, "Less like this")[0]
    assert site.get(less).status == 200
    assert site.request("HEAD", less).status == 200
    assert unsubscribed_at(db, "ada@example.org") is None
    assert votes(db) == []


def test_the_unsubscribed_page_offers_resubscribe_which_undoes_that_unsubscription_only(
    site, mail, db
):
    link = one_click_link(mail["grace@example.org"])
    done = site.post(link, form_of(site.get(link)))
    assert done.status == 200
    undo = form_of(done, action="resubscribe")
    assert set(undo) == {"token"}

    back = site.post(f"{site.url}/resubscribe", undo)
    assert back.status == 200
    assert_safe_page(back)
    assert "will get the digest again" in back.body
    assert unsubscribed_at(db, "grace@example.org") is None
    again = form_of(back, action=f"unsubscribe?token={make_token(SECRET, 'grace@example.org')}")
    assert again == ONE_CLICK
    assert site.post(f"{site.url}/resubscribe", undo).status == 200  # twice: harmless

    # Unsubscribed again by the mail client's one-click, which shows no page: the old
    # page's button cannot undo that one, the link's page offers a button that can.
    site.post(link, ONE_CLICK)
    stale = site.post(f"{site.url}/resubscribe", undo)
    assert stale.status == 400
    assert NOT_VALID in stale.body
    assert unsubscribed_at(db, "grace@example.org") is not None
    shown = site.get(link)
    assert "You are unsubscribed" in shown.body
    fresh = form_of(shown, action="resubscribe")
    assert unsubscribed_at(db, "grace@example.org") is not None  # the GET changed nothing
    assert site.post(f"{site.url}/resubscribe", fresh).status == 200
    assert unsubscribed_at(db, "grace@example.org") is None


def test_a_valid_link_for_an_address_no_longer_stored_unsubscribes_nothing_politely(site, db):
    link = f"{site.url}/unsubscribe?token={make_token(SECRET, 'gone@example.org')}"
    for answer in (site.get(link), site.post(link, ONE_CLICK)):
        assert answer.status == 200
        assert "gone@example.org</strong> gets no digests from here" in answer.body


# --- feedback -----------------------------------------------------------------------------


def test_a_vote_counts_only_once_its_form_is_posted_and_the_last_one_stands(site, mail, db):
    message = mail["alan@example.org"]
    less = feedback_links(message, "Less like this")
    more = feedback_links(message, "More like this")
    assert len(less) == len(more) >= 1
    text_part = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert all(f"Less like this: {url}" in text_part for url in less)
    ballot = Ballot.read(vote_signer(SECRET), parse_qs(urlsplit(less[0]).query)["token"][0])

    page = site.get(less[0])
    assert page.status == 200
    assert_safe_page(page)
    assert form_of(page) == {}
    assert ">Less like this</button>" in page.body
    with unit_of_work(db) as session:
        title = session.get(Paper, ballot.paper_id).title  # type: ignore[union-attr]
    assert unescape(re.search(r"<h2>(?:<a [^>]*>)?(.*?)</", page.body)[1]) == title  # type: ignore[index]
    assert votes(db) == []

    voted = site.post(less[0])
    assert voted.status == 200
    assert_safe_page(voted)
    assert "Noted: fewer papers like" in voted.body
    assert votes(db) == [("alan@example.org", ballot.paper_id, "down")]
    assert site.post(less[0]).status == 200
    assert votes(db) == [("alan@example.org", ballot.paper_id, "down")]

    shown = site.get(more[0])
    assert "You marked this paper “Less like this”" in shown.body
    assert "this changes it" in shown.body
    site.post(more[0])
    assert votes(db) == [("alan@example.org", ballot.paper_id, "up")]


def test_titles_on_the_pages_are_escaped(site, mail, db):
    nasty = '<script>alert("x")</script> & <b>bold</b> “quotes”'
    with unit_of_work(db) as session:
        page_id = session.scalar(select(StoredPage.id).limit(1))
        paper = Paper(key="nasty", title=nasty, abstract=nasty, first_seen=DAY1, page_id=page_id)
        session.add(paper)
        session.flush()
        paper_id = paper.id
    token = Ballot("ada@example.org", paper_id, "up").token(vote_signer(SECRET))
    for answer in (site.get(f"/feedback?token={token}"), site.post(f"/feedback?token={token}")):
        assert answer.status == 200
        assert "<script>" not in answer.body and "<b>" not in answer.body
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;" in answer.body


# --- forged and cross-purpose links -------------------------------------------------------


def edited(token: str) -> str:
    payload, _, signature = token.partition(".")
    flipped = "A" if signature[3] != "A" else "B"
    return f"{payload}.{signature[:3]}{flipped}{signature[4:]}"


def test_forged_and_cross_purpose_tokens_get_a_page_saying_so_and_change_nothing(site, mail, db):
    message = mail["ada@example.org"]
    unsubscribe_token = parse_qs(urlsplit(one_click_link(message)).query)["token"][0]
    vote_token = parse_qs(urlsplit(feedback_links(message, "More like this")[0]).query)["token"][0]
    with unit_of_work(db) as session:
        undo_token = make_undo_token(
            SECRET,
            unsubscribe_address(session, "grace@example.org"),  # type: ignore[arg-type]
        )
    grace_left = unsubscribed_at(db, "grace@example.org")
    stranger = make_token("another-installation-secret", "ada@example.org")

    refused = {
        "/unsubscribe": [
            edited(unsubscribe_token),
            stranger,
            vote_token,  # a vote link cannot unsubscribe
            undo_token,
            "",
            "garbage",
            unsubscribe_token + "x",
        ],
        "/feedback": [edited(vote_token), unsubscribe_token, undo_token, "", "%00"],
    }
    for path, tokens in refused.items():
        for token in tokens:
            for answer in (
                site.get(f"{path}?token={token}"),
                site.post(f"{path}?token={token}", ONE_CLICK),
            ):
                assert answer.status == 400, (path, token)
                assert NOT_VALID in answer.body
                assert "Nothing was changed" in answer.body
                assert_safe_page(answer)
    for token in (unsubscribe_token, vote_token, edited(undo_token), ""):
        answer = site.post("/resubscribe", {"token": token})
        assert answer.status == 400
        assert NOT_VALID in answer.body

    assert unsubscribed_at(db, "ada@example.org") is None
    assert unsubscribed_at(db, "grace@example.org") == grace_left
    assert votes(db) == []


def test_links_signed_before_a_rotation_work_with_the_previous_secret(readers, db):
    sync_profiles(db, readers.profiles)
    old_link = make_token(SECRET, "ada@example.org")
    rotated = dataclasses.replace(
        readers, secret="the-secret-after-rotation", secret_previous=SECRET
    )
    with serving(rotated) as site:
        assert site.post(f"/unsubscribe?token={old_link}", ONE_CLICK).status == 200
    assert unsubscribed_at(db, "alan@example.org") is None
    assert unsubscribed_at(db, "ada@example.org") is not None
    forgotten = dataclasses.replace(readers, secret="the-secret-after-rotation")
    with serving(forgotten) as site:
        assert site.get(f"/unsubscribe?token={old_link}").status == 400


# --- limits -------------------------------------------------------------------------------


def test_request_bodies_are_limited_in_size(site, mail, db):
    link = one_click_link(mail["ada@example.org"])
    too_large = site.post(link, {"List-Unsubscribe": "One-Click", "padding": "x" * 5000})
    assert too_large.status == 413
    assert_safe_page(too_large)
    assert "larger than any form here sends" in too_large.body
    # A body far beyond it is refused by the server before the app reads it.
    huge = site.request("POST", link, b"x" * 200_000, {"Content-Type": "text/plain"})
    assert huge.status == 413
    assert unsubscribed_at(db, "ada@example.org") is None


class LockHolder(threading.Thread):
    """Another transaction that holds what an unsubscription needs, for `seconds`: SQLite's
    write lock, or a PostgreSQL row lock on the subscriber."""

    def __init__(self, database_url: str, email: str, seconds: float) -> None:
        super().__init__(daemon=True)
        self.engine = make_engine(database_url)
        self.email, self.seconds = email, seconds
        self.holding = threading.Event()

    def run(self) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                text("SELECT id FROM subscribers WHERE email = :email FOR UPDATE")
                if self.engine.dialect.name == "postgresql"
                else text("SELECT id FROM subscribers WHERE email = :email"),
                {"email": self.email},
            )
            self.holding.set()
            time.sleep(self.seconds)
        self.engine.dispose()


def test_a_busy_database_gets_a_friendly_503_within_seconds_then_it_works(site, mail, db):
    link = one_click_link(mail["ada@example.org"])
    holder = LockHolder(str(db.url.render_as_string(hide_password=False)), "ada@example.org", 5.5)
    holder.start()
    try:
        assert holder.holding.wait(10)
        started = time.monotonic()
        busy = site.post(link, ONE_CLICK)
        waited = time.monotonic() - started
        # A page that only reads still answers while the lock is held.
        reading_page = site.get(link)
    finally:
        holder.join()
    assert busy.status == 503
    assert_safe_page(busy)
    assert busy.headers["Retry-After"] == "30"
    assert "try again in a minute" in busy.body
    assert BUSY_SECONDS <= waited < 5.0
    assert reading_page.status == 200
    assert unsubscribed_at(db, "ada@example.org") is None
    assert site.post(link, ONE_CLICK).status == 200
    assert unsubscribed_at(db, "ada@example.org") is not None


def test_a_failure_shows_a_page_without_a_traceback_and_logs_it(readers, db):
    with serving(readers) as site:
        mail = run_day(dataclasses.replace(readers, base_url=site.url), DAY1)
        link = feedback_links(mail["ada@example.org"], "More like this")[0]
        with db.begin() as connection:
            connection.execute(text("DROP TABLE votes"))
        answer = site.get(link)
    assert answer.status == 500
    assert_safe_page(answer)
    assert "Something went wrong" in answer.body
    assert "votes" not in answer.body
    assert "page failed: GET /feedback" in site.log
    assert "Traceback" in site.log
    assert "votes" in site.log


# --- during a run -------------------------------------------------------------------------

TOPICS = [
    "video compression",
    "speech recognition",
    "dense retrieval",
    "diffusion",
    "reinforcement learning",
    "language model",
    "robot",
    "3D",
    "reasoning",
    "benchmark",
    "image generation",
    "agents",
]
CROWD = 4000


def crowd_profiles(path: Path, readers: Settings) -> Path:
    """The example readers and CROWD more, with two or three topics each."""
    entries = [
        f'[[subscriber]]\nemail = "reader{n}@example.org"\n'
        f"keywords = {[TOPICS[n % 12], TOPICS[n * 7 % 12], TOPICS[n * 5 % 11]]!r}\n".replace(
            "'", '"'
        )
        for n in range(CROWD)
    ]
    assert readers.profiles is not None
    path.write_text(readers.profiles.read_text() + "\n" + "\n".join(entries))
    return path


def planning_under_way(engine: Engine, day: date, pages: int) -> bool:
    """Whether a run is ranking the day's digests: it has stored the day's `pages` (it
    ingests before it ranks) and recorded no digest of the day yet (it records after)."""
    with read_only(engine) as session:
        stored = session.scalar(
            select(func.count()).select_from(StoredPage).where(StoredPage.digest_date == day)
        )
        recorded = session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.digest_date == day)
        )
    return stored == pages and recorded == 0


@pytest.mark.slow
def test_a_one_click_post_is_answered_at_once_while_a_run_ranks_thousands(
    readers, site, db, tmp_path
):
    crowd = dataclasses.replace(
        readers, profiles=crowd_profiles(tmp_path / "crowd.toml", readers), base_url=site.url
    )
    assert crowd.profiles is not None
    sync_profiles(db, crowd.profiles)  # they were readers before today
    pages = len(list(crowd.inbox.iterdir()))
    command = [sys.executable, "-m", "digest", "--env-file", "/dev/null"]
    run = subprocess.Popen(
        [*command, "run", "--date", str(DAY1), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env_for(crowd)},
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 120
        while not planning_under_way(db, DAY1, pages):
            assert run.poll() is None, run.communicate()
            assert time.monotonic() < deadline, "the run never began to plan"
            time.sleep(0.05)
        started = time.monotonic()
        link = f"/unsubscribe?token={make_token(SECRET, 'ada@example.org')}"
        answer = site.post(link, ONE_CLICK)
        answered = time.monotonic() - started
        still_planning = planning_under_way(db, DAY1, pages)
        out, err = run.communicate(timeout=300)
    finally:
        run.kill()
        run.wait()
    assert answer.status == 200
    assert "will get no more digests" in answer.body
    assert answered < 5.0
    assert still_planning, "the run had finished planning: the test proved nothing"
    assert run.returncode == 0, err
    sent = json.loads(out.splitlines()[-1])["sent"]
    assert len(sent) > CROWD / 2
    assert "grace@example.org" in sent
    assert "ada@example.org" not in sent


# --- the app and the command --------------------------------------------------------------


def test_the_app_reads_its_settings_from_the_environment_as_under_gunicorn(readers, monkeypatch):
    for name, value in env_for(readers).items():
        monkeypatch.setenv(name, value)
    app = create_app()
    client = app.test_client()
    assert client.get(
        f"/unsubscribe?token={make_token(SECRET, 'ada@example.org')}"
    ).status_code == (200)
    monkeypatch.delenv("DIGEST_SECRET")
    with pytest.raises(Exception, match="DIGEST_SECRET is not set"):
        create_app()


def test_digest_web_serves_until_terminated(readers, tmp_path):
    port = free_port()
    env = {**os.environ, **env_for(readers), "DIGEST_BASE_URL": f"http://127.0.0.1:{port}"}
    process = subprocess.Popen(
        [sys.executable, "-m", "digest", "--env-file", "/dev/null", "web", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        assert process.stdout is not None
        ready = process.stdout.readline()
        assert ready.strip() == f"serving on http://127.0.0.1:{port} (Ctrl-C stops)"
        site = Site(f"http://127.0.0.1:{port}")
        assert site.get("/").status == 200
        link = f"/unsubscribe?token={make_token(SECRET, 'ada@example.org')}"
        assert site.post(link, ONE_CLICK).status == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        process.kill()
        process.wait()


def test_digest_web_refuses_to_start_without_a_secret_or_on_a_taken_port(cli, readers):
    unsigned = cli(
        "web", "--port", str(free_port()), settings_=dataclasses.replace(readers, secret=None)
    )
    assert unsigned.exit_code == 1
    assert unsigned.stderr.startswith("error: DIGEST_SECRET is not set")
    with serving(readers) as site:
        taken = urlsplit(site.url).port
        result = cli("web", "--port", str(taken), settings_=readers)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: cannot listen on 127.0.0.1:{taken}")
    assert "Traceback" not in result.output


# --- in a real browser ---------------------------------------------------------------------

CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed (apt-get install chromium; CI installs it)",
)
# Debian's chromium, driven by Playwright without its own browser downloads (no network).
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture
def browser_page() -> Iterator[tuple[Page, list[str]]]:
    """A browser tab, and the console errors and page errors it reports (CSP included)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        page = browser.new_page()
        problems: list[str] = []
        page.on(
            "console",
            lambda message: problems.append(message.text) if message.type == "error" else None,
        )
        page.on("pageerror", lambda error: problems.append(str(error)))
        try:
            yield page, problems
        finally:
            browser.close()


def heading(page: Page) -> str:
    return page.locator("h1").inner_text()


@needs_chromium
def test_a_reader_unsubscribes_resubscribes_then_votes_by_clicking(
    mail, site, db, browser_page, tmp_path
):
    page, problems = browser_page
    message = mail["ada@example.org"]
    email_html = message.get_body(("html",)).get_content()

    # The digest as the mail client shows it; its footer's link leads to the web side.
    page.set_content(email_html)
    page.get_by_role("link", name="Unsubscribe").click()
    page.wait_for_url(f"{site.url}/unsubscribe?token=*")
    assert heading(page) == "Unsubscribe"
    assert "ada@example.org" in page.inner_text("main")
    assert unsubscribed_at(db, "ada@example.org") is None  # opening the link changed nothing

    page.get_by_role("button", name="Unsubscribe").click()
    page.wait_for_load_state()
    assert heading(page) == "You are unsubscribed"
    assert unsubscribed_at(db, "ada@example.org") is not None
    page.screenshot(path=tmp_path / "unsubscribed.png")

    page.get_by_role("button", name="Resubscribe").click()
    page.wait_for_url(f"{site.url}/resubscribe")
    assert heading(page) == "You are subscribed again"
    assert unsubscribed_at(db, "ada@example.org") is None

    # Back in the digest (a blank page first: the site's CSP is not the mail client's),
    # "Less like this" beside the first paper.
    page.goto("about:blank")
    page.set_content(email_html)
    first_title = page.locator(".paper .title a").first.inner_text()
    page.get_by_role("link", name="Less like this").first.click()
    page.wait_for_url(f"{site.url}/feedback?token=*")
    assert heading(page) == "Less like this"
    assert page.locator("h2").inner_text() == first_title
    assert page.get_by_role("button").count() == 1
    assert votes(db) == []  # not before the form is posted

    page.get_by_role("button", name="Less like this").click()
    page.wait_for_load_state()
    assert heading(page) == "Thank you"
    assert first_title in page.inner_text("main")
    assert [(email, vote) for email, _, vote in votes(db)] == [("ada@example.org", "down")]
    page.screenshot(path=tmp_path / "voted.png")

    # The stylesheet applied (no inline style, nothing refused by the page's CSP).
    background = page.locator("main").evaluate("e => getComputedStyle(e).backgroundColor")
    assert background in ("rgb(255, 255, 255)", "rgb(39, 39, 42)")
    assert problems == []
