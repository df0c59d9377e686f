"""The one exception family: each carries what the user must fix."""


class DigestError(Exception):
    """Base of every error digest reports to its user."""


class ConfigError(DigestError):
    """A setting in the environment or `.env` is missing or malformed."""


class PageError(DigestError):
    """A digest page cannot be read; the message names the file and line."""

    def __init__(self, source: str, message: str, line: int | None = None) -> None:
        self.source = source
        self.line = line
        self.problem = message
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {message}")


class ProfileError(DigestError):
    """The subscriber profile file is invalid; the message names file, entry and field."""


class TransportError(DigestError):
    """Mail could not be handed to the transport.

    `temporary`: trying again later may work (4xx replies, timeouts, refused or dropped
    connections); otherwise the answer was final (5xx). `connection`: the relay itself
    cannot be used (unreachable, TLS or login refused), so no other message would go either.
    `unanswered`: the whole message was sent and no answer came, so the relay may have
    taken it: it is not sent again in the same run. `content`: the message itself was
    refused (too large), which says nothing against the recipient.
    """

    def __init__(
        self,
        message: str,
        *,
        temporary: bool = True,
        connection: bool = False,
        unanswered: bool = False,
        content: bool = False,
    ) -> None:
        super().__init__(message)
        self.temporary = temporary
        self.connection = connection
        self.unanswered = unanswered
        self.content = content


class NotFoundError(DigestError):
    """A subscriber, date or file the user named does not exist."""


class LibraryError(DigestError):
    """A reference library export cannot be read; the message names the file and line."""
