"""The send stage: digests to a local SMTP sink on 127.0.0.1, in messages per second.

Variants, in the same run against the same sink:
- baseline: a plain `smtplib` loop over one connection, sending the pre-composed messages;
- digest dispatcher: the product's `Dispatcher` over the same pre-composed messages;
- digest send_due: the product's whole send path, pending deliveries in a migrated SQLite
  file loaded, composed, sent, each status committed.

Each message is a digest of 10 synthetic papers (`benchmarks.synthetic`). The sink is
Postfix's `smtp-sink` (taken out of Debian's postfix package into a cache folder, never
installed as the system mailer), or an aiosmtpd sink when that is not to be had.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import random
import re
import shutil
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import Engine, insert

from benchmarks.harness import Measurement, Point, Timing, measure
from benchmarks.synthetic import Synthetic
from digest.compose import Composer, Digest, Entry, Recipient, make_composer, new_message_id
from digest.config import Settings
from digest.db import make_engine, upgrade
from digest.errors import TransportError
from digest.mime import Email
from digest.models import Delivery, DeliveryItem, DeliveryStatus, Page, Paper, Subscriber
from digest.outbox.history import status
from digest.sending.dispatch import Dispatcher
from digest.sending.send import send_due
from digest.transports import SmtpTransport

STAGE = "send"
DAY = date(2026, 3, 20)
PAPERS_PER_DIGEST = 10
# The pre-composed variants cycle through at most this many distinct messages: composing
# (and holding) 100,000 of them is not what they measure, and would take gigabytes.
DISTINCT_MESSAGES = 1000
CONNECTIONS = (1, 4)
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "digest-bench"
SECRET = "benchmark-secret-not-for-production"


def measurements(point: Point, root: Path) -> list[Measurement]:
    """The send stage's table at `point`: baseline, the dispatcher, and send_due, same sink."""
    scale = f"{point.subscribers:,} digests x {PAPERS_PER_DIGEST} papers"
    unit = "messages"
    found: list[Measurement] = []
    with sink(root) as smtp:
        where = ("127.0.0.1", smtp.port)
        found.append(
            measure(
                STAGE,
                f"smtplib loop, 1 connection ({smtp.kind})",
                scale,
                unit,
                smtplib_loop,
                point,
                where,
                baseline=True,
            )
        )
        for connections in CONNECTIONS:
            found.append(
                measure(
                    STAGE,
                    f"digest dispatcher, {connections} connection(s)",
                    scale,
                    unit,
                    dispatched,
                    point,
                    where,
                    connections,
                )
            )
        for connections in CONNECTIONS:
            found.append(
                measure(
                    STAGE,
                    f"digest send_due, SQLite, {connections} connection(s)",
                    scale,
                    unit,
                    whole_send,
                    point,
                    where,
                    connections,
                    root / f"send_due-{point.subscribers}-{connections}",
                )
            )
    return found


# --- the variants ---------------------------------------------------------------------------


def smtplib_loop(point: Point, where: tuple[str, int]) -> Timing:
    """What anyone would write first: one connection, `sendmail` in a loop."""
    messages = precomposed(point)
    started = time.perf_counter()
    with smtplib.SMTP(*where, timeout=30) as connection:
        for email in itertools.islice(itertools.cycle(messages), point.subscribers):
            connection.sendmail(email.sender, [email.recipient], email.data)
    return Timing(time.perf_counter() - started, point.subscribers)


def dispatched(point: Point, where: tuple[str, int], connections: int) -> Timing:
    """The product's Dispatcher over SmtpTransports, the same pre-composed messages."""
    messages = precomposed(point)
    settings = _settings(where, connections)
    transports = SmtpTransport(settings).parallel(connections)
    failed = 0
    started = time.perf_counter()
    dispatcher = Dispatcher(transports, lambda: settings.retrying(TransportError, max_wait=1))
    with dispatcher:
        for key, message in enumerate(
            itertools.islice(itertools.cycle(messages), point.subscribers)
        ):
            dispatcher.submit(key, message)
        for _ in range(point.subscribers):
            outcome = dispatcher.outcome()
            assert outcome is not None
            failed += outcome.error is not None or outcome.skipped
            dispatcher.settle()
    seconds = time.perf_counter() - started
    if failed:
        raise RuntimeError(f"the sink refused {failed} message(s)")
    # The stage's figure: the same messages as the baseline's over the default connections.
    return Timing(
        seconds, point.subscribers, {"summary": connections == Settings().smtp_connections}
    )


def whole_send(point: Point, where: tuple[str, int], connections: int, folder: Path) -> Timing:
    """`send_due` on a SQLite file of `point.subscribers` pending deliveries."""
    folder.mkdir(parents=True)
    settings = dataclasses.replace(
        _settings(where, connections), database_url=f"sqlite:///{folder / 'digest.sqlite3'}"
    )
    engine = make_engine(settings.database_url)
    upgrade(engine)
    fill(engine, point)
    composer = make_composer(settings)
    started = time.perf_counter()
    report = send_due(engine, settings, SmtpTransport(settings), composer, DAY, batch=200)
    seconds = time.perf_counter() - started
    sent = status(engine, DAY).counts[DeliveryStatus.SENT]
    engine.dispose()
    if report.stopped or sent != point.subscribers:
        raise RuntimeError(f"sent {sent} of {point.subscribers}: {report.stopped}")
    # Loading, composing and recording too: more than the baseline's work, so not the
    # stage's figure.
    return Timing(seconds, sent, {"summary": False})


# --- data -------------------------------------------------------------------------------------


def _settings(where: tuple[str, int], connections: int) -> Settings:
    return Settings(
        smtp_host=where[0],
        smtp_port=where[1],
        smtp_security="none",
        smtp_connections=connections,
        sender="Paper digest <digest@bench.example>",
        secret=SECRET,
        retry_backoff=0.01,
    )


def _digests(point: Point, count: int) -> list[Digest]:
    synthetic = Synthetic(point.seed)
    papers = synthetic.papers(max(point.papers, PAPERS_PER_DIGEST))
    sender = _settings(("127.0.0.1", 25), 1).sender_address
    digests = []
    for number, profile in enumerate(synthetic.profiles(count)):
        rng = random.Random(f"{point.seed}:send:{number}")
        picks = rng.sample(papers, PAPERS_PER_DIGEST)
        entries = [
            Entry(p.title, p.abstract, round(rng.random(), 3), list(profile.keywords[:2]))
            for p in picks
        ]
        digests.append(
            Digest(
                Recipient(profile.email),
                DAY,
                entries,
                new_message_id(sender),
                list(profile.keywords),
            )
        )
    return digests


def precomposed(point: Point) -> list[Email]:
    """Up to DISTINCT_MESSAGES composed digests, as the pre-composed variants send them."""
    settings = _settings(("127.0.0.1", 25), 1)
    composer: Composer = make_composer(settings)
    now = datetime(2026, 3, 20, 7, tzinfo=UTC)
    return [
        composer.compose(d, now) for d in _digests(point, min(point.subscribers, DISTINCT_MESSAGES))
    ]


def fill(engine: Engine, point: Point) -> None:
    """Subscribers, papers and one pending delivery of 10 papers each, in bulk."""
    synthetic = Synthetic(point.seed)
    papers = synthetic.papers(max(point.papers, PAPERS_PER_DIGEST))
    profiles = synthetic.profiles(point.subscribers)
    sender = _settings(("127.0.0.1", 25), 1).sender_address
    with engine.begin() as connection:
        connection.execute(
            insert(Page),
            [
                dict(
                    id=1,
                    source="bench",
                    sha256="0" * 64,
                    digest_date=DAY,
                    entries=len(papers),
                    papers_new=len(papers),
                )
            ],
        )
        connection.execute(
            insert(Paper),
            [
                dict(
                    id=n,
                    key=f"bench-{n}",
                    title=p.title,
                    abstract=p.abstract,
                    first_seen=DAY,
                    page_id=1,
                    authors=[],
                )
                for n, p in enumerate(papers, start=1)
            ],
        )
        connection.execute(
            insert(Subscriber),
            [
                dict(
                    id=n,
                    email=p.email,
                    name="",
                    keywords=dict.fromkeys(p.keywords, 1.0),
                    exclude=[],
                )
                for n, p in enumerate(profiles, start=1)
            ],
        )
        connection.execute(
            insert(Delivery),
            [
                dict(
                    id=n,
                    subscriber_id=n,
                    digest_date=DAY,
                    status="pending",
                    message_id=new_message_id(sender),
                    subject="digest",
                    attempts=0,
                )
                for n in range(1, len(profiles) + 1)
            ],
        )
        rows = []
        for n, profile in enumerate(profiles, start=1):
            rng = random.Random(f"{point.seed}:send:{n}")
            for rank, paper_id in enumerate(
                rng.sample(range(1, len(papers) + 1), PAPERS_PER_DIGEST), start=1
            ):
                rows.append(
                    dict(
                        delivery_id=n,
                        subscriber_id=n,
                        paper_id=paper_id,
                        rank=rank,
                        score=round(rng.random(), 3),
                        matched=list(profile.keywords[:2]),
                        because=[],
                        terms=[],
                    )
                )
            if len(rows) >= 50_000:
                connection.execute(insert(DeliveryItem), rows)
                rows = []
        if rows:
            connection.execute(insert(DeliveryItem), rows)


# --- the sink ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sink:
    """A running SMTP sink: where it listens, what it is, and what it counted."""

    port: int
    kind: str
    pid: int
    # smtp-sink's running counters (`-c`): a "sess=.. quit=.. mesg=N" record each time one
    # changes, the last one the latest; None for the aiosmtpd sink, which counts nothing.
    counters: Path | None

    def messages(self) -> int | None:
        """Messages accepted since it started, or None if this sink cannot tell."""
        if self.counters is None:
            return None
        counts = re.findall(r"mesg=(\d+)", self.counters.read_text())
        return int(counts[-1]) if counts else 0


@contextmanager
def sink(root: Path) -> Iterator[Sink]:
    """An SMTP sink on 127.0.0.1 and a free port: smtp-sink if to be had, else aiosmtpd."""
    port = free_port()
    binary = smtp_sink_binary(root)
    counters: Path | None = None
    if binary is not None:
        command = [str(binary), "-c"]
        if os.geteuid() == 0:  # smtp-sink refuses to run as root without a user to become
            command += ["-u", "nobody"]
        command += [f"127.0.0.1:{port}", "1000"]
        env = {**os.environ, "LD_LIBRARY_PATH": str(binary.parent.parent / "lib" / "postfix")}
        kind = "Postfix smtp-sink"
        root.mkdir(parents=True, exist_ok=True)
        counters = root / f"smtp-sink-{port}.counters"
    else:
        command = [
            sys.executable,
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"127.0.0.1:{port}",
            "-c",
            "aiosmtpd.handlers.Sink",
        ]
        env = dict(os.environ)
        kind = "aiosmtpd sink"
    with (counters or Path(os.devnull)).open("wb") as stdout:
        process = subprocess.Popen(command, env=env, stdout=stdout, stderr=subprocess.PIPE)
    try:
        _wait_for(port, process)
        yield Sink(port, kind, process.pid, counters)
    finally:
        process.terminate()
        process.wait(timeout=10)


def smtp_sink_binary(root: Path) -> Path | None:
    """Postfix's smtp-sink, unpacked from Debian's postfix package into CACHE; None if none."""
    installed = shutil.which("smtp-sink")
    if installed:
        return Path(installed)
    unpacked = CACHE / "postfix" / "usr" / "sbin" / "smtp-sink"
    if unpacked.exists():
        return unpacked
    if not (shutil.which("apt-get") and shutil.which("dpkg")):
        return None
    download = root / "postfix-deb"
    download.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(
            ["apt-get", "download", "postfix"], cwd=download, check=True, capture_output=True
        )
        (package,) = download.glob("postfix_*.deb")
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["dpkg", "-x", str(package), str(CACHE / "postfix")], check=True, capture_output=True
        )
    except (subprocess.CalledProcessError, ValueError, OSError) as exc:
        print(f"  no smtp-sink ({exc}); using an aiosmtpd sink", file=sys.stderr)
        return None
    return unpacked if unpacked.exists() else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            error = process.stderr.read().decode() if process.stderr else ""
            raise RuntimeError(f"the SMTP sink exited: {error.strip()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the SMTP sink did not start listening")
