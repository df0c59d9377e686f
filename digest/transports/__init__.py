"""Mail transports in the style of Django's mail backends: each delivers one message at a time.

`smtp` serves users, `file` (one `.eml` a message in a folder) is the embedded default,
`memory` serves tests and previews. Sending many messages (a pool of connections, a rate
limit, several processes) is digest.sending's job, not a transport's.
"""

from __future__ import annotations

from digest.config import Settings
from digest.transports.base import Transport
from digest.transports.file import FileTransport
from digest.transports.memory import MemoryTransport
from digest.transports.smtp import SmtpTransport

__all__ = ["FileTransport", "MemoryTransport", "SmtpTransport", "Transport", "make_transport"]


def make_transport(settings: Settings) -> Transport:
    """SMTP when SMTP_HOST is set, else the file outbox."""
    if settings.smtp_host:
        return SmtpTransport(settings)
    return FileTransport(settings.outbox)
