"""Document text shown inside Markdown: a chunk's own Markdown (headings, lists, quotes) must
read as text in a table cell or caption, not render as page-size headings."""

from __future__ import annotations

import re

_LINE_MARKERS = re.compile(r"^(\s*)([#>*+\-]|\d+\.)", re.MULTILINE)
_INLINE = re.compile(r"([\\`*_\[\]<>|$~])")


def plain(text: str) -> str:
    """`text` with Markdown syntax escaped, line breaks kept as Markdown breaks."""
    escaped = _INLINE.sub(r"\\\1", text)
    escaped = _LINE_MARKERS.sub(lambda m: m.group(1) + "\\" + m.group(2), escaped)
    return escaped.replace("\n", "  \n")
