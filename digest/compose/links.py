"""A paper's links in a message, each saying where it goes: its code, its project page, its
arXiv pages (or searches for its title), labelled so that a look-alike host reads as what
it is."""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import quote, quote_plus, urlsplit

# Where a paper's code link is shown as "Code"; a link elsewhere is shown by its host.
CODE_HOSTS = frozenset({"github.com", "gitlab.com", "huggingface.co"})


class Link(NamedTuple):
    """A link of a paper: where, what it says, and what it says to a screen reader."""

    url: str
    label: str
    described: str


def paper_page(arxiv_id: str | None) -> str | None:
    """The paper's arXiv page when its id is known; None rather than a search."""
    return f"https://arxiv.org/abs/{quote(arxiv_id, safe='/.')}" if arxiv_id else None


def paper_links(
    title: str, arxiv_id: str | None, code_url: str | None, project_url: str | None
) -> tuple[Link, ...]:
    """The paper's links, each saying where it goes: its code and project page, then its
    arXiv pages when the id is known, else searches for its title."""
    links: list[Link] = []
    if code_url and _is_web_link(code_url):
        label = code_label(code_url)
        where = "" if label == "Code" else f" at {label}"
        links.append(Link(code_url, label, f"Code of {title}{where}"))
    if project_url and _is_web_link(project_url):
        links.append(Link(project_url, "Project page", f"Project page of {title}"))
    if arxiv_id:
        paper = quote(arxiv_id, safe="/.")
        links += [
            Link(f"https://arxiv.org/abs/{paper}", "arXiv", f"arXiv page of {title}"),
            Link(f"https://arxiv.org/pdf/{paper}", "PDF", f"PDF of {title}"),
            Link(
                f"https://huggingface.co/papers/{paper}",
                "Hugging Face",
                f"Hugging Face page of {title}",
            ),
        ]
    else:
        query = quote_plus(title)
        links += [
            Link(
                f"https://arxiv.org/search/?query={query}&searchtype=title",
                "Find on arXiv",
                f"Find {title} on arXiv",
            ),
            Link(
                f"https://huggingface.co/papers?q={query}",
                "Find on Hugging Face",
                f"Find {title} on Hugging Face",
            ),
        ]
    return tuple(links)


def code_label(url: str) -> str:
    """ "Code" for a link to a known code host; else the link's host in ASCII (IDNA), so a
    look-alike (github.com with a Cyrillic i, U+0456) reads as what it is (xn--gthub-...)."""
    try:
        parts = urlsplit(url)
        port = parts.port
        host = (parts.hostname or "").encode("idna").decode("ascii")
    except (ValueError, UnicodeError):  # a malformed port or host
        return "link"
    if port is None and "@" not in parts.netloc and host.removeprefix("www.") in CODE_HOSTS:
        return "Code"
    return host or "link"


def _is_web_link(url: str | None) -> bool:
    return bool(url) and re.match(r"https?://", url or "", re.IGNORECASE) is not None
