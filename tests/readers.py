"""Three readers on a real week of Hugging Face days, the readers the email is checked with:
one who gave only seed papers, one who asks for 40 papers a day with broad keywords, and
one with everyday keywords. Their messages come from a real daily run (ingest, rank,
compose, the file outbox) on the days the repository ships.

`python -m tests.readers DIR` writes screenshots of a message as mail clients show it (a
phone in light and dark mode, a desktop) into DIR: the ones in docs/ are made so.
"""

from __future__ import annotations

import sys
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import date
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import select

from digest.config import Settings
from digest.db import make_engine, unit_of_work, upgrade
from digest.jobs import run_daily
from digest.models import Paper
from digest.transports import make_transport
from digest.typography import typeset
from tests.support import ROOT

ARCHIVE = ROOT / "examples" / "hf-api" / "2025-03-17_2025-06-13.tar.xz"
WEEK = ("2025-05-26", "2025-05-27", "2025-05-28", "2025-05-29", "2025-05-30")
DAY = date(2025, 5, 30)
SEEDS, BROAD, EVERYDAY = "sam@example.org", "bea@example.org", "eve@example.org"
BROAD_PAPERS = 40
SECRET = "test-secret-not-for-production"
BASE_URL = "https://digest.example.org"
PROFILES = f"""
[[subscriber]]
email = "{SEEDS}"
name = "Sam"
seeds = [
  {{ title = "NeRV: Neural Representations for Videos", abstract = '''We propose a novel neural
representation for videos (NeRV) which encodes videos in neural networks. Unlike
conventional representations that treat videos as frame sequences, we represent videos as
neural networks taking frame index as input. Given a frame index, NeRV outputs the
corresponding RGB image. Video encoding in NeRV is simply fitting a neural network to video
frames and decoding process is a simple feedforward operation.''' }},
  {{ title = "Attention Is All You Need", abstract = '''The dominant sequence transduction models
are based on complex recurrent or convolutional neural networks in an encoder-decoder
configuration. We propose a new simple network architecture, the Transformer, based solely
on attention mechanisms, dispensing with recurrence and convolutions entirely.''' }},
]

[[subscriber]]
email = "{BROAD}"
name = "Bea"
keywords = ["language model", "reinforcement learning", "reasoning", "diffusion", "agent",
            "benchmark", "vision", "video"]
max_papers = {BROAD_PAPERS}

[[subscriber]]
email = "{EVERYDAY}"
name = "Eve"
keywords = ["robots", "music", "health", "cooking", "weather"]
"""


@dataclass(frozen=True)
class Week:
    """The day's messages by recipient, and the stored papers' text by their titles as the
    email writes them (typeset)."""

    messages: dict[str, EmailMessage]
    papers: dict[str, str]


def run_week(folder: Path, database_url: str) -> Week:
    """The three readers' digests for the last day of WEEK, after its five days came in."""
    inbox = folder / "inbox"
    inbox.mkdir(parents=True)
    with tarfile.open(ARCHIVE) as archive:
        for day in WEEK:
            member = archive.extractfile(f"./{day}.json")
            assert member is not None, day
            (inbox / f"{day}.json").write_bytes(member.read())
    profiles = folder / "profiles.toml"
    profiles.write_text(PROFILES, encoding="utf-8")
    settings = Settings(
        database_url=database_url,
        profiles=profiles,
        inbox=inbox,
        outbox=folder / "outbox",
        sender="Paper digest <digest@example.org>",
        secret=SECRET,
        base_url=BASE_URL,
    )
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        report = run_daily(engine, settings, DAY, make_transport(settings))
        assert report.ok, report.as_json()
        with unit_of_work(engine) as session:
            papers = {
                typeset(title): f"{title} {abstract}"
                for title, abstract in session.execute(select(Paper.title, Paper.abstract))
            }
    finally:
        engine.dispose()
    messages = [
        message_from_bytes(path.read_bytes(), policy=policy.default)
        for path in sorted(settings.outbox.glob("*.eml"))
    ]
    by_reader = {m["To"].addresses[0].addr_spec: m for m in messages}
    return Week(by_reader, papers)


def html_of(message: EmailMessage) -> str:
    """The HTML part's text."""
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def text_of(message: EmailMessage) -> str:
    """The plain-text part's text."""
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def screenshots(folder: Path) -> list[Path]:
    """Screenshots of the seed reader's message into `folder`: a phone (390 px) in light
    and dark mode, a desktop (1200 px); `email.png` is the phone in light mode."""
    from tests.browser import chromium

    with tempfile.TemporaryDirectory() as work:
        week = run_week(Path(work), f"sqlite:///{Path(work) / 'digest.sqlite3'}")
    html = html_of(week.messages[SEEDS])
    shots = {
        "email.png": (390, "light"),
        "email-phone-dark.png": (390, "dark"),
        "email-desktop.png": (1200, "light"),
    }
    written = []
    with chromium() as browser:
        for name, (width, scheme) in shots.items():
            page = browser.new_page(
                viewport={"width": width, "height": 1000 if width > 600 else 844},
                color_scheme=scheme,  # type: ignore[arg-type]
                device_scale_factor=2 if width < 600 else 1,
            )
            page.set_content(html)
            page.screenshot(path=folder / name)
            written.append(folder / name)
            page.close()
    return written


if __name__ == "__main__":
    for path in screenshots(Path(sys.argv[1] if len(sys.argv) > 1 else "docs")):
        print(path)
