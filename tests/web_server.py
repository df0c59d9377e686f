"""The web app behind its real server (waitress) on a free loopback port, and a plain HTTP
client that follows nothing by itself: what a mail client's one-click POST is."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import urlencode, urlsplit

from digest.config import Settings
from digest.web import create_app, make_server


@dataclass(frozen=True)
class Answer:
    """An HTTP response as received."""

    status: int
    headers: Message
    body: str


@dataclass(frozen=True)
class Site:
    """A running `digest web` at `url` (http://127.0.0.1:PORT)."""

    url: str

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
    """The app of `settings` served by waitress on 127.0.0.1 and a free port."""
    server = make_server(create_app(settings), "127.0.0.1", 0)
    thread = threading.Thread(target=server.run, name="digest-web", daemon=True)
    thread.start()
    try:
        yield Site(f"http://127.0.0.1:{server.effective_port}")
    finally:
        server.trigger.pull_trigger(lambda: _close(server))
        thread.join(10)
        server.task_dispatcher.shutdown()
        assert not thread.is_alive(), "the web server did not stop"


def _close(server: Any) -> None:
    """Close the server and its connections, from the server's own loop, which then ends
    (a browser keeps idle connections open)."""
    server.close()
    for channel in list(server.active_channels.values()):
        channel.close()
