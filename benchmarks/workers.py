"""The workers stage: parallel `digest worker --once` processes on PostgreSQL, in messages/s.

One database of `point.subscribers` pending deliveries (10 papers each, `benchmarks.send`'s
fill) and one SMTP sink serve every variant: 1, 2 and 4 worker processes, each a real
`python -m digest worker --once` with its settings in its environment, started together
and timed until the last one exits. Between variants every delivery is made pending again.
Each variant checks that every delivery ended `sent` after one attempt, and that the sink
accepted exactly as many messages: together, every digest went out exactly once.

Besides the wall time, each variant records where the CPU went (the workers, PostgreSQL's
processes, the sink) against what the machine has, which is what tells where scaling
stops. The table's peak RSS is the largest worker's, not this harness's.

PostgreSQL is a throwaway cluster (initdb, on a loopback port, removed afterwards) unless
DIGEST_BENCH_POSTGRES_URL names an empty database to use instead. The throwaway keeps
PostgreSQL's durable defaults (fsync, synchronous_commit): each message's commit waits for
its WAL flush, as in a deployment.

    python -m benchmarks.workers --subscribers 100000
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, func, select, text, update

from benchmarks.harness import Measurement, Point, Timing, measure, scratch, table
from benchmarks.send import PAPERS_PER_DIGEST, SECRET, Sink, fill, free_port, sink
from digest.db import make_engine, upgrade
from digest.models import Delivery, DeliveryStatus

STAGE = "workers"
WORKERS = (1, 2, 4)
BATCH_SIZE = 100
SENDER = "Paper digest <digest@bench.example>"
# A worker that has not finished by then is stuck, not slow.
TIMEOUT = 3600.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def measurements(point: Point, root: Path) -> list[Measurement]:
    """The workers stage's table at `point`: 1, 2 and 4 workers, same database and sink."""
    scale = f"{point.subscribers:,} digests x {PAPERS_PER_DIGEST} papers, PostgreSQL"
    found: list[Measurement] = []
    with postgres() as server, sink(root) as smtp:
        engine = make_engine(server.url)
        try:
            upgrade(engine)
            _require_empty(engine)
            fill(engine, point)
            for workers in WORKERS:
                reset(engine)
                # The measurement runs in a forked process: it must not share these sockets.
                engine.dispose()
                line = measure(
                    STAGE,
                    f"{workers} x digest worker --once ({smtp.kind})",
                    scale,
                    "messages",
                    senders,
                    server,
                    smtp,
                    workers,
                    point.subscribers,
                    scratch(root, f"workers-{point.subscribers}-{workers}"),
                    baseline=workers == 1,
                )
                found.append(
                    dataclasses.replace(line, peak_rss_mb=line.extra["worker_peak_rss_mb"])
                )
        finally:
            engine.dispose()
    return found


# --- the variant ------------------------------------------------------------------------------


def senders(server: Postgres, smtp: Sink, workers: int, expected: int, folder: Path) -> Timing:
    """`workers` worker processes at once until all exit; every delivery checked sent once."""
    env = worker_env(server.url, smtp.port)
    accepted = smtp.messages()
    cpu_before = {"postgres": server.cpu_seconds(), "sink": process_cpu(smtp.pid)}
    machine_before = machine_cpu()
    started = time.perf_counter()
    logs = [folder / f"worker-{n}.log" for n in range(workers)]
    processes = []
    for log in logs:
        with log.open("wb") as output:
            # cwd: the scratch folder, so that no stray .env is read.
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "digest", "worker", "--once"],
                    env=env,
                    cwd=folder,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )
            )
    try:
        codes = [p.wait(timeout=TIMEOUT) for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait()
    seconds = time.perf_counter() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = {
        "workers": children.ru_utime + children.ru_stime,
        "postgres": server.cpu_seconds() - cpu_before["postgres"],
        "sink": process_cpu(smtp.pid) - cpu_before["sink"],
    }
    # Whatever else ran meanwhile took cores from this run: the table is only fair with
    # this near zero.
    cpu["others"] = max(0.0, machine_cpu() - machine_before - sum(cpu.values()))
    if any(codes):
        tail = logs[codes.index(next(c for c in codes if c))].read_text()[-2000:]
        raise RuntimeError(f"a worker exited with {codes}:\n{tail}")
    split = [_sent_by(log) for log in logs]
    span = check(server.url, expected)
    at_sink = smtp.messages()
    if at_sink is not None and accepted is not None and at_sink - accepted != expected:
        raise RuntimeError(f"the sink accepted {at_sink - accepted} messages, not {expected}")
    return Timing(
        seconds,
        expected,
        {
            "sent_by_worker": split,
            "first_to_last_sent_s": round(span, 2),
            "cpu_s": {k: round(v, 1) for k, v in cpu.items()},
            # Busy cores over the run, this run's and all (the machine has os.cpu_count()).
            "cores_busy": round((sum(cpu.values()) - cpu["others"]) / seconds, 2),
            "machine_cores_busy": round(sum(cpu.values()) / seconds, 2),
            "cores": os.cpu_count(),
            "worker_cpu_ms_per_message": round(1000 * cpu["workers"] / expected, 3),
            "postgres_cpu_ms_per_message": round(1000 * cpu["postgres"] / expected, 3),
            "worker_peak_rss_mb": round(children.ru_maxrss / 1024, 1),
        },
    )


def worker_env(url: str, smtp_port: int) -> dict[str, str]:
    """This environment without any digest setting, plus the worker's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SMTP_"))}
    return {
        **env,
        "DIGEST_DATABASE_URL": url,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "SMTP_SECURITY": "none",
        "DIGEST_SECRET": SECRET,
        "DIGEST_FROM": SENDER,
        "DIGEST_BATCH_SIZE": str(BATCH_SIZE),
    }


def _sent_by(log: Path) -> int:
    """How many a worker sent, from its closing line "N sent, N deferred, N failed"."""
    found = re.findall(r"^(\d+) sent, \d+ deferred, \d+ failed$", log.read_text(), re.MULTILINE)
    if not found:
        raise RuntimeError(f"no summary line in {log.name}")
    return int(found[-1])


def check(url: str, expected: int) -> float:
    """Every delivery sent after exactly one attempt; seconds from the first to the last."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(Delivery.status, func.count()).group_by(Delivery.status)
            )
            by_status = {status: count for status, count in rows}
            attempts, first, last = connection.execute(
                select(
                    func.sum(Delivery.attempts),
                    func.min(Delivery.sent_at),
                    func.max(Delivery.sent_at),
                )
            ).one()
    finally:
        engine.dispose()
    if by_status != {DeliveryStatus.SENT: expected} or attempts != expected:
        raise RuntimeError(
            f"deliveries by status {by_status}, {attempts} attempts; expected {expected} sent once"
        )
    return (last - first).total_seconds()


def reset(engine: Engine) -> None:
    """Every delivery pending again, and the tables compacted, so each variant starts alike."""
    with engine.begin() as connection:
        connection.execute(
            update(Delivery).values(
                status=DeliveryStatus.PENDING,
                attempts=0,
                sent_at=None,
                claimed_by=None,
                claimed_at=None,
                last_error=None,
                next_attempt_at=None,
            )
        )
    # A variant leaves two dead row versions per delivery behind (sending, sent): without
    # this the next one would wade through them, and autovacuum would run at random times.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM (FULL, ANALYZE) deliveries, subscribers"))


def _require_empty(engine: Engine) -> None:
    with engine.connect() as connection:
        if connection.scalar(select(func.count()).select_from(Delivery)):
            raise RuntimeError("DIGEST_BENCH_POSTGRES_URL must name an empty database")


# --- PostgreSQL ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Postgres:
    """A PostgreSQL server to benchmark on; `pid` is its postmaster's when it is ours."""

    url: str
    pid: int | None

    def cpu_seconds(self) -> float:
        """CPU used so far by the postmaster and its processes (0 when not ours to see)."""
        if self.pid is None:
            return 0.0
        # Live processes (backends, WAL writer, checkpointer) count their own time; the
        # backends of workers that are gone count in the postmaster's reaped children's time.
        children = [pid for pid, parent in _processes() if parent == self.pid]
        return process_cpu(self.pid, reaped=True) + sum(process_cpu(pid) for pid in children)


@contextmanager
def postgres() -> Iterator[Postgres]:
    """DIGEST_BENCH_POSTGRES_URL's server, else a throwaway cluster on a loopback port."""
    given = os.environ.get("DIGEST_BENCH_POSTGRES_URL")
    if given:
        yield Postgres(given, None)
        return
    binaries = _postgres_binaries()
    # A folder of its own in the temporary directory, which the postgres user can reach.
    folder = Path(tempfile.mkdtemp(prefix="digest-bench-pg-"))
    as_pg: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root: the cluster is postgres's
        shutil.chown(folder, "postgres")
        as_pg = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    data = folder / "data"
    pg_ctl = [*as_pg, str(binaries / "pg_ctl"), "-D", str(data)]
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c max_connections=100"
    try:
        subprocess.run(
            [*as_pg, str(binaries / "initdb"), "-D", str(data), "-U", "digest", "--auth=trust"],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [*pg_ctl, "-l", str(folder / "log"), "-w", "-o", options, "start"],
            check=True,
            capture_output=True,
        )
        pid = int((data / "postmaster.pid").read_text().split()[0])
        yield Postgres(f"postgresql+psycopg://digest@127.0.0.1:{port}/postgres", pid)
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def _postgres_binaries() -> Path:
    """pg_config's bin folder if it has initdb, else Debian's newest."""
    if shutil.which("pg_config"):
        bindir = subprocess.run(
            ["pg_config", "--bindir"], check=True, capture_output=True, text=True
        ).stdout.strip()
        if (Path(bindir) / "initdb").exists():
            return Path(bindir)
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if not found:
        raise RuntimeError(
            "no PostgreSQL binaries (initdb): install postgresql, or set "
            "DIGEST_BENCH_POSTGRES_URL to an empty database"
        )
    return found[-1].parent


# --- processes ----------------------------------------------------------------------------------


def _processes() -> Iterator[tuple[int, int]]:
    """(pid, parent pid) of every process this machine shows in /proc."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:  # gone meanwhile
                continue
            yield int(entry.name), int(fields[1])


def machine_cpu() -> float:
    """CPU seconds all cores of this machine have been busy since boot (/proc/stat)."""
    ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    # user nice system idle iowait irq softirq steal guest...: work done here is user, nice,
    # system, irq and softirq (guest is counted in user already, steal was not ours).
    return (sum(ticks[0:3]) + sum(ticks[5:7])) / CLOCK_TICKS


def process_cpu(pid: int, *, reaped: bool = False) -> float:
    """User + system CPU seconds of `pid` (and, `reaped`, of its children it has waited for)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    # After the command's ")": state, ppid, ..., utime, stime, cutime, cstime (man 5 proc).
    ticks = int(fields[11]) + int(fields[12])
    if reaped:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLOCK_TICKS


# --- run alone ----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> list[Measurement]:
    """`python -m benchmarks.workers`: the stage's table on stdout."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=10_000, help="deliveries to send")
    parser.add_argument("--papers", type=int, default=200, help="papers to pick digests from")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="digest-bench-") as root:
        found = measurements(Point(args.papers, args.subscribers, args.seed), Path(root))
    print(table(found))
    for m in found:
        print(f"{m.variant}: {m.extra}")
    return found


if __name__ == "__main__":
    main()
