"""Long passages read whole by the dense model: a passage longer than the model's window
(`max_seq_length` word pieces, 256 for all-MiniLM-L6-v2) is embedded as overlapping windows of
words and scored by its best window, so the dense model sees the same text BM25 does.

`truncate` keeps the library's behaviour (the passage cut at the model's window): published
figures (BEIR's SciFact 0.645 for all-MiniLM-L6-v2) were measured that way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np

PassageMode = Literal["windows", "truncate"]
PASSAGE_MODES: tuple[PassageMode, ...] = ("windows", "truncate")
DEFAULT_PASSAGE_MODE: PassageMode = "windows"
WINDOW_WORDS = 160  # words per window: about 210 word pieces, inside a 256-piece model window
WINDOW_STRIDE = 120  # words between window starts: 40 words of overlap, a sentence or two

PASSAGE_MODE_LABELS: dict[str, str] = {
    "windows": f"long passages scored by their best {WINDOW_WORDS}-word window",
    "truncate": "long passages cut at the model's window, as published figures are",
}


def split_words(text: str, words: int = WINDOW_WORDS, stride: int = WINDOW_STRIDE) -> list[str]:
    """Overlapping windows of `words` words starting every `stride` words; the last window
    ends at the text's end."""
    tokens = text.split()
    if len(tokens) <= words:
        return [text]
    starts = [*range(0, len(tokens) - words, stride), len(tokens) - words]
    return [" ".join(tokens[s : s + words]) for s in dict.fromkeys(starts)]


def passage_windows(
    texts: Sequence[str], too_long: Callable[[Sequence[str]], list[bool]], mode: PassageMode
) -> tuple[list[str], np.ndarray]:
    """The texts to embed and, for each, the index of the passage it belongs to (ascending:
    a passage's windows are consecutive). `too_long(texts)` says which passages exceed the
    model's window; in "truncate" mode every passage is one text."""
    if mode == "truncate":
        return list(texts), np.arange(len(texts), dtype=np.int64)
    flags = too_long(texts) if len(texts) else []
    pieces: list[str] = []
    owner: list[int] = []
    for i, (text, long) in enumerate(zip(texts, flags, strict=True)):
        parts = split_words(text) if long else [text]
        pieces.extend(parts)
        owner.extend([i] * len(parts))
    return pieces, np.asarray(owner, dtype=np.int64)


def token_counter(model) -> Callable[[Sequence[str]], list[bool]]:
    """`too_long` for a sentence-transformers model: more word pieces (with the special
    tokens) than its `max_seq_length`."""
    limit = int(getattr(model, "max_seq_length", 0) or 0)
    tokenizer = getattr(model, "tokenizer", None)

    def too_long(texts: Sequence[str]) -> list[bool]:
        if not limit or tokenizer is None:
            return [False] * len(texts)
        ids = tokenizer(list(texts), add_special_tokens=True, truncation=False, verbose=False)[
            "input_ids"
        ]
        return [len(x) > limit for x in ids]

    return too_long
