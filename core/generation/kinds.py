"""Query kinds, one registry: what each asks for, what context it needs, how it is made.

A kind is a `WriterKind` (a question writer answers a prompt for it) or a `PseudoKind` (made
from the text without an LLM, core.generation.pseudo). The pipeline plans, writes and filters
through these objects only; adding a kind is one entry (a kind object, plus its prompt
templates in assets/prompts/ for a writer kind) and one `register_kind` line. The registry
itself (which kinds exist, which need a writer) is core.generation.kind_registry's, so what
only asks about kinds does not import the kinds.

Writer kinds:
- simple: factual questions one chunk answers directly.
- multi-hop: questions needing 1-3 related chunks together; the related chunks are the source's
  nearest neighbours under the base model (cosine at least `MIN_RELATED_COSINE`, not near-copies
  such as overlapping windows), and every supporting chunk is a positive.
- structural: questions about what a section is and where it sits (heading path given).
- contextual: questions from a user's situation, with the preceding chunk given as context.
Pseudo kinds: ict (a sentence as query), keywords (salient phrases), heading (a section title
for all its chunks).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

import numpy as np

from core.generation import kind_registry, pseudo
from core.generation.filters import clean_question

# The registry (core.generation.kind_registry), re-exported: callers of kinds keep one import.
from core.generation.kind_registry import CONTEXT_NEEDS as CONTEXT_NEEDS
from core.generation.kind_registry import default_per_chunk as default_per_chunk
from core.generation.kind_registry import is_pseudo as is_pseudo
from core.generation.kind_registry import kind_names as kind_names
from core.generation.kind_registry import needs_writer as needs_writer
from core.generation.kind_registry import pseudo_kinds as pseudo_kinds
from core.generation.kind_registry import register_kind as register_kind
from core.generation.kind_registry import unregister_kind as unregister_kind
from core.generation.kind_registry import writer_kinds as writer_kinds
from core.generation.prompts import conversation
from core.generation.providers import (
    AnswerFormatError,
    Conversation,
    parse_json_answer,
    questions_from_json,
)
from core.generation.types import Candidate

if TYPE_CHECKING:
    from core.generation.settings import GenerateSettings

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
    if not needs_writer(kind):
        raise ValueError(f"{kind!r} is not an LLM kind ({', '.join(writer_kinds())})")
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


# --------------------------------------------------------------------------- context


@dataclass
class KindContext:
    """What kinds read while a run plans: every chunk in document order, their embeddings
    [n, d] in that order, each chunk's split, the writer's shape and the prompt inputs."""

    all_chunks: Sequence[dict]
    chunk_emb: np.ndarray
    split_of: Mapping[int, str]
    structured: bool = True
    prompts_dir: Path | None = None
    examples: Sequence[str] = ()
    chunk_ids: list[int] = field(init=False)
    _row_of: dict[int, int] = field(init=False, repr=False)
    _by_id: dict[int, dict] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.chunk_ids = [c["id"] for c in self.all_chunks]
        self._row_of = {cid: i for i, cid in enumerate(self.chunk_ids)}
        self._by_id = {c["id"]: c for c in self.all_chunks}

    def related(self, chunk: dict) -> list[dict]:
        """Neighbours of `chunk` in its own split (no test text leaks into a train pair)."""
        split = self.split_of.get(chunk["id"])
        ids = related_chunks(
            self._row_of[chunk["id"]],
            self.chunk_emb,
            self.chunk_ids,
            allowed=lambda cid: self.split_of.get(cid) == split,
        )
        return [self._by_id[i] for i in ids]

    def before(self, chunk: dict) -> str:
        """The preceding chunk's text when it belongs to the same document, else ''."""
        prev = self._row_of[chunk["id"]] - 1
        if prev >= 0 and self.all_chunks[prev]["document_id"] == chunk["document_id"]:
            return self.all_chunks[prev]["text"]
        return ""


# --------------------------------------------------------------------------- kinds


@dataclass(frozen=True)
class Request:
    """One prompt to a writer: `positives` are the chunks its questions will point to."""

    chunk: dict
    kind: str
    positives: list[int]
    conversation: Conversation


@dataclass(frozen=True)
class WriterKind:
    """A kind a question writer (LLM) answers; its prompts are `<name>.txt` and
    `local_<name>.txt` in the prompts folder. `needs` names CONTEXT_NEEDS entries."""

    name: str
    needs: tuple[str, ...] = ()
    default_per_chunk: int | None = 1
    needs_writer: bool = field(default=True, init=False)

    def plan(self, chunk: dict, n: int, ctx: KindContext) -> Request | str:
        """The prompt asking for `n` questions about `chunk`, or why there is none."""
        related = ctx.related(chunk) if "related" in self.needs else []
        if "related" in self.needs and not related:
            return "no related chunk"
        before = ctx.before(chunk) if "before" in self.needs else ""
        conv = build_conversation(
            self.name, chunk, n, ctx.structured, related, before, ctx.prompts_dir, ctx.examples
        )
        return Request(chunk, self.name, [chunk["id"], *[r["id"] for r in related]], conv)


class PseudoMaker(Protocol):
    def __call__(
        self,
        selected: Sequence[dict],
        all_chunks: Sequence[dict],
        n: int | None,
        settings: GenerateSettings,
    ) -> list[Candidate]: ...


@dataclass(frozen=True)
class PseudoKind:
    """A kind made from the text alone: `make(selected, all_chunks, n, settings)` returns its
    candidates for the selected chunks (n None = the kind's own count per chunk)."""

    name: str
    make: PseudoMaker
    default_per_chunk: int | None = 1
    needs_writer: bool = field(default=False, init=False)


Kind = WriterKind | PseudoKind


def get_kind(name: str) -> Kind:
    """The kind registered as `name` (KeyError naming the known ones): a `WriterKind` or a
    `PseudoKind`, the two the pipeline plans with."""
    return cast(Kind, kind_registry.get_kind(name))


def _ict(selected, all_chunks, n, settings: GenerateSettings) -> list[Candidate]:
    return pseudo.ict_candidates(selected, n, remove_from_positive=settings.ict_remove_sentence)


def _keywords(selected, all_chunks, n, settings) -> list[Candidate]:
    return pseudo.keyword_candidates(selected, n or 1, corpus=all_chunks)


def _heading(selected, all_chunks, n, settings) -> list[Candidate]:
    # Groups are formed over all chunks so that a heading's positives are all its chunks.
    return pseudo.heading_candidates(all_chunks, n or 1)


register_kind(WriterKind("simple"))
register_kind(WriterKind("multi-hop", needs=("related",)))
register_kind(WriterKind("structural"))
register_kind(WriterKind("contextual", needs=("before",)))
register_kind(PseudoKind("ict", _ict, default_per_chunk=None))  # by chunk length
register_kind(PseudoKind("keywords", _keywords))
register_kind(PseudoKind("heading", _heading))
