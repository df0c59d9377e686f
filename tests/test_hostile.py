"""Input that cannot hurt: hostile pages and profiles come out inert, end to end.

Markup and odd text in papers reach the subscriber as text (escaped in HTML, intact in
the plain part), links stay http(s) or mailto, addresses cannot smuggle headers, oversized
or pathological pages are refused or handled quickly, and the SMTP password never shows.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import resource
import shutil
import subprocess
import sys
from email import message_from_bytes, policy
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path

import pytest

from digest.config import Settings
from tests.smtp_servers import RecordingHandler, refuse_every_login, serving
from tests.support import PAGES, env_for

DAY = "2026-03-20"
PASSWORD = "s3cret-PASS"
FILLER = (
    "We study xylophonic signals with a careful method, report experiments on several "
    "benchmarks, compare against strong baselines, and release code and data so that "
    "others can reproduce every number in this paper without asking us."
)
HOSTILE_TITLES = {
    "script": "Xylophonic <script>alert(1)</script> Attention",
    "img": "Xylophonic <img src=x onerror=alert(1)> Images",
    "javascript": "Xylophonic javascript:alert(1) Links",
    "entities": "Xylophonic &amp; &lt; Entities Are Not Markup",
    "latex": "Xylophonic $\\frac{a}{b}$ Fractions",
    "emoji": "Xylophonic Emoji \U0001f9ea\U0001f680 Models",
    "rtl": "Xylophonic \u202egnp.exe \u0646\u0645\u0648\u0630\u062c "
    "\u05e2\u05d1\u05e8\u05d9\u05ea Text",
    "anchor": 'Xylophonic <a href="javascript:alert(1)">click</a> Anchors',
    "quote": "Xylophonic \"quoted\" 'single' `back` Ticks",
}
HOSTILE_ABSTRACTS = {
    "script": "<script>alert('abstract')</script> and <iframe src=javascript:alert(2)></iframe>",
    "img": '<img src="x" onerror="alert(3)"> <svg onload=alert(4)>',
    "javascript": "see javascript:alert(5) and data:text/html,<script>alert(6)</script>",
    "entities": "&amp; &lt; &gt; &#x3C;script&#x3E; stay as typed",
    "latex": "with $\\frac{a}{b}$ and $\\sum_{i=1}^{n} x_i$ in it",
    "emoji": "with \U0001f600 and \u2764\ufe0f and ZWJ \U0001f469\u200d\U0001f52c",
    "rtl": "with \u202e reversed \u202c and \u05e9\u05dc\u05d5\u05dd and "
    "\u0645\u0631\u062d\u0628\u0627",
    "anchor": '<a href="javascript:alert(7)" onclick="alert(8)">here</a>',
    "quote": "quotes \" ' ` and a backslash \\ too",
}
GITHUB_TITLE = "Xylophonic Code Links"
GITHUB_ABSTRACT = 'Code at https://github.com/a/b"><script>alert(9)</script> for all.'
BYTES_TITLE = "Xylophonic Stray Bytes"


def hostile_page() -> bytes:
    parts = [
        "new",
        "Get trending papers in your email inbox!",
        "Subscribe",
        "byAK and the research community",
        "Mar 19",
    ]
    for key, title in HOSTILE_TITLES.items():
        parts += [title, f"{HOSTILE_ABSTRACTS[key]} {FILLER}"]
    parts += [GITHUB_TITLE, f"{GITHUB_ABSTRACT} {FILLER}"]
    text = "\n\n".join(parts) + "\n\n"
    # A stray byte that is not UTF-8 (a mangled accent), in the last abstract.
    return text.encode() + BYTES_TITLE.encode() + b"\n\nA caf\xe9 study. " + FILLER.encode() + b"\n"


class Markup(HTMLParser):
    """Every element, attribute and piece of text of an HTML document."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parts(message: EmailMessage) -> tuple[str, str]:
    plain = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html = message.get_body(("html",)).get_content()
    return plain, html


def flat(text: str) -> str:
    """`text` as a paper shows it: whitespace folded, and the bidirectional overrides
    (U+202E, U+202C) that would reorder what the reader sees made spaces."""
    return " ".join(text.replace("\u202e", " ").replace("\u202c", " ").split())


def profile(path: Path, body: str) -> Path:
    path.write_text(body, encoding="utf-8")
    return path


@pytest.fixture
def hostile(tmp_path: Path, settings: Settings) -> Settings:
    settings.inbox.mkdir()
    (settings.inbox / "hostile.txt").write_bytes(hostile_page())
    profiles = profile(
        tmp_path / "profiles.toml",
        '[[subscriber]]\nemail = "mal@example.org"\nname = "Mal"\n'
        'keywords = ["xylophonic"]\nmax_papers = 20\n',
    )
    return dataclasses.replace(settings, profiles=profiles)


def run_json(cli, settings: Settings) -> dict:
    result = cli("run", "--date", DAY, "--json", settings_=settings)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.splitlines()[-1])


# --- hostile pages --------------------------------------------------------------------------


def test_hostile_papers_arrive_as_inert_text(cli, hostile, smtp_server):
    report = run_json(cli, smtp_server.settings(hostile))
    assert report["ingest"]["papers_new"] == len(HOSTILE_TITLES) + 2
    assert report["sent"] == ["mal@example.org"]
    (message,) = smtp_server.log.messages
    plain, html = parts(message)

    markup = Markup()
    markup.feed(html)
    markup.close()
    tags = [tag for tag, _ in markup.tags]
    assert {"script", "img", "iframe", "svg"}.isdisjoint(tags)
    # Per paper its searches on arXiv and Hugging Face (no id: no title link); one code link;
    # the unsubscribe link.
    assert tags.count("a") == 2 * (len(HOSTILE_TITLES) + 2) + 2
    for tag, attrs in markup.tags:
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name, value)
            if name in ("href", "src"):
                assert value is not None
                assert value.startswith(("https://", "http://", "mailto:")), (tag, value)
                assert "<" not in value and '"' not in value, value
    assert "<script" not in html.lower()
    # What the page said is there as text, whole: escaped in the HTML, not dropped.
    shown = flat("".join(markup.text))
    for title in [*HOSTILE_TITLES.values(), GITHUB_TITLE, BYTES_TITLE]:
        assert flat(title) in shown, title
    for key in ("script", "img", "entities", "latex", "rtl"):
        assert flat(HOSTILE_ABSTRACTS[key]) in shown, key

    # The plain part carries every string intact.
    listed = flat(plain)
    for title in [*HOSTILE_TITLES.values(), GITHUB_TITLE, BYTES_TITLE]:
        assert f"{flat(title)}\n" in plain, title
    for abstract in [*HOSTILE_ABSTRACTS.values(), GITHUB_ABSTRACT]:
        assert flat(abstract) in listed, abstract
    assert "A caf\ufffd study." in listed  # the stray byte, shown as U+FFFD
    assert "\u202e" not in plain and "\u202e" not in html
    assert "\u05e2\u05d1\u05e8\u05d9\u05ea" in plain and "\U0001f9ea" in plain

    # The code link is the repository, cut where the URL ends; nothing after it leaks.
    code_links = [v for t, a in markup.tags for n, v in a if n == "href" and "github" in (v or "")]
    assert code_links == ["https://github.com/a/b"]
    assert re.findall(r"^ +Code: +(\S+)$", plain, flags=re.MULTILINE) == ["https://github.com/a/b"]


def test_an_address_in_the_name_stays_a_name(cli, hostile, smtp_server, tmp_path):
    names = {
        "one@example.org": "Mallory <victim@example.org>, other@example.org",
        "two@example.org": 'Eve" <victim@example.org>; "x',
        "three@example.org": "Eve\u2028Bcc: victim@example.org\u0085Cc: other@example.org",
        "four@example.org": "=?utf-8?q?Bcc=3A_victim=40example.org?=",
    }
    hostile_profiles = profile(
        tmp_path / "names.toml",
        "".join(
            f"[[subscriber]]\nemail = {json.dumps(email)}\nname = {json.dumps(name)}\n"
            'keywords = ["xylophonic"]\n\n'
            for email, name in names.items()
        ),
    )
    report = run_json(
        cli, dataclasses.replace(smtp_server.settings(hostile), profiles=hostile_profiles)
    )
    assert sorted(report["sent"]) == sorted(names)
    envelopes = smtp_server.log.accepted
    assert sorted(r for e in envelopes for r in e.rcpt_tos) == sorted(names)
    for envelope in envelopes:
        raw = envelope.raw
        head = raw.split(b"\r\n\r\n", 1)[0]
        fields = [
            line.split(b":", 1)[0].lower() for line in head.split(b"\r\n") if line[:1] != b" "
        ]
        assert b"bcc" not in fields and b"cc" not in fields
        assert fields.count(b"to") == 1
        message = message_from_bytes(raw, policy=policy.default)
        (address,) = message["To"].addresses
        assert address.addr_spec == envelope.rcpt_tos[0]
        if address.addr_spec == "four@example.org":
            continue  # a name that is an encoded word is shown decoded: still just a name
        # The name comes back as written (the stdlib's parser may put a space where a long
        # encoded word was folded; that is cosmetic).
        written = names[address.addr_spec]
        assert "".join(address.display_name.split()) == "".join(written.split())


def test_a_non_ascii_display_name_is_encoded_on_the_wire(cli, hostile, smtp_server, tmp_path):
    names = profile(
        tmp_path / "zoe.toml",
        '[[subscriber]]\nemail = "zoe@example.org"\nname = "Zo\u00eb \u00c5ngstr\u00f6m"\n'
        'keywords = ["xylophonic"]\n',
    )
    run_json(cli, dataclasses.replace(smtp_server.settings(hostile), profiles=names))
    (envelope,) = smtp_server.log.accepted
    raw = envelope.raw
    (to_line,) = [line for line in raw.split(b"\r\n") if line.lower().startswith(b"to:")]
    assert to_line.isascii()
    assert b"=?utf-8?" in to_line.lower()
    assert to_line.endswith(b"<zoe@example.org>")
    message = message_from_bytes(raw, policy=policy.default)
    assert message["To"].addresses[0].display_name == "Zo\u00eb \u00c5ngstr\u00f6m"
    plain, _ = parts(message)
    assert plain.startswith("Hello Zo\u00eb \u00c5ngstr\u00f6m,")


# --- hostile profiles -----------------------------------------------------------------------

INJECTIONS = {
    "crlf bcc in email": '"eve@example.org\\r\\nBcc: victim@example.org"',
    "lf in email": '"eve@example.org\\nvictim@example.org"',
    "two addresses": '"eve@example.org, victim@example.org"',
    "semicolon list": '"eve@example.org;victim@example.org"',
    "display form": '"Eve <eve@example.org>"',
    "group syntax": '"friends: eve@example.org, victim@example.org;"',
    "tab in email": '"eve@example.org\\tBcc: victim@example.org"',
    "control char in email": '"eve\\u0001@example.org"',
    "nul in email": '"eve\\u0000@example.org"',
    "delete char in email": '"eve\\u007f@example.org"',
}
NAME_INJECTIONS = {
    "crlf bcc in name": '"Eve\\r\\nBcc: victim@example.org"',
    "lf in name": '"Eve\\nTo: victim@example.org"',
    "cr in name": '"Eve\\rCc: victim@example.org"',
    "nul in name": '"Eve\\u0000"',
}


@pytest.mark.parametrize("value", INJECTIONS.values(), ids=INJECTIONS)
def test_an_address_that_could_inject_headers_is_refused_at_sync(cli, tmp_path, value):
    path = profile(
        tmp_path / "evil.toml",
        '[[subscriber]]\nemail = "ok@example.org"\nkeywords = ["x"]\n\n'
        f'[[subscriber]]\nemail = {value}\nkeywords = ["x"]\n',
    )
    result = cli("subscribers", "sync", str(path))
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"error: {path}: subscriber #2: email: "), result.stderr
    assert "is not an email address" in result.stderr
    assert "Traceback" not in result.output
    listed = cli("subscribers", "list", "--json")
    # The good entry synced; the hostile one is nowhere.
    assert [s["email"] for s in json.loads(listed.stdout.splitlines()[-1])] == ["ok@example.org"]


@pytest.mark.parametrize("value", NAME_INJECTIONS.values(), ids=NAME_INJECTIONS)
def test_a_name_that_could_inject_headers_is_refused_at_sync(cli, tmp_path, value):
    path = profile(
        tmp_path / "evil.toml",
        f'[[subscriber]]\nemail = "eve@example.org"\nname = {value}\nkeywords = ["x"]\n',
    )
    result = cli("subscribers", "sync", str(path))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {path}: subscriber #1 (eve@example.org): name: ")
    assert "line breaks or control characters" in result.stderr
    assert json.loads(cli("subscribers", "list", "--json").stdout.splitlines()[-1]) == []


@pytest.mark.parametrize(
    "email", ["zo\u00eb@example.org", "a\u0001b@example.org"], ids=["non-ascii", "control"]
)
def test_an_address_the_mail_cannot_carry_does_not_stop_the_others(
    cli, hostile, smtp_server, tmp_path, email
):
    """Refused at sync (the stored profiles are then used) or reported failed: either way the
    run ends cleanly and the other subscribers get their digests."""
    good = '[[subscriber]]\nemail = "ok@example.org"\nkeywords = ["xylophonic"]\n'
    smtp = smtp_server.settings(hostile)
    assert cli("subscribers", "sync", str(profile(tmp_path / "good.toml", good))).exit_code == 0
    both = profile(
        tmp_path / "both.toml",
        f'[[subscriber]]\nemail = {json.dumps(email)}\nkeywords = ["xylophonic"]\n\n{good}',
    )
    result = cli("run", "--date", DAY, "--json", settings_=dataclasses.replace(smtp, profiles=both))
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exc_info
    )
    assert result.exit_code in (0, 1)
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["sent"] == ["ok@example.org"]
    assert [r for e in smtp_server.log.accepted for r in e.rcpt_tos] == ["ok@example.org"]
    status = json.loads(cli("status", "--json").stdout.splitlines()[-1])
    assert status["sending"] == status["pending"] == 0


# --- oversized and pathological pages -------------------------------------------------------


def test_a_page_over_the_size_limit_is_refused_by_name_and_the_others_go_in(
    cli, tmp_path, settings
):
    small_pages = dataclasses.replace(settings, max_page_bytes=1024 * 1024)
    folder = tmp_path / "pages"
    folder.mkdir()
    shutil.copy(PAGES / "000_d067d0052f9a516d.txt", folder)
    big = folder / "big.txt"
    big.write_bytes(hostile_page() * (2 * 1024 * 1024 // len(hostile_page()) + 1))
    assert big.stat().st_size > 2 * 1024 * 1024
    result = cli("ingest", str(folder), "--date", DAY, "--json", settings_=small_pages)
    assert result.exit_code == 1
    assert f"{big}: larger than 1 MB, the most a page may be (DIGEST_MAX_PAGE_MB)" in result.output
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["pages"] == 1
    assert report["papers_new"] == 63
    assert [e["source"] for e in report["errors"]] == [str(big)]


def test_an_endless_input_is_refused_without_being_read_whole(settings, tmp_path):
    # /dev/zero never ends: reading it whole would never return.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SMTP_"))}
    env |= env_for(settings) | {"DIGEST_MAX_PAGE_MB": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "digest", "ingest", "/dev/zero", "--date", DAY],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert "/dev/zero: larger than 1 MB" in done.stderr


@pytest.mark.parametrize("kind", ["blank", "header", "titles"])
def test_a_page_of_a_million_short_lines_is_read_and_named_once(cli, tmp_path, kind):
    # Its parse time against a real page of the same size: benchmarks/hostile_html.py.
    header = b"Get trending papers in your email inbox!\n\nSubscribe\n\nMar 19\n\n"
    paper = f"Xylophonic Lines\n{FILLER}\n".encode()
    body = {
        "blank": header + b" \n\t\n" * 500_000 + paper,  # all skipped, then one paper
        "header": b"new\n" * 1_000_000 + header + paper,  # header lines, all skipped
        "titles": header + paper + b"ok\n" * 1_000_000,  # a title without an abstract
    }[kind]
    page = tmp_path / "lines.txt"
    page.write_bytes(body)
    result = cli("ingest", str(page), "--date", DAY, "--json")
    report = json.loads(result.stdout.splitlines()[-1])
    assert result.exit_code == 0, result.output
    assert report["papers_new"] == 1
    if kind == "titles":  # the page's paper goes in, the lines after it are named once
        assert [(e["line"], e["error"]) for e in report["skipped"]] == [
            (9, "1000000 lines up to line 1000008 are not a title followed by an abstract: skipped")
        ]


# --- the SMTP password ----------------------------------------------------------------------


def _run_with_login(settings: Settings, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SMTP_"))}
    env |= env_for(settings) | {"SMTP_USERNAME": "digest-user", "SMTP_PASSWORD": PASSWORD}
    return subprocess.run(
        [sys.executable, "-m", "digest", "-v", "run", "--date", DAY, "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _assert_no_password(*texts: str) -> None:
    encoded = base64.b64encode(f"\0digest-user\0{PASSWORD}".encode()).decode()
    for text in texts:
        assert PASSWORD not in text
        assert PASSWORD.lower() not in text.lower()
        assert encoded not in text
        assert base64.b64encode(PASSWORD.encode()).decode() not in text


def test_the_password_never_shows_when_the_relay_offers_no_login(
    hostile, smtp_server, tmp_path, cli
):
    done = _run_with_login(smtp_server.settings(hostile), tmp_path)
    assert done.returncode == 1
    assert "does not offer a login (AUTH); leave SMTP_USERNAME empty" in done.stderr
    assert smtp_server.log.accepted == []
    status = cli("status", "--json", settings_=hostile)
    _assert_no_password(done.stdout, done.stderr, status.output)


def test_the_password_never_shows_when_the_relay_refuses_the_login(hostile, tmp_path, cli):
    handler = RecordingHandler()
    with serving(handler, auth_require_tls=False, authenticator=refuse_every_login) as server:
        done = _run_with_login(server.settings(hostile), tmp_path)
    assert done.returncode == 1
    assert "refused the login of SMTP_USERNAME='digest-user': 535" in done.stderr
    assert handler.log.accepted == []
    status = cli("status", "--json", settings_=hostile)
    assert "refused the login" in status.output
    _assert_no_password(done.stdout, done.stderr, status.output)


def test_settings_never_show_the_password():
    shown = repr(Settings(smtp_password=PASSWORD, secret="x" * 20))
    assert PASSWORD not in shown
    assert "x" * 20 not in shown


@pytest.mark.parametrize("unit", ["<a ", "<", '<a b="', "<!--"])
def test_hostile_markup_is_refused_within_a_cpu_budget(settings, tmp_path, unit):
    """Fails before: html.parser took time quadratic in such input, 16 s of CPU for 40 KB of
    '<a ', about 400 s for these 200 KB; the process is given 20 s of CPU. The linear
    figures up to DIGEST_MAX_PAGE_MB are in benchmarks/hostile_html.py."""
    page = tmp_path / "hostile.html"
    page.write_text(unit * (200_000 // len(unit)))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SMTP_"))}
    env |= env_for(settings)
    done = subprocess.run(
        [sys.executable, "-m", "digest", "ingest", str(page), "--date", DAY],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_CPU, (20, 20)),
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == (
        f"ERROR: {page}: not a Hugging Face papers page: no DailyPapers element"
    )


# --- links that are not what they say -------------------------------------------------------

CODE_LINKS = {
    "https://github.com/real/repo": "Code",
    "https://g\u0456thub.com/fake/repo": "xn--gthub-n2e.com",  # a Cyrillic i (U+0456)
    "https://github.com@evil.example/x": "evil.example",
    "https://github.com.evil.example/x": "github.com.evil.example",
    "https://huggingface.co/spaces/x/y": "Code",
}


def test_a_code_link_is_labelled_code_only_on_a_real_code_host(cli, hostile, smtp_server):
    """Fails before: every githubRepo was shown as "Code", wherever it pointed."""
    entries = [
        {
            "paper": {
                "id": f"2503.{number:05d}",
                "title": f"Xylophonic Links Number {number}",
                "summary": FILLER,
                "githubRepo": url,
            }
        }
        for number, url in enumerate(CODE_LINKS, start=1)
    ]
    (hostile.inbox / "links.json").write_text(json.dumps(entries))
    run_json(cli, smtp_server.settings(hostile))
    (message,) = smtp_server.log.messages
    plain, html = parts(message)
    shown = {}
    for url, label in CODE_LINKS.items():
        anchor = re.search(rf'<a [^>]*href="{re.escape(url)}"[^>]*>([^<]*)</a>', html)
        assert anchor is not None, url
        shown[url] = anchor[1]
        assert re.search(rf"^   {re.escape(label)}: +{re.escape(url)}$", plain, re.MULTILINE), url
    assert shown == CODE_LINKS


# --- the inbox is not a window onto the machine ---------------------------------------------


def test_a_link_out_of_the_inbox_is_not_followed_and_nothing_of_it_shows(cli, settings, tmp_path):
    """Fails before: the link was followed, and the target's first line was quoted in the
    error ("SMTP_PASSWORD=..." from a .env, a line of /etc/shadow)."""
    secrets = tmp_path / "private" / ".env"
    secrets.parent.mkdir()
    secrets.write_text(f"SMTP_PASSWORD={PASSWORD}\n")
    settings.inbox.mkdir()
    shutil.copy(PAGES / "000_d067d0052f9a516d.txt", settings.inbox)
    (settings.inbox / "env.txt").symlink_to(secrets)
    (settings.inbox / "same.txt").symlink_to(settings.inbox / "000_d067d0052f9a516d.txt")
    (settings.inbox / "loop.txt").symlink_to(settings.inbox / "loop.txt")

    result = cli("ingest", str(settings.inbox), "--date", DAY, "--json")

    assert result.exit_code == 1
    _assert_no_password(result.output)
    report = json.loads(result.stdout.splitlines()[-1])
    assert [(Path(e["source"]).name, e["error"]) for e in report["errors"]] == [
        ("env.txt", "a symbolic link out of the folder: not read"),
        ("loop.txt", "a symbolic link out of the folder: not read"),
    ]
    assert (report["pages"], report["pages_new"], report["papers_new"]) == (2, 1, 63)


def test_a_file_that_is_no_page_is_not_quoted_in_the_error(cli, settings, tmp_path):
    """Fails before: the error quoted the file's first line."""
    page = tmp_path / "notes.txt"
    page.write_text(f"SMTP_PASSWORD={PASSWORD}\nsomething else\n")

    result = cli("ingest", str(page), "--date", DAY)

    assert result.exit_code == 1
    assert f"{page}:1: not a digest page: no 'Get trending papers' header above" in result.stderr
    _assert_no_password(result.output)


def test_escape_sequences_in_a_title_reach_neither_the_terminal_nor_the_email(
    cli, hostile, smtp_server
):
    """Fails before: `digest rank` printed the title's ESC and BEL as they were (colours,
    a new window title) and the plain-text email carried them."""
    page = hostile_page().replace(
        b"Xylophonic Code Links", b"Xylophonic \x1b]0;owned\x07\x1b[31mCode\x1b[0m Links\x9b"
    )
    (hostile.inbox / "hostile.txt").write_bytes(page)
    assert cli("subscribers", "sync", str(hostile.profiles)).exit_code == 0
    assert cli("ingest", str(hostile.inbox), "--date", DAY).exit_code == 0
    ranked = cli("rank", "mal@example.org", "--date", DAY, settings_=hostile)
    assert "Xylophonic ]0;owned [31mCode [0m Links" in ranked.stdout
    report = run_json(cli, smtp_server.settings(hostile))
    assert report["sent"] == ["mal@example.org"]
    (message,) = smtp_server.log.messages
    plain, html = parts(message)
    for shown in (ranked.stdout, plain, html):
        assert not any(c in shown for c in "\x1b\x07\x9b"), shown
    assert "Xylophonic ]0;owned [31mCode [0m Links" in plain
