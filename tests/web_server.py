"""The web app in a process of its own, behind its real server (waitress) on a free loopback
port, and a plain HTTP client that follows nothing by itself: what a mail client's
one-click POST is."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from typing import IO
from urllib.parse import urlencode, urlsplit

from digest.config import Settings
from tests.support import env_for

# What `digest web` runs, without the command line's imports (the whole pipeline): the
# same serve(), on a port the system picks, its log on stderr.
SERVE = """
import logging
from digest.config import load_settings
from digest.web import serve
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
serve(load_settings(), "127.0.0.1", 0, lambda address: print(address, flush=True))
"""


@dataclass(frozen=True)
class Answer:
    """An HTTP response as received."""

    status: int
    headers: Message
    body: str


@dataclass
class Site:
    """A running web app at `url` (http://127.0.0.1:PORT); `log` is what it logged, once
    it has stopped."""

    url: str
    log: str = field(default="")

    def get(self, target: str) -> Answer:
        """GET `target` (a path, or a full URL into this site)."""
        return self.request("GET", target)

    def post(self, target: str, form: dict[str, str] | None = None) -> Answer:
        """POST `form` as application/x-www-form-urlencoded to `target`."""
        return self.request(
            "POST",
            target,
            urlencode(form or {}).encode(),
            {"Content-Type": "application/x-www-form-urlencoded"},
        )

    def request(
        self,
        method: str,
        target: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """One request on a fresh connection; redirects are not followed."""
        path = target.removeprefix(self.url) or "/"
        place = urlsplit(self.url)
        connection = http.client.HTTPConnection(place.hostname or "", place.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return Answer(response.status, response.msg, response.read().decode("utf-8"))
        finally:
            connection.close()


@contextmanager
def serving(settings: Settings) -> Iterator[Site]:
    """The app of `settings` served by waitress in a process of its own, stopped with
    SIGTERM as systemd stops it."""
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVE],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env={**os.environ, **env_for(settings)},
        )
        site = Site(_address(process, log))
        try:
            yield site
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            finally:
                process.kill()
            log.seek(0)
            site.log = log.read()
    assert process.returncode == 0, site.log


def _address(process: subprocess.Popen[str], log: IO[str]) -> str:
    """The address the app announces once it listens."""
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if line.startswith("http://127.0.0.1:"):
        return line
    process.kill()
    process.wait()
    log.seek(0)
    raise AssertionError(f"the web app did not start:\n{log.read()}")
