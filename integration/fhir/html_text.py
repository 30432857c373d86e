"""HTML / XHTML → plain text with the standard library's tolerant parser.

No markup is ever interpreted beyond this: scripts, styles and other non-text content are
dropped, entities are unescaped, and block elements become line breaks so the report keeps its
sections (FINDINGS:, IMPRESSION:) on their own lines.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Content that is never report text.
_SKIP = frozenset({"script", "style", "title", "template", "noscript", "iframe", "object", "svg", "canvas", "head"})
# Elements after/before which text starts on a new line.
_BLOCK = frozenset({
    "address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details", "dialog",
    "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4",
    "h5", "h6", "header", "hr", "html", "legend", "li", "main", "nav", "ol", "p", "pre", "section",
    "summary", "table", "tbody", "tfoot", "thead", "tr", "ul",
})
_CELL = frozenset({"td", "th"})
_WS = re.compile(r"\s+")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._skip: list[str] = []
        self._pre = 0

    # -- output helpers ------------------------------------------------------------------------

    def _at_line_start(self) -> bool:
        return not self.out or self.out[-1].endswith("\n")

    def _newline(self, force: bool = False) -> None:
        if force or not self._at_line_start():
            self.out.append("\n")

    # -- parser callbacks ----------------------------------------------------------------------

    def handle_starttag(self, tag: str, attrs) -> None:
        tag = tag.lower()
        if tag == "body" and "head" in self._skip:
            # <head> left open: the body starts anyway.
            self._skip = [t for t in self._skip if t != "head"]
        if tag in _SKIP:
            self._skip.append(tag)
            return
        if self._skip:
            return
        if tag == "br":
            self._newline(force=True)
        elif tag in _BLOCK:
            self._newline()
            if tag == "pre":
                self._pre += 1
        elif tag in _CELL and not self._at_line_start():
            self.out.append(" ")

    def handle_startendtag(self, tag: str, attrs) -> None:
        # <br/>, <p/>, <script/>: nothing to skip afterwards.
        tag = tag.lower()
        if tag in _SKIP or self._skip:
            return
        if tag == "br":
            self._newline(force=True)
        elif tag in _BLOCK:
            self._newline()

    def handle_endtag(self, tag: str) -> None:
        tag = tag.lower()
        if self._skip:
            if tag in self._skip:
                # Close the innermost open element of this name (and anything left open in it).
                i = len(self._skip) - 1 - self._skip[::-1].index(tag)
                del self._skip[i:]
            return
        if tag in _BLOCK:
            if tag == "pre" and self._pre:
                self._pre -= 1
            self._newline()

    def handle_data(self, data: str) -> None:
        if self._skip or not data:
            return
        if self._pre:
            self.out.append(data)
            return
        text = _WS.sub(" ", data)
        if self._at_line_start() or (self.out and self.out[-1].endswith(" ")):
            text = text.lstrip(" ")
        if text:
            self.out.append(text)

    def text(self) -> str:
        return normalize_text("".join(self.out))


def normalize_text(text: str) -> str:
    """Unix newlines, no trailing spaces, at most one blank line in a row, trimmed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    lines = [line.rstrip() for line in text.split("\n")]
    out: list[str] = []
    for line in lines:
        if not line and out and not out[-1]:
            continue
        out.append(line)
    return "\n".join(out).strip("\n").strip()


def html_to_text(markup: str) -> str:
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    return parser.text()
