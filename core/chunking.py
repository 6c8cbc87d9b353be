"""Chunking: fixed word windows with overlap, or sections that follow headings.

Both strategies cap every chunk at the embedding model's max token length (specials included),
splitting further where a window or a section would exceed it, so no chunk is ever truncated
by the model. Offsets are character positions into the document text (end exclusive).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from core.step_settings import StepSettings, setting

ChunkingMode = Literal["fixed", "headings"]

# Markdown headings, numbered section titles ("2.1 Grading policy") and short ALL-CAPS titles.
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_NUMBERED_HEADING = re.compile(r"^((?:\d+\.)+\d*|\d+)\s+([A-Z][^\n]{0,90})$")
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Chunk:
    ord: int
    text: str
    heading_path: str
    start_char: int
    end_char: int
    n_tokens: int


@dataclass(frozen=True)
class ChunkingSettings(StepSettings):
    """How documents are cut into chunks (the settings contract: core/step_settings.py)."""

    mode: ChunkingMode = setting(
        "fixed",
        "'fixed' (word windows) or 'headings' (one chunk per section, split when too long).",
    )
    chunk_words: int = setting(300, "Words per fixed window (the syllabus paper uses about 300).")
    overlap_words: int = setting(50, "Words shared by consecutive windows; must be < chunk_words.")
    min_section_words: int = setting(
        8, "Sections shorter than this (words) are merged into the next one (headings mode)."
    )

    def problems(self) -> list[str]:
        errors = super().problems()
        if self.chunk_words < 10:
            errors.append("chunk size must be at least 10 words")
        if not 0 <= self.overlap_words < self.chunk_words:
            errors.append("overlap must be at least 0 and smaller than the chunk size")
        return errors


class TokenCounter:
    """Counts tokens with a Hugging Face tokenizer; `max_tokens` includes special tokens."""

    def __init__(self, tokenizer, max_tokens: int) -> None:
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.n_special = len(tokenizer("", add_special_tokens=True)["input_ids"])

    @classmethod
    def for_model(cls, model_name: str) -> TokenCounter:
        from core.models import load_tokenizer, model_max_tokens

        return cls(load_tokenizer(model_name), model_max_tokens(model_name))

    def count(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=True)["input_ids"])

    def word_costs(self, words: Sequence[str]) -> list[int]:
        """Tokens per word (no specials). Their sum approximates the count of the joined text."""
        if not words:
            return []
        ids = self.tokenizer(list(words), add_special_tokens=False)["input_ids"]
        return [max(1, len(x)) for x in ids]


@dataclass(frozen=True)
class _Span:
    """A run of text [start, end) inside the document with its heading path."""

    start: int
    end: int
    heading_path: str


def chunk_text(text: str, settings: ChunkingSettings, counter: TokenCounter) -> list[Chunk]:
    """Cut one document's text into chunks according to `settings`."""
    settings.validate()
    if settings.mode == "fixed":
        spans = [_Span(0, len(text), "")]
    else:
        spans = _sections(text, settings.min_section_words)
    chunks: list[Chunk] = []
    for span in spans:
        for start, end in _windows(text, span, settings, counter):
            piece = text[start:end].strip()
            if not piece:
                continue
            lead = len(text[start:end]) - len(text[start:end].lstrip())
            start += lead
            end = start + len(piece)
            chunks.append(
                Chunk(
                    ord=len(chunks),
                    text=piece,
                    heading_path=span.heading_path,
                    start_char=start,
                    end_char=end,
                    n_tokens=counter.count(piece),
                )
            )
    return chunks


def _windows(
    text: str, span: _Span, settings: ChunkingSettings, counter: TokenCounter
) -> list[tuple[int, int]]:
    """Word windows over a span: at most `chunk_words` words and `max_tokens` tokens each."""
    matches = list(_WORD.finditer(text, span.start, span.end))
    if not matches:
        return []
    words = [m.group() for m in matches]
    costs = counter.word_costs(words)
    budget = counter.max_tokens - counter.n_special
    max_words = len(words) if settings.mode == "headings" else settings.chunk_words
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(words):
        j, used = i, 0
        while j < len(words) and j - i < max_words and used + costs[j] <= budget:
            used += costs[j]
            j += 1
        j = max(j, i + 1)  # a single over-long "word" still advances (it is split below)
        out.extend(_fit(text, matches[i].start(), matches[j - 1].end(), counter))
        if j >= len(words):
            break
        overlap = min(settings.overlap_words, (j - i) // 2)
        i = j - overlap if j - overlap > i else j
    return out


def _fit(text: str, start: int, end: int, counter: TokenCounter) -> list[tuple[int, int]]:
    """Split [start, end) until every piece fits the token limit (safety net for estimates)."""
    if counter.count(text[start:end]) <= counter.max_tokens:
        return [(start, end)]
    inner = [m for m in _WORD.finditer(text, start, end)]
    if len(inner) > 1:
        mid = inner[len(inner) // 2].start()
    else:  # one huge token-dense word: cut by characters
        mid = start + (end - start) // 2
    return _fit(text, start, mid, counter) + _fit(text, mid, end, counter)


def _heading(line: str) -> tuple[int, str] | None:
    """(level, title) if the line is a heading, else None."""
    stripped = line.strip()
    if m := _MD_HEADING.match(stripped):
        return len(m.group(1)), m.group(2).strip()
    # A numbered line is a title unless it reads like a sentence (ends with . , ;).
    m = _NUMBERED_HEADING.match(stripped) if len(stripped) <= 100 else None
    if m and not stripped.endswith((".", ",", ";")):
        return m.group(1).rstrip(".").count(".") + 1, stripped
    return None


def _sections(text: str, min_words: int) -> list[_Span]:
    """Split text at heading lines; each section keeps its heading line and heading path."""
    path: list[tuple[int, str]] = []
    sections: list[_Span] = []
    start, current_path = 0, ""
    offset = 0
    for line in text.splitlines(keepends=True):
        head = _heading(line)
        if head is not None:
            if offset > start:
                sections.append(_Span(start, offset, current_path))
            level, title = head
            path = [(lvl, t) for lvl, t in path if lvl < level] + [(level, title)]
            current_path = " > ".join(t for _, t in path)
            start = offset
        offset += len(line)
    if offset > start:
        sections.append(_Span(start, offset, current_path))
    return _merge_short(text, sections, min_words)


def _merge_short(text: str, sections: list[_Span], min_words: int) -> list[_Span]:
    """Merge a section with fewer than `min_words` words (e.g. a bare heading) into the next."""
    merged: list[_Span] = []
    pending: _Span | None = None
    for sec in sections:
        if pending is not None:
            sec = _Span(pending.start, sec.end, sec.heading_path)
            pending = None
        if len(_WORD.findall(text, sec.start, sec.end)) < min_words:
            pending = sec
        else:
            merged.append(sec)
    if pending is not None:
        if merged:
            last = merged.pop()
            merged.append(_Span(last.start, pending.end, last.heading_path))
        else:
            merged.append(pending)
    return merged


def chunker(settings: ChunkingSettings, model_name: str) -> Callable[[str], list[Chunk]]:
    """A text -> chunks function bound to settings and the model's tokenizer."""
    counter = TokenCounter.for_model(model_name)
    return lambda text: chunk_text(text, settings, counter)
