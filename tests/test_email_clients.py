"""The email as its readers' mail clients show it: three readers (seed papers only, 40
papers a day, everyday keywords) get their digests from a real run on a real week of
Hugging Face days, and each message is checked as it arrives and as headless Chromium
renders it: on a phone and a desktop, in light and dark mode, in a client that ignores
max-width and in one that drops <body>'s styles. Computed facts, not pixels."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
from playwright.sync_api import Browser, Page

from digest.compose import MESSAGE_BYTES
from tests.browser import chromium, needs_chromium
from tests.readers import BROAD, BROAD_PAPERS, EVERYDAY, SEEDS, Week, html_of, run_week, text_of
from tests.support import create_database, drop_database

READERS = (SEEDS, BROAD, EVERYDAY)
PHONE, DESKTOP = 390, 1200
# WCAG 2.1 AA for normal text.
LEAST_CONTRAST = 4.5
WIDEST_COLUMN = 700


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Week]:
    folder = tmp_path_factory.mktemp("week")
    url = create_database(folder)
    started = datetime.now(UTC)
    try:
        found = run_week(folder, url)
    finally:
        drop_database(url)
    for message in found.messages.values():
        # A digest for a past day keeps the real Date.
        assert message["Date"].datetime >= started - timedelta(seconds=1)
    yield found


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as running:
        yield running


def titles(message: EmailMessage) -> list[str]:
    """The papers' titles in the text part, in order."""
    return re.findall(r"^(?:\d+\. )?(\S.*)\n   ", text_of(message).split("\n\n", 2)[2], re.M)


# --- as the message arrives -----------------------------------------------------------------


def test_every_reader_gets_one_message_under_the_size_gmail_clips(week: Week) -> None:
    assert set(week.messages) == set(READERS)
    for reader in READERS:
        assert len(week.messages[reader].as_bytes()) <= MESSAGE_BYTES, reader
    # The reader asking for 40 papers gets them, shortened where the size needs it, and is
    # told so.
    broad = week.messages[BROAD]
    assert len(re.findall(r">More like this</a>", html_of(broad))) == BROAD_PAPERS
    assert "so that mail apps show this email whole" in html_of(broad)


def test_list_id_and_the_subject_naming_the_top_paper_and_its_day(week: Week) -> None:
    for reader in READERS:
        message = week.messages[reader]
        assert message["List-Id"] == "Paper digest <digest.example.org>"
        top = re.search(r'<h2 class="title"[^>]*>(?:1\. )?<a [^>]*>([^<]+)</a>', html_of(message))
        assert top is not None
        subject = str(message["Subject"])
        assert len(subject) <= 70
        assert top[1].startswith(re.split(r"…| and \d+ more", subject)[0].rstrip())
        assert re.search(r"( and \d+ more papers?)? · 30 May( 2025)?$", subject)


def test_counts_read_as_words_and_the_footer_names_what_each_subscribed_with(
    week: Week,
) -> None:
    for reader in READERS:
        message = week.messages[reader]
        for body in (text_of(message), html_of(message)):
            assert not re.search(r"\b1 (upvotes|papers)\b", body)
            assert "keywords ." not in body and "keywords\n." not in body
            assert "score" not in body
    assert "subscribed with papers they chose." in text_of(week.messages[SEEDS])
    assert "with the keywords robots, music, health, cooking and weather." in text_of(
        week.messages[EVERYDAY]
    )


def test_key_terms_are_words_of_their_paper_as_written(week: Week) -> None:
    shown = 0
    for reader in READERS:
        html = html_of(week.messages[reader])
        for block in re.findall(r'<div class="paper".*?</div>', html, re.S):
            title = re.search(r'<h2 class="title"[^>]*>(?:\d+\. )?(?:<a [^>]*>)?([^<]+)<', block)
            terms = re.search(r"Key terms: ([^<]+)</p>", block)
            if title is None or terms is None:
                continue
            paper = week.papers[unescape(title[1])]
            for term in unescape(terms[1]).split(", "):
                shown += 1
                spaced = r"\s+".join(map(re.escape, term.split(" ")))
                assert re.search(rf"(?<![\w.+-]){spaced}(?![\w+-]|\.\w)", paper, re.I), term
    assert shown > 20


def unescape(text: str) -> str:
    return (
        text.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&#34;", '"')
        .replace("&quot;", '"')
    )


# --- as a browser shows it --------------------------------------------------------------------

# Every element with text of its own that a reader sees: its colour and the colour behind it,
# composited up to the page, and their contrast ratio (WCAG 2.1).
CONTRASTS = """
() => {
  const parse = (c) => {
    const p = c.match(/[\\d.]+/g).map(Number);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
  };
  const over = (top, bottom) => ({
    r: top.r * top.a + bottom.r * (1 - top.a),
    g: top.g * top.a + bottom.g * (1 - top.a),
    b: top.b * top.a + bottom.b * (1 - top.a), a: 1});
  const luminance = ({r, g, b}) => {
    const f = (v) => (v /= 255) <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const behind = (element) => {
    const chain = [];
    for (let e = element; e; e = e.parentElement) chain.unshift(e);
    const canvas = getComputedStyle(document.documentElement).colorScheme.includes("dark")
      && matchMedia("(prefers-color-scheme: dark)").matches ? {r: 18, g: 18, b: 18, a: 1}
      : {r: 255, g: 255, b: 255, a: 1};
    return chain.reduce((bg, e) => over(parse(getComputedStyle(e).backgroundColor), bg), canvas);
  };
  const found = [];
  for (const element of document.body.querySelectorAll("*")) {
    const own = [...element.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    const box = element.getBoundingClientRect();
    if (!own || !box.width || !box.height || element.closest(".preheader")) continue;
    const style = getComputedStyle(element);
    const bg = behind(element);
    const a = luminance(over(parse(style.color), bg)), b = luminance(bg);
    found.push({text: element.textContent.trim().slice(0, 50), tag: element.tagName,
                ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05),
                font: style.fontFamily, background: luminance(bg), color: a});
  }
  return found;
}
"""


def shown(browser: Browser, html: str, width: int, scheme: str = "light") -> Page:
    page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)  # type: ignore[arg-type]
    page.set_content(html)
    return page


def no_sideways_scroll(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= innerWidth"))


@needs_chromium
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_on_a_phone_the_column_uses_the_screen_without_sideways_scroll(
    week: Week, browser: Browser, scheme: str
) -> None:
    for reader in READERS:
        page = shown(browser, html_of(week.messages[reader]), PHONE, scheme)
        assert no_sideways_scroll(page), reader
        widths = page.eval_on_selector_all(
            ".paper, .listed", "all => all.map(e => e.getBoundingClientRect().width)"
        )
        assert widths and min(widths) >= PHONE - 2 * 16 - 2, reader
        # The feedback links are taps of 44 px.
        heights = page.eval_on_selector_all(
            ".feedback a", "all => all.map(e => e.getBoundingClientRect().height)"
        )
        assert heights and min(heights) >= 44, reader
        page.close()


@needs_chromium
@pytest.mark.parametrize(
    ("width", "scheme"), [(PHONE, "light"), (DESKTOP, "light"), (PHONE, "dark"), (DESKTOP, "dark")]
)
def test_every_text_has_enough_contrast(
    week: Week, browser: Browser, width: int, scheme: str
) -> None:
    for reader in READERS:
        page = shown(browser, html_of(week.messages[reader]), width, scheme)
        texts = page.evaluate(CONTRASTS)
        assert len(texts) > 20
        low = [(t["text"], round(t["ratio"], 2)) for t in texts if t["ratio"] < LEAST_CONTRAST]
        assert low == [], reader
        if scheme == "dark":
            # Light text on a dark page, highlights and links included.
            assert page.evaluate("getComputedStyle(document.body).backgroundColor") == (
                "rgb(9, 9, 11)"
            )
            dark = [t for t in texts if t["color"] < t["background"]]
            assert dark == [], reader
        page.close()


@needs_chromium
def test_the_preview_a_mail_app_shows_names_the_top_paper(week: Week, browser: Browser) -> None:
    for reader in READERS:
        page = shown(browser, html_of(week.messages[reader]), DESKTOP)
        preview = " ".join(str(page.evaluate("document.body.textContent")).split())
        top = page.locator("h2.title").first.inner_text().removeprefix("1. ")
        assert preview.startswith(top[:60]), (preview[:100], top)
        assert not preview.startswith("Hello")
        assert page.title() == week.messages[reader]["Subject"]
        assert page.evaluate("document.documentElement.lang") == "en"
        page.close()


@needs_chromium
def test_a_client_that_ignores_max_width_keeps_the_column_narrow(
    week: Week, browser: Browser
) -> None:
    for reader in READERS:
        # The property, in style attributes and rules; not a media query's condition.
        stripped = re.sub(r'(?<=[{;"\s])max-width:\s*[^;}"]+;?', "", html_of(week.messages[reader]))
        assert "max-width: 100%" not in stripped
        assert "@media (max-width: 660px)" in stripped
        page = shown(browser, stripped, DESKTOP)
        width = page.eval_on_selector(".container", "e => e.getBoundingClientRect().width")
        assert width <= WIDEST_COLUMN, reader
        page.close()
        page = shown(browser, stripped, PHONE)
        assert no_sideways_scroll(page), reader
        page.close()


@needs_chromium
def test_a_client_that_drops_the_body_styles_shows_no_serif_font(
    week: Week, browser: Browser
) -> None:
    for reader in READERS:
        html = html_of(week.messages[reader])
        stripped = re.sub(r"<body[^>]*>", "<body>", html, count=1)
        stripped = re.sub(r"(^|[}\s,])body\s*\{[^}]*\}", r"\1", stripped)
        assert "<body>" in stripped
        page = shown(browser, stripped, DESKTOP)
        fonts = {t["font"] for t in page.evaluate(CONTRASTS)}
        assert fonts and all(font.endswith("sans-serif") for font in fonts), fonts
        page.close()
