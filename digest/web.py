"""The web side the emails link to: one-click unsubscribe (RFC 8058), its undo, feedback.

A GET never changes anything, since link scanners (Outlook Safe Links, Gmail) fetch every
link in a mail; a POST acts at once, with no login, cookie or redirect. Every page is a
small server-rendered form: no script, one stylesheet, strict headers. The app is a
Flask application factory (`create_app`), served by waitress (`serve`, `digest web`) or
any WSGI server: `gunicorn 'digest.web:create_app()'`.
"""

from __future__ import annotations

import logging
import signal
import sqlite3
import time
from collections.abc import Callable
from types import FrameType
from typing import Any, TypeVar

from flask import Flask, Response, render_template, request
from jinja2 import StrictUndefined
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from waitress.server import create_server  # type: ignore[import-untyped]
from werkzeug.exceptions import HTTPException

from digest.config import Settings, load_settings
from digest.db import DatabaseBusy, ensure_schema, make_engine, read_only, unit_of_work
from digest.errors import DigestError, NotFoundError
from digest.feedback import UP, Ballot, record_vote, standing, vote_signer
from digest.models import Paper
from digest.resources import resource_dir
from digest.tokens import TokenError
from digest.unsubscribe import (
    Subscription,
    make_token,
    make_undo_token,
    read_token,
    read_undo_token,
    subscription_of,
    undo_unsubscribe,
    unsubscribe_address,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

# The largest form holds one token of a few hundred bytes; anything longer is refused.
MAX_BODY_BYTES = 4096
# waitress buffers a body before the app sees it: it refuses larger ones outright, the app
# (with a page of its own) anything over MAX_BODY_BYTES.
SERVER_MAX_BODY_BYTES = 64 * 1024
# A page tries again for a busy database until this many seconds have passed, then
# answers 503; with the last try's wait (LOCK_WAIT_MS) every answer comes within about 4
# seconds (a mail client's one-click POST must be answered at once).
BUSY_SECONDS = 3.5
# One try's wait for a lock: SQLite's write lock, a PostgreSQL row lock.
LOCK_WAIT_MS = 500
RETRY_AFTER_SECONDS = 30
THREADS = 4

SECURITY_HEADERS = {
    # Tokens are in the URLs: never hand them to another site.
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
STYLESHEET = "web.css"


class Busy(DigestError):
    """The database stayed busy (locked, or unreachable) for longer than a page may wait."""


class Database:
    """The database as pages use it: short transactions, tried again while it is busy."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def write(self, work: Callable[[Session], T]) -> T:
        """`work` in one transaction that may write, committed when it returns."""
        return self._tried(lambda: self._write_once(work))

    def read(self, work: Callable[[Session], T]) -> T:
        """`work` in a transaction that only reads (on SQLite it takes no lock)."""
        return self._tried(lambda: self._read_once(work))

    def _write_once(self, work: Callable[[Session], T]) -> T:
        with unit_of_work(self.engine) as session:
            self._bound_waits(session)
            return work(session)

    def _read_once(self, work: Callable[[Session], T]) -> T:
        with read_only(self.engine) as session:
            self._bound_waits(session)
            return work(session)

    def _bound_waits(self, session: Session) -> None:
        # SQLite's wait is the engine's busy timeout; PostgreSQL's is set per transaction.
        if session.get_bind().dialect.name == "postgresql":
            session.connection().exec_driver_sql(
                f"SET LOCAL lock_timeout = {LOCK_WAIT_MS}; "
                f"SET LOCAL statement_timeout = {round(BUSY_SECONDS * 1000)}"
            )

    def _tried(self, attempt: Callable[[], T]) -> T:
        deadline = time.monotonic() + BUSY_SECONDS
        pause = 0.05
        while True:
            try:
                return attempt()
            except (OperationalError, DatabaseBusy) as error:
                # SQLite's lock held past the engine's wait arrives as DatabaseBusy.
                if isinstance(error, OperationalError) and not _transient(error):
                    raise
                cause = error.orig if isinstance(error, OperationalError) else error
                left = deadline - time.monotonic()
                if left <= 0:
                    log.warning("database busy, page answered 503: %s", cause)
                    raise Busy("the database is busy") from None
                log.info("database busy, trying again: %s", cause)
            time.sleep(min(pause, left))
            pause = min(2 * pause, 0.5)


# PostgreSQL's answers that pass in a moment: a serialization failure or deadlock (class
# 40), a lock or statement timeout, a lost or closing connection (class 08, 57P0x).
_TRANSIENT_SQLSTATES = ("40", "08", "55P03", "57014", "57P01", "57P02", "57P03")


def _transient(error: OperationalError) -> bool:
    """Whether trying again may work: the database was busy or out of reach, not broken."""
    if error.connection_invalidated:
        return True
    cause = error.orig
    if isinstance(cause, sqlite3.OperationalError):
        return cause.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    state = getattr(cause, "sqlstate", None) or ""
    return state.startswith(_TRANSIENT_SQLSTATES)


def create_app(settings: Settings | None = None) -> Flask:
    """The web application; `settings` default to the environment's (as under gunicorn).

    ConfigError without DIGEST_SECRET (no link could be checked); an embedded SQLite file
    is migrated, another database must be current.
    """
    settings = settings or load_settings()
    templates = resource_dir("templates") / "web"
    site = _Site(settings, (templates / STYLESHEET).read_text(encoding="utf-8"))

    app = Flask(__name__, template_folder=str(templates), static_folder=None)
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES, MAX_FORM_MEMORY_SIZE=MAX_BODY_BYTES, MAX_FORM_PARTS=8
    )
    app.jinja_env.undefined = StrictUndefined
    app.add_url_rule("/", view_func=site.home, methods=["GET"])
    app.add_url_rule("/style.css", view_func=site.style, methods=["GET"])
    app.add_url_rule("/unsubscribe", view_func=site.unsubscribe_page, methods=["GET"])
    app.add_url_rule("/unsubscribe", view_func=site.unsubscribe, methods=["POST"])
    app.add_url_rule("/resubscribe", view_func=site.resubscribe, methods=["POST"])
    app.add_url_rule("/feedback", view_func=site.feedback_page, methods=["GET"])
    app.add_url_rule("/feedback", view_func=site.feedback, methods=["POST"])
    app.after_request(_secure)
    _error_pages(app)
    return app


class _Site:
    """The pages: each reads its token, does one short unit of work, renders a template."""

    def __init__(self, settings: Settings, stylesheet: str) -> None:
        self.secret, self.previous = settings.checking_secrets
        self.votes = vote_signer(self.secret, self.previous)
        self.sender = settings.sender_address.addr_spec
        self.stylesheet = stylesheet
        engine = make_engine(settings.database_url, busy_timeout_ms=LOCK_WAIT_MS)
        ensure_schema(engine)
        self.database = Database(engine)

    def home(self) -> str:
        """GET /: one line, for health checks and load balancers."""
        return render_template("home.html", title="digest")

    def style(self) -> Response:
        """GET /style.css: the pages' one stylesheet (their CSP allows no inline style)."""
        response = Response(self.stylesheet, mimetype="text/css")
        response.headers["Cache-Control"] = "public, max-age=86400"
        return response

    def unsubscribe_page(self) -> str:
        """GET /unsubscribe: the address and one button; changes nothing."""
        email = read_token(self.secret, _token(), self.previous)
        subscription = self.database.read(lambda session: subscription_of(session, email))
        if subscription is not None and subscription.unsubscribed_at is None:
            return render_template("unsubscribe.html", title="Unsubscribe", email=email)
        return self._unsubscribed(email, subscription)

    def unsubscribe(self) -> str:
        """POST /unsubscribe: unsubscribe at once (RFC 8058 one-click), idempotent."""
        # RFC 8058 clients post List-Unsubscribe=One-Click, as the page's button does; any
        # POST with a valid token unsubscribes, since an unsubscription lost is the worse
        # mistake. The form is still read, so that its size limit applies.
        request.form  # noqa: B018
        email = read_token(self.secret, _token(), self.previous)
        subscription = self.database.write(lambda session: unsubscribe_address(session, email))
        if subscription is not None and subscription.changed:
            log.info("%s unsubscribed from the web", email)
        return self._unsubscribed(email, subscription)

    def _unsubscribed(self, email: str, subscription: Subscription | None) -> str:
        """The unsubscribed page, with a Resubscribe button that undoes this unsubscription.

        It is offered on every visit, not only right after the click: one-click
        unsubscribing from the mail client (Gmail's button) shows no page of ours.
        """
        return render_template(
            "unsubscribed.html",
            title="You are unsubscribed",
            email=email,
            known=subscription is not None,
            undo=make_undo_token(self.secret, subscription) if subscription else None,
            sender=self.sender,
        )

    def resubscribe(self) -> str:
        """POST /resubscribe: undo the unsubscription the button was shown for."""
        email, stamp = read_undo_token(self.secret, request.form.get("token", ""), self.previous)
        subscription = self.database.write(lambda session: undo_unsubscribe(session, email, stamp))
        if subscription is None:
            raise NotFoundError(f"no subscriber {email}")
        if subscription.changed:
            log.info("%s resubscribed from the web", email)
        return render_template(
            "resubscribed.html",
            title="You are subscribed again",
            email=email,
            active=subscription.active,
            unsubscribe_token=make_token(self.secret, email),
            sender=self.sender,
        )

    def feedback_page(self) -> str:
        """GET /feedback: the paper and one button; changes nothing."""
        ballot = Ballot.read(self.votes, _token())
        shown = self.database.read(lambda session: standing(session, ballot))
        return render_template(
            "feedback.html",
            title=_vote_label(ballot.vote),
            ballot=ballot,
            paper=shown.paper,
            current=shown.vote,
            voted_at=shown.voted_at,
            label=_vote_label,
        )

    def feedback(self) -> str:
        """POST /feedback: record the vote; the last one stands."""
        request.form  # noqa: B018 - the size limit
        ballot = Ballot.read(self.votes, _token())

        def vote(session: Session) -> tuple[bool, Paper]:
            changed = record_vote(session, ballot)
            return changed, standing(session, ballot).paper

        changed, paper = self.database.write(vote)
        if changed:
            log.info("%s voted %s on paper %d", ballot.email, ballot.vote, ballot.paper_id)
        return render_template("voted.html", title="Thank you", ballot=ballot, paper=paper)


def _secure(response: Response) -> Response:
    # Set on every answer, error pages included; a view may set its own (the stylesheet).
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _token() -> str:
    return request.args.get("token", "")


def _vote_label(vote: str) -> str:
    return "More like this" if vote == UP else "Less like this"


def _error_pages(app: Flask) -> None:
    """Every failure as a small page of its own status; a traceback only in the log."""

    def page(status: int, title: str, message: str) -> tuple[str, int]:
        return render_template("error.html", title=title, message=message), status

    @app.errorhandler(TokenError)
    def not_valid(error: TokenError) -> tuple[str, int]:
        log.info("refused a link: %s", error)
        return page(
            400,
            "This link is not valid",
            "It may have been cut short or changed on its way. Open it again from the "
            "email, or copy the whole link into the address bar. Nothing was changed.",
        )

    @app.errorhandler(NotFoundError)
    def gone(error: NotFoundError) -> tuple[str, int]:
        log.info("link to something no longer stored: %s", error)
        return page(
            404,
            "This link is no longer valid",
            "What it points to is no longer stored here. Nothing was changed.",
        )

    @app.errorhandler(Busy)
    def busy(_error: Busy) -> tuple[str, int, dict[str, str]]:
        text, status = page(
            503,
            "Busy right now",
            "The digest is busy preparing the next emails. Please try again in a minute. "
            "Nothing was changed.",
        )
        return text, status, {"Retry-After": str(RETRY_AFTER_SECONDS)}

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[str, int]:
        code = error.code or 500
        return page(code, error.name, _HTTP_MESSAGES.get(code, "The request was not understood."))

    @app.errorhandler(Exception)
    def failure(_error: Exception) -> tuple[str, int]:
        log.exception("page failed: %s %s", request.method, request.path)
        return page(
            500,
            "Something went wrong",
            "Something went wrong on our side. Please try again later. Nothing was changed.",
        )


_HTTP_MESSAGES = {
    404: "There is no such page here. The links in the digest emails lead to the right ones.",
    405: "This page does not take that kind of request.",
    413: "The request is larger than any form here sends.",
}


def make_server(app: Flask, host: str, port: int) -> Any:
    """A waitress server of `app` listening on `host`:`port` (0: a free port); `run()` it.

    DigestError when it cannot listen there.
    """
    try:
        return create_server(
            app,
            host=host,
            port=port,
            threads=THREADS,
            max_request_body_size=SERVER_MAX_BODY_BYTES,
            ident="digest",
        )
    except OSError as error:
        raise DigestError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None


def serve(settings: Settings, host: str, port: int, ready: Callable[[str], object]) -> None:
    """Serve the app on `host`:`port` until interrupted or terminated (SIGTERM).

    `ready` is told the address once the server listens.
    """
    server = make_server(create_app(settings), host, port)
    shown = f"[{host}]" if ":" in host else host
    ready(f"http://{shown}:{server.effective_port}")

    def stop(_signum: int, _frame: FrameType | None) -> None:
        # waitress stops on SystemExit once the requests under way are answered.
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    server.run()
