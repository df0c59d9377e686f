"""The Jinja environment of a composer: the templates folder, compiled once, with the
stylesheet inlined as each HTML template is loaded, and autoescaping on.

Mail clients drop <style> blocks, so the CSS must sit on the elements; inlining it as a
template loads, not as a message renders, costs it once per process.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import css_inline
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

# The stylesheet of the HTML templates, in the templates folder.
STYLESHEET = "digest.css"


def template_environment(templates: Path) -> Environment:
    """The environment of the templates in `templates`: HTML autoescaped, its CSS inlined,
    and a name a template lacks an error rather than an empty string."""
    return Environment(
        loader=_InliningLoader(templates),
        autoescape=select_autoescape(["html"], default_for_string=True),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


class _InliningLoader(FileSystemLoader):
    """Inlines the stylesheet into each HTML template as it is loaded, so once per process,
    not per message.

    Mail clients drop <style> blocks; @media rules are kept for the ones that honour them.
    A document (digest.html) names the stylesheet with a <link>, which inlining removes; a
    fragment (a file of macros) gets the same rules, so that parts rendered on their own
    are styled as they would be in place.
    """

    def __init__(self, searchpath: Path) -> None:
        super().__init__(searchpath)
        self._css = (searchpath / STYLESHEET).read_text(encoding="utf-8")
        # Style tags are kept: the only ones in a template are Outlook's, in conditional
        # comments; the stylesheet's @media rules join them in a <style> of their own.
        self._document = css_inline.CSSInliner(
            keep_style_tags=True,
            keep_at_rules=True,
            load_remote_stylesheets=False,
            extra_css=self._css,
        )
        self._fragment = css_inline.CSSInliner(keep_at_rules=True)

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        if template.endswith(".html"):
            if _DOCUMENT.match(source):
                source = self._document.inline(source)
            else:
                source = self._fragment.inline_fragment(source, self._css)
        return source, filename, uptodate


_DOCUMENT = re.compile(r"\s*(<!doctype|<html)", re.IGNORECASE)
