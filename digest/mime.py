"""Write a text-and-HTML email as the bytes that go on the wire (RFC 5322, MIME).

Written here rather than with `email.message.EmailMessage`: building and serializing one
through the email package (header objects, content managers, the generator) took about
5 ms a message, five times the whole budget of composing one at the rate a large run
needs. The message has one fixed shape, so it is written directly; the standard library
still does the encoding: `binascii` for quoted-printable, `email.charset` for
encoded words, `email.utils` for quoted names. Tests parse every message back with the
email package.

Both parts are quoted-printable: mostly ASCII, they grow by a few percent, where base64
adds a third, and a message's size is what Gmail clips it by.
"""

from __future__ import annotations

import binascii
import functools
import secrets
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.charset import Charset
from email.message import EmailMessage
from email.utils import formataddr

CRLF = "\r\n"
# RFC 5322 2.1.1: lines SHOULD stay within 78 characters and MUST within 998.
FOLD_AT = 78
LONGEST_LINE = 998
# RFC 2047 2: an encoded word is at most 75 characters; 45 bytes make 60 of base64, which
# "=?utf-8?b?" and "?=" bring to 72.
ENCODED_BYTES = 45
_UTF8 = Charset("utf-8")
# Lines of text parts kept encoded: a day's papers make some 15,000 lines that recur in
# many messages, and each message adds two dozen of its own (greeting, why lines, footer).
QUOTED_LINES_CACHED = 32768


@dataclass(frozen=True)
class Email:
    """A message ready to send: its envelope and its bytes, lines ending in CRLF."""

    sender: str
    recipient: str
    message_id: str
    data: bytes

    def message(self) -> EmailMessage:
        """The message parsed back by the email package, to read its headers and parts."""
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


def address(name: str, addr_spec: str) -> str:
    """`name <addr_spec>` as a header writes it: quoted, or as encoded words if not ASCII.

    Raises ValueError for a mailbox that is not ASCII (there is no SMTPUTF8 here) or a
    name or mailbox holding a line break.
    """
    _check_line(name, "display name")
    _check_line(addr_spec, "address")
    if not addr_spec.isascii():
        raise ValueError(f"the address {addr_spec!r} is not ASCII")
    if not name:
        return addr_spec
    if name.isascii():
        return formataddr((name, addr_spec))
    return f"{_encoded_words(name)} <{addr_spec}>"


def alternative(headers: list[tuple[str, str]], text: bytes, html: bytes) -> bytes:
    """A multipart/alternative message: `headers`, then the `text` and `html` parts, each
    UTF-8 already in quoted-printable (see `quoted_printable`).

    Encoded by the caller, which measures a message by its parts before writing it (see
    digest.compose.fitting), so that no part is encoded twice. Raises ValueError for a header
    value with a line break or one that cannot be folded under 998 characters.
    """
    # "=_" can start no line of quoted-printable or base64, so no body line can match the
    # boundary; the random part keeps it unique if a message is ever quoted inside another.
    boundary = f"=_{secrets.token_hex(12)}"
    head = "".join(_header(name, value) for name, value in headers)
    return b"".join(
        (
            head.encode("ascii"),
            (
                f"MIME-Version: 1.0{CRLF}"
                f'Content-Type: multipart/alternative; boundary="{boundary}"{CRLF}{CRLF}'
                f"--{boundary}{CRLF}"
                f'Content-Type: text/plain; charset="utf-8"{CRLF}'
                f"Content-Transfer-Encoding: quoted-printable{CRLF}{CRLF}"
            ).encode("ascii"),
            text,
            (
                f"{CRLF}--{boundary}{CRLF}"
                f'Content-Type: text/html; charset="utf-8"{CRLF}'
                f"Content-Transfer-Encoding: quoted-printable{CRLF}{CRLF}"
            ).encode("ascii"),
            html,
            f"{CRLF}--{boundary}--{CRLF}".encode("ascii"),
        )
    )


def _header(name: str, value: str) -> str:
    """One header field, folded at spaces; encoded words where the value is not ASCII."""
    _check_line(value, name)
    if not value.isascii():
        value = _encoded_words(value)
    # Folded by hand: email.header.Header breaks right after the field name when the first
    # word does not fit, and the value then reads back with a leading space.
    first, *words = value.split(" ")
    lines = [f"{name}: {first}"]
    for word in words:
        # Never before an empty word (a run of spaces): a line of only spaces is not allowed.
        if word and len(lines[-1]) + 1 + len(word) > FOLD_AT:
            lines.append(f" {word}")
        else:
            lines[-1] += f" {word}"
    if any(len(line) > LONGEST_LINE for line in lines):
        raise ValueError(f"the {name} header has a part longer than {LONGEST_LINE} characters")
    return CRLF.join(lines) + CRLF


def _encoded_words(text: str) -> str:
    """`text` as RFC 2047 encoded words of at most 75 characters, separated by spaces."""
    return " ".join(map(_UTF8.header_encode, _chunks(text)))


def _chunks(text: str) -> list[str]:
    """`text` in pieces of at most ENCODED_BYTES of UTF-8, whole characters each."""
    pieces: list[str] = []
    start, size = 0, 0
    for end, character in enumerate(text):
        width = len(character.encode("utf-8"))
        if size + width > ENCODED_BYTES:
            pieces.append(text[start:end])
            start, size = end, 0
        size += width
    pieces.append(text[start:])
    return pieces


def _check_line(value: str, what: str) -> None:
    if "\r" in value or "\n" in value or "\0" in value:
        raise ValueError(f"the {what} {value!r} holds a line break or a NUL")


def _lines(text: str) -> str:
    """`text` with LF line ends and its last line end taken off: a lone CR counts as a line
    end, as the email package has it."""
    # Titles and abstracts hardly ever hold a CR, and looking costs less than replacing.
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.removesuffix("\n")


def quoted_printable(text: str) -> bytes:
    """`text` as a part of a message carries it: UTF-8 in quoted-printable, CRLF line ends.

    Its length is the part's size in the message."""
    # Line by line: binascii encodes each line on its own anyway (soft breaks and trailing
    # blanks are within a line), and most lines of a day's messages (summaries, links, a
    # paper's HTML) are in many of them, so each is encoded once.
    return b"".join(map(_quoted_printable_line, _lines(text).split("\n")))


@functools.lru_cache(maxsize=QUOTED_LINES_CACHED)
def _quoted_printable_line(line: str) -> bytes:
    # binascii writes its soft line breaks with the line end it finds first in the input:
    # the canonical form always has a CRLF.
    return binascii.b2a_qp(f"{line}{CRLF}".encode(), quotetabs=False, istext=True, header=False)
