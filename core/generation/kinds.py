"""LLM question kinds: what each asks for, which chunks support it, how its answer is read.

- simple: factual questions one chunk answers directly.
- multi-hop: questions needing 1-3 related chunks together; the related chunks are the source's
  nearest neighbours under the base model (cosine at least `MIN_RELATED_COSINE`, not near-copies
  such as overlapping windows), and every supporting chunk is a positive.
- structural: questions about what a section is and where it sits (heading path given).
- contextual: questions from a user's situation, with the preceding chunk given as context.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from core.generation.filters import clean_question
from core.generation.prompts import conversation
from core.generation.providers import (
    AnswerFormatError,
    Conversation,
    parse_json_answer,
    questions_from_json,
)
from core.generation.types import LLM_KINDS, Candidate

MIN_RELATED_COSINE = 0.3  # weaker neighbours are unrelated text, not a second hop
MAX_RELATED_COSINE = 0.95  # stronger ones are near-copies (overlapping windows)
MAX_HOPS = 3  # chunks per multi-hop question, source included
PROMPT_CHARS = 2000  # passage characters put in a prompt (local model: a quarter of this)


def related_chunks(
    row: int,
    chunk_emb: np.ndarray,
    chunk_ids: Sequence[int],
    max_hops: int = MAX_HOPS,
    allowed: Callable[[int], bool] | None = None,
) -> list[int]:
    """Up to `max_hops - 1` chunk ids most similar to chunk `row` (L2-normalised rows);
    `allowed(chunk_id)` restricts them (e.g. to the source's split, so no test text leaks)."""
    sims = chunk_emb @ chunk_emb[row]
    order = np.argsort(-sims)
    out: list[int] = []
    for j in order:
        if j == row or sims[j] >= MAX_RELATED_COSINE:
            continue
        if allowed is not None and not allowed(int(chunk_ids[j])):
            continue
        if sims[j] < MIN_RELATED_COSINE or len(out) >= max_hops - 1:
            break
        out.append(int(chunk_ids[j]))
    return out


def build_conversation(
    kind: str,
    chunk: dict,
    n: int,
    structured: bool,
    related: Sequence[dict] = (),
    before: str = "",
    prompts_dir: Path | None = None,
    examples: Sequence[str] = (),
) -> Conversation:
    """The chat asking for `n` questions of `kind` about `chunk` (plus `related` for multi-hop,
    `before` = previous chunk text for contextual, `examples` = the user's example questions)."""
    if kind not in LLM_KINDS:
        raise ValueError(f"{kind!r} is not an LLM kind ({', '.join(LLM_KINDS)})")
    limit = PROMPT_CHARS if structured else PROMPT_CHARS // 4
    group = [chunk, *related]
    passages = "\n\n".join(f"Passage {i + 1}:\n{c['text'][:limit]}" for i, c in enumerate(group))
    return conversation(
        kind,
        structured,
        prompts_dir,
        examples,
        n=n,
        passage=chunk["text"][:limit],
        passages=passages,
        document=chunk.get("document", ""),
        heading=chunk.get("heading_path") or "(none)",
        before=before[-limit // 2 :] if before else "(start of document)",
    )


def parse_answer(
    text: str,
    kind: str,
    chunk_id: int,
    positives: list[int],
    origin: str,
    structured: bool,
    n: int,
) -> list[Candidate]:
    """Candidates from one answer. A structured answer must be JSON with questions
    (AnswerFormatError otherwise); a plain answer gives its first question line."""
    if structured:
        questions = questions_from_json(parse_json_answer(text))
    else:
        questions = [clean_question(text)]
    questions = [q for q in (clean_question(q) for q in questions) if q][: max(1, n)]
    if not questions:
        raise AnswerFormatError("answer holds no question")
    return [
        Candidate(query=q, kind=kind, chunk_id=chunk_id, positives=list(positives), origin=origin)
        for q in questions
    ]
