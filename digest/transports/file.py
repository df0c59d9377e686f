"""The file transport: one `.eml` file per message in the outbox folder, the default."""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import tempfile
from pathlib import Path

from digest.errors import TransportError
from digest.mime import Email
from digest.models import utcnow
from digest.transports.base import Transport

log = logging.getLogger(__name__)


class FileTransport(Transport):
    """Writes each message as an `.eml` file into a folder, the embedded default."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.written: list[Path] = []

    def open(self) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TransportError(
                f"cannot create the outbox folder {self.folder}: {exc}", connection=True
            ) from None

    def deliver(self, email: Email) -> None:
        self.open()
        recipient = re.sub(r"[^\w.@+-]", "_", email.recipient)
        tag = hashlib.sha256(email.message_id.encode()).hexdigest()[:8]
        path = self.folder / f"{utcnow():%Y%m%d-%H%M%S}-{recipient}-{tag}.eml"
        # Written aside and renamed, so nobody opens half a message.
        temporary: Path | None = None
        try:
            descriptor, name = tempfile.mkstemp(dir=self.folder, suffix=".part")
            temporary = Path(name)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(email.data)
            temporary.replace(path)
            self.written.append(path)
        except OSError as exc:
            if temporary is not None:
                temporary.unlink(missing_ok=True)
            # A folder that is read-only or full refuses every message alike, and will for
            # more than a retry's backoff: the round stops at the first, without retrying
            # (the message stays due). Only a name too long is this message's own.
            folder = exc.errno != errno.ENAMETOOLONG
            raise TransportError(
                f"cannot write {path}: {exc}", temporary=not folder, connection=folder
            ) from None
        log.info("wrote %s", path)
