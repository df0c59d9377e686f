"""The HTTP source: fetch a day's papers from DIGEST_SOURCE_URL (the daily-papers API)."""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from datetime import date

from digest import __version__
from digest.config import Settings
from digest.errors import DigestError

log = logging.getLogger(__name__)


class FetchError(DigestError):
    """The source could not be fetched, or did not answer as a source should."""

    def __init__(self, message: str, *, temporary: bool) -> None:
        super().__init__(message)
        self.temporary = temporary


def source_url(template: str, day: date) -> str:
    """The URL of `day`'s papers: `{date}` in the template becomes YYYY-MM-DD."""
    return template.replace("{date}", day.isoformat())


def fetch_day(settings: Settings, day: date) -> bytes | None:
    """The body of the source's answer for `day`; None when it has no papers that day (404).

    Timeouts, refused connections and 5xx answers are tried again with exponential backoff
    (DIGEST_RETRY_ATTEMPTS, DIGEST_RETRY_BACKOFF); other answers raise FetchError at once.
    """
    assert settings.source_url is not None
    url = source_url(settings.source_url, day)
    return settings.retrying(FetchError, max_wait=60)(_get, url, settings)


def _get(url: str, settings: Settings) -> bytes | None:
    request = urllib.request.Request(
        url, headers={"User-Agent": f"digest/{__version__}", "Accept": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.source_timeout) as answer:
            body = answer.read(settings.max_page_bytes + 1)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            log.warning("%s: 404, no papers for that day", url)
            return None
        raise FetchError(
            f"{url} answered {exc.code} {exc.reason}", temporary=exc.code >= 500 or exc.code == 429
        ) from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FetchError(f"cannot fetch {url}: {reason}", temporary=True) from None
    if len(body) > settings.max_page_bytes:
        raise FetchError(
            f"{url}: the answer is larger than {settings.max_page_bytes // (1024 * 1024)} MB "
            "(DIGEST_MAX_PAGE_MB)",
            temporary=False,
        )
    return body
