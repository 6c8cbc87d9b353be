"""Filters that decide which generated pairs are kept (docs/ARCHITECTURE.md, "Queries").

Applied in this order, each only to candidates still alive (so a pair has one drop reason):
1. `junk`: refusals, prompt echoes, questions about the passage itself ("what is the next
   question"), copies of the passage, repetition loops, too short/too long, and non-questions for
   the LLM kinds.
2. `roundtrip`: the source chunk (best supporting chunk for multi-hop) must rank in the top-k of
   all chunks for the query under the base model; the rank is stored either way.
3. `generic`: an LLM question that several chunks of its own document answer about as well as
   its source ("What are the key components of the course?") teaches nothing about that
   source; its specificity (the source's cosine minus that of the document's k-th best other
   chunk, from the round-trip embeddings) is stored either way.
4. `duplicate`: cosine >= 0.9 to a question kept earlier (this run or a previous one).
5. `judge`: relevance, accuracy, clarity 1-5 and their mean; dropped below the keep threshold.
   LLM questions only: pseudo-queries are the text's own words and get no judge score. The
   LLM judge asks a capable endpoint; `heuristic_judge` scores without an LLM (embedding
   similarity, word support in the passage, form) and is the default for the 135M local model,
   whose own ratings would be noise.
Every drop reason reads "<filter>: detail"; the prefix is what reports count.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

from core.generation.kind_registry import needs_writer
from core.generation.providers import AnswerFormatError, QuestionWriter, parse_json_answer
from core.generation.pseudo import STOPWORDS
from core.generation.types import Candidate
from core.retrieval.base import Passages
from core.retrieval.dense import DenseRetriever
from core.step_settings import StepSettings, setting

if TYPE_CHECKING:
    from pathlib import Path

FILTER_ORDER = ("junk", "roundtrip", "generic", "duplicate", "judge")


@dataclass(frozen=True)
class FilterSettings(StepSettings):
    """Filter thresholds.

    roundtrip_k: an LLM question's source chunk must rank within the top `roundtrip_k`
    chunks (0 = off).
    pseudo_roundtrip_k: the same for pseudo-queries (ict, keywords, heading), off by default:
    a sentence whose chunk the base model ranks low is the example that teaches most, and on
    real syllabus questions the filter cost more than it saved (bench/bench_domain.py).
    generic_k / min_specificity: an LLM question is generic when its source chunk's cosine
    exceeds that of the `generic_k`-th best other chunk of the same document by less than
    `min_specificity` (cosine units; 0 = off). Real syllabus questions' specificity is in
    bench/RESULTS_writer.md (`bench/bench_writer.py --calibrate`).
    duplicate_cosine: a question this similar (cosine) to a kept one is a duplicate.
    min_judge_score: keep pairs whose mean judge score (1-5) is at least this (0 = keep all).
    min_words/max_words, max_chars: length bounds of an LLM question (pseudo-queries: 2-40 words).
    """

    roundtrip_k: int = setting(
        3, "An LLM question's source chunk must rank within this top k (chunks; 0 = off)."
    )
    pseudo_roundtrip_k: int = setting(
        0, "The same for pseudo-queries (ict, keywords, heading) (chunks; 0 = off)."
    )
    generic_k: int = setting(
        3, "Generic check: compared with the k-th best other chunk of the same document."
    )
    min_specificity: float = setting(
        0.02, "Generic check: least cosine margin over that chunk (cosine units; 0 = off)."
    )
    duplicate_cosine: float = setting(
        0.9, "A question this similar (cosine) to a kept one is a duplicate."
    )
    min_judge_score: float = setting(
        3.0, "Keep pairs whose mean judge score (1-5) is at least this (0 = keep all)."
    )
    min_words: int = setting(4, "Fewest words of an LLM question.")
    max_words: int = setting(40, "Most words of an LLM question.")
    max_chars: int = setting(300, "Most characters of an LLM question.")

    def roundtrip_k_for(self, kind: str) -> int:
        """The round-trip top-k that applies to a pair of `kind` (0 = off)."""
        return self.roundtrip_k if needs_writer(kind) else self.pseudo_roundtrip_k


# ---------------------------------------------------------------------------- cleaning


_PREFIX = re.compile(r"^\s*(?:question\s*\d*\s*[:.)-]|q\d*\s*[:.)-]|\d+[.)]|[-*•])\s*", re.I)


def clean_question(text: str) -> str:
    """First line of a model answer, list markers and quotes removed, cut after its first '?'."""
    for line in text.strip().splitlines():
        line = _PREFIX.sub("", line).strip().strip("\"'“”`*").strip()
        if line:
            if "?" in line:
                line = line[: line.index("?") + 1]
            return " ".join(line.split())
    return ""


# ---------------------------------------------------------------------------- junk rules

_REFUSAL = re.compile(
    r"\b(i'?m sorry|i am sorry|i apologi[sz]e|i cannot|i can'?t|as an ai|language model|"
    r"i am unable|i'?m unable|unable to (?:help|answer|provide)|i don'?t know|"
    r"no questions?\b(?: can| could)?|not possible to)\b",
    re.I,
)
_SELF_REFERENCE = re.compile(
    r"\b(next question|previous question|this question|the question|"
    r"answer to (?:this|the|that)|"
    r"(?:this|the|above|given|following|provided) (?:passage|text|article|paragraph|excerpt|"
    r"abstract|document|context|snippet|reading|syllabus|excerpts?)s?|"
    r"the author'?s?|passage \d|passages?\b)",
    re.I,
)
# Wording that asks about a document's shape rather than a fact in it: real users' questions
# almost never use it (0 of 1,318 real syllabus questions), generic LLM questions often do.
_GENERIC_WORDING = re.compile(
    r"\b(?:main|key|primary|central|overall|important|significant) (?:topics?|ideas?|themes?|"
    r"focus|points?|components?|aspects?|elements?|features?|takeaways?|concepts?|details?|"
    r"information)\b|\bwhat (?:is|are) (?:this|it) about\b|\bsummar(?:y|ize|ise)\b",
    re.I,
)
_QUESTION_START = re.compile(
    r"^(what|which|who|whom|whose|when|where|why|how|is|are|was|were|do|does|did|can|could|"
    r"should|would|will|has|have|had|may|might|in what|to what|according to|name|list|explain|"
    r"describe)\b",
    re.I,
)


def junk_reason(
    query: str,
    kind: str,
    passage: str = "",
    prompt_phrases: Sequence[str] = (),
    settings: FilterSettings | None = None,
) -> str | None:
    """Why `query` is junk ("refusal", "about the passage: ...", ...), or None if it is fine.

    The question-form rules apply to the LLM kinds only; pseudo-queries (sentences, keywords,
    headings) are checked for emptiness and length.
    """
    s = settings or FilterSettings()
    q = " ".join(query.split())
    words = q.split()
    llm = kind in ("simple", "multi-hop", "structural", "contextual")
    if not q:
        return "empty"
    min_words = s.min_words if llm else 2
    if len(words) < min_words or len(q) < (12 if llm else 4):
        return f"too short ({len(words)} words)"
    if len(words) > s.max_words or len(q) > s.max_chars:
        return f"too long ({len(words)} words)"
    if not llm:
        return None
    low = q.lower()
    if _REFUSAL.search(low):
        return "refusal"
    if _echoes_prompt(low, prompt_phrases):
        return "echoes the prompt"
    if m := _SELF_REFERENCE.search(low):
        return f"about the passage itself ({m.group(0)!r})"
    if m := _GENERIC_WORDING.search(low):
        return f"generic wording ({m.group(0)!r})"
    counts: dict[str, int] = {}
    for w in (w.strip("?,.;:").lower() for w in words):
        counts[w] = counts.get(w, 0) + 1
    if max(counts.values()) >= 5 or (len(words) >= 8 and len(counts) < len(words) / 2):
        return "repetitive"
    if passage and len(words) >= 8:
        body = " ".join(passage.lower().split())
        if low.rstrip("?. ") in body:
            return "copies the passage"
    if not (q.endswith("?") or _QUESTION_START.match(q)):
        return "not a question"
    return None


def _echoes_prompt(low: str, phrases: Sequence[str]) -> bool:
    qwords = set(re.findall(r"[a-z]+", low))
    if not qwords:
        return False
    for phrase in phrases:
        pwords = set(re.findall(r"[a-z]+", phrase))
        if len(pwords) >= 4 and len(qwords & pwords) / len(qwords | pwords) >= 0.6:
            return True
    return False


def apply_junk(
    candidates: Sequence[Candidate],
    passages: dict[int, str],
    prompt_phrases: Sequence[str] = (),
    settings: FilterSettings | None = None,
) -> None:
    for c in candidates:
        if c.dropped:
            continue
        why = junk_reason(c.query, c.kind, passages.get(c.chunk_id, ""), prompt_phrases, settings)
        if why:
            c.drop("junk", why)


def apply_example_copies(candidates: Sequence[Candidate], examples: Sequence[str]) -> None:
    """Drop questions that repeat one of the user's example questions: the examples show a
    style, and must never become training or test pairs."""
    shown = {_norm(q) for q in examples}
    for c in candidates:
        if not c.dropped and _norm(c.query) in shown:
            c.drop("junk", "repeats an example question")


# ---------------------------------------------------------------------------- round trip


def apply_roundtrip(
    candidates: Sequence[Candidate],
    query_emb: np.ndarray,
    chunk_ids: Sequence[int],
    chunk_emb: np.ndarray,
    top_k: int | Callable[[str], int],
) -> None:
    """Store each candidate's round-trip rank (best positive, from 1) and drop those outside
    the top `top_k` (a number, or a function of the candidate's kind; 0 = keep all).
    Embeddings are L2-normalised rows: query_emb [n, d], chunk_emb [m, d]."""
    k_for = top_k if callable(top_k) else (lambda _kind: top_k)
    if not len(candidates):
        return
    index = {cid: i for i, cid in enumerate(chunk_ids)}
    dense = DenseRetriever(Passages([""] * len(chunk_ids)), None, chunk_emb)
    positives = [[index[p] for p in c.positives if p in index] for c in candidates]
    for c, rank in zip(candidates, dense.rank_of(query_emb, positives), strict=True):
        if rank is None:
            continue
        c.roundtrip_rank = rank
        if c.dropped:
            continue
        k = k_for(c.kind)
        if k and rank > k:
            c.drop("roundtrip", f"source chunk ranked {rank} (needs top {k})")
        else:
            c.notes.append(f"round-trip rank {rank}")


# ---------------------------------------------------------------------------- genericity


def specificity(
    query_emb: np.ndarray,
    positives: Sequence[int],
    index: dict[int, int],
    chunk_emb: np.ndarray,
    same_doc: np.ndarray,
    k: int,
) -> float | None:
    """Cosine of the best positive minus the `k`-th best other chunk of its document (rows of
    `chunk_emb` where `same_doc` is True); None when the document has no k other chunks."""
    cols = [index[p] for p in positives if p in index]
    if not cols:
        return None
    scores = chunk_emb @ query_emb
    best = max(float(scores[c]) for c in cols)
    mask = same_doc.copy()
    mask[cols] = False
    others = np.sort(scores[mask])[::-1]
    if len(others) < k:
        return None
    return best - float(others[k - 1])


def apply_generic(
    candidates: Sequence[Candidate],
    query_emb: np.ndarray,
    chunk_ids: Sequence[int],
    chunk_emb: np.ndarray,
    doc_of: dict[int, int],
    settings: FilterSettings | None = None,
) -> None:
    """Drop LLM questions whose specificity (see `specificity`) is below the threshold and
    note it on the kept ones; pseudo-queries are left alone (a sentence is as specific as its
    chunk). Rows of `query_emb` follow `candidates`; embeddings are L2-normalised."""
    s = settings or FilterSettings()
    if not s.min_specificity or not len(candidates):
        return
    index = {cid: i for i, cid in enumerate(chunk_ids)}
    docs = np.array([doc_of.get(cid, -1) for cid in chunk_ids])
    for row, c in enumerate(candidates):
        if c.dropped or not c.is_llm:
            continue
        spec = specificity(
            query_emb[row],
            c.positives,
            index,
            chunk_emb,
            docs == doc_of.get(c.chunk_id),
            s.generic_k,
        )
        if spec is None:
            continue
        if spec < s.min_specificity:
            c.drop(
                "generic",
                f"{s.generic_k} other chunks of its document answer it almost as well "
                f"(specificity {spec:.3f} < {s.min_specificity:g})",
            )
        else:
            c.notes.append(f"specificity {spec:.2f}")


# ---------------------------------------------------------------------------- duplicates


class DuplicateIndex:
    """Questions kept so far, to drop near-duplicates (cosine >= threshold) of them."""

    def __init__(self, threshold: float, dim: int) -> None:
        self.threshold = threshold
        self.emb = np.zeros((0, dim), dtype=np.float32)
        self.labels: list[str] = []
        self.texts: set[str] = set()

    def add(self, emb: np.ndarray, labels: Sequence[str], texts: Sequence[str]) -> None:
        if len(labels):
            if self.emb.shape[1] != emb.shape[1]:
                self.emb = np.zeros((0, emb.shape[1]), dtype=np.float32)
            self.emb = np.vstack([self.emb, emb.astype(np.float32)])
            self.labels += list(labels)
            self.texts |= {_norm(t) for t in texts}

    def apply(self, candidates: Sequence[Candidate], emb: np.ndarray) -> None:
        """Drop duplicates among `candidates` (rows of `emb`) and of what was added before;
        surviving candidates are added."""
        for row, c in enumerate(candidates):
            if c.dropped:
                continue
            if _norm(c.query) in self.texts:
                c.drop("duplicate", "same text as a kept question")
                continue
            if len(self.labels):
                sims = self.emb @ emb[row]
                j = int(np.argmax(sims))
                if sims[j] >= self.threshold:
                    c.drop("duplicate", f"cosine {sims[j]:.2f} to {self.labels[j]!r}")
                    continue
            self.add(emb[row : row + 1], [c.query[:60]], [c.query])


def _norm(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


# ---------------------------------------------------------------------------- judges


def _content_words(text: str) -> list[str]:
    return [
        w
        for w in re.findall(r"[a-z][a-z0-9\-]+", text.lower())
        if w not in STOPWORDS and len(w) > 2
    ]


def heuristic_judge(c: Candidate, passage: str, cosine: float) -> dict[str, float]:
    """Scores 1-5 without an LLM.

    relevance: cosine(question, passage) under the base model, 0.1 → 1 and 0.6 → 5.
    accuracy: share of the question's content words found in the passage (prefix match of 5
    letters, so 'vaccinated' supports 'vaccination'); invented terms lower it.
    clarity: 5 minus points for no question mark (LLM kinds), under 5 or over 30 words,
    or a vague opening pronoun.
    """
    relevance = 1 + 4 * float(np.clip((cosine - 0.1) / 0.5, 0, 1))
    words = _content_words(c.query)
    stems = {w[:5] for w in _content_words(passage)}
    accuracy = 1 + 4 * (sum(w[:5] in stems for w in words) / len(words) if words else 0.0)
    clarity = 5.0
    n = len(c.query.split())
    if c.is_llm and not c.query.rstrip().endswith("?"):
        clarity -= 2
    if n < 5 or n > 30:
        clarity -= 1
    if re.match(r"^(it|this|that|they|these|those)\b", c.query.strip(), re.I):
        clarity -= 1
    return {
        "relevance": round(relevance, 1),
        "accuracy": round(accuracy, 1),
        "clarity": max(1.0, clarity),
    }


def llm_judge(
    writer: QuestionWriter,
    candidates: Sequence[Candidate],
    passages: dict[int, str],
    prompts_dir: Path | None = None,
) -> list[str | None]:
    """Ask `writer` to rate each candidate; sets `judge` on success. Returns per candidate
    the error text (None when rated), so the caller can fall back or record it."""
    from core.generation.prompts import render

    convs = []
    for c in candidates:
        text = "\n\n".join(passages.get(p, "") for p in c.positives)
        convs.append(
            [
                {
                    "role": "user",
                    "content": render("judge", prompts_dir, passage=text, question=c.query),
                }
            ]
        )
    errors: list[str | None] = []
    for c, ans in zip(candidates, writer.answer(convs, max_tokens=60), strict=True):
        if not ans.ok:
            errors.append(ans.error)
            continue
        try:
            c.judge = parse_judge(ans.text or "")
            errors.append(None)
        except AnswerFormatError as exc:
            errors.append(f"judge answer unreadable: {exc}")
    return errors


def parse_judge(text: str) -> dict[str, float]:
    """{"relevance", "accuracy", "clarity"} as floats clipped to 1-5 from a judge answer."""
    value = parse_json_answer(text)
    if not isinstance(value, dict):
        raise AnswerFormatError("judge answer is not a JSON object")
    out = {}
    for key in ("relevance", "accuracy", "clarity"):
        try:
            out[key] = float(np.clip(float(value[key]), 1, 5))
        except (KeyError, TypeError, ValueError) as exc:
            raise AnswerFormatError(f"judge answer lacks a number for {key!r}") from exc
    return out


def apply_judge_threshold(candidates: Sequence[Candidate], min_score: float) -> None:
    for c in candidates:
        if c.dropped or c.judge_score is None:
            continue
        if min_score and c.judge_score < min_score:
            c.drop("judge", f"score {c.judge_score:.1f} below {min_score:g}")
        else:
            c.notes.append(f"judge {c.judge_score:.1f}")


def finish_reasons(candidates: Sequence[Candidate]) -> None:
    """Kept candidates get a reason listing the checks they passed."""
    for c in candidates:
        if not c.dropped:
            c.reason = "kept: " + (", ".join(c.notes) if c.notes else "passed the filters")


# ---------------------------------------------------------------------------- the filter step

# Who judges LLM questions: 'auto' (the LLM judge for a writer that answers JSON, the
# heuristic otherwise), 'llm', 'heuristic' or 'none'.
Judge = Literal["auto", "llm", "heuristic", "none"]
JUDGES: tuple[str, ...] = get_args(Judge)


@dataclass
class FilterContext:
    """What the filters of a run read: the base model and the chunks' embeddings [n, d] in
    `chunk_ids` order, chunk texts, the templates' phrases (echo check), the duplicate index,
    the writer (for the LLM judge), the prompts folder, the user's example questions and each
    chunk's document (the genericity filter compares a question's source with its document's
    other chunks)."""

    embedder: Any
    chunk_ids: Sequence[int]
    chunk_emb: np.ndarray
    passages: dict[int, str]
    phrases: Sequence[str]
    dedup: DuplicateIndex
    writer: QuestionWriter | None
    prompts_dir: Path | None
    examples: Sequence[str]
    doc_of: dict[int, int] = field(default_factory=dict)


def run_filters(
    candidates: list[Candidate],
    fs: FilterSettings,
    judge: Judge,
    ctx: FilterContext,
    funnel: dict[str, dict[str, int]],
) -> None:
    """Apply FILTER_ORDER to `candidates`, counting in `funnel[filter]` how many came in and
    how many it dropped. `judge`: one of JUDGES ('auto' = the LLM judge for a writer that
    answers JSON, else the heuristic)."""
    if not candidates:
        return
    from core.embedding_cache import encode

    def stage(name: str, fn: Callable[[], None]) -> None:
        alive = sum(not c.dropped for c in candidates)
        fn()
        funnel[name]["in"] += alive
        funnel[name]["dropped"] += alive - sum(not c.dropped for c in candidates)

    def junk() -> None:
        apply_junk(candidates, ctx.passages, ctx.phrases, fs)
        apply_example_copies(candidates, ctx.examples)

    stage("junk", junk)
    q_emb = encode(ctx.embedder, [c.query for c in candidates])
    stage(
        "roundtrip",
        lambda: apply_roundtrip(
            candidates, q_emb, ctx.chunk_ids, ctx.chunk_emb, fs.roundtrip_k_for
        ),
    )
    stage(
        "generic",
        lambda: apply_generic(candidates, q_emb, ctx.chunk_ids, ctx.chunk_emb, ctx.doc_of, fs),
    )
    stage("duplicate", lambda: ctx.dedup.apply(candidates, q_emb))
    stage("judge", lambda: _judge(candidates, q_emb, fs, judge, ctx))
    finish_reasons(candidates)


def _judge(
    candidates: list[Candidate],
    q_emb: np.ndarray,
    fs: FilterSettings,
    mode: str,
    ctx: FilterContext,
) -> None:
    writer = ctx.writer
    if mode == "auto":
        mode = "llm" if writer is not None and writer.structured else "heuristic"
    if mode == "none":
        return
    alive = [c for c in candidates if not c.dropped]
    llm_alive = [c for c in alive if c.is_llm] if mode == "llm" and writer else []
    if llm_alive:
        errors = llm_judge(writer, llm_alive, ctx.passages, ctx.prompts_dir)  # type: ignore[arg-type]
        for c, err in zip(llm_alive, errors, strict=True):
            if err:
                c.notes.append(f"LLM judge failed ({err[:80]}), heuristic used")
    index = {cid: i for i, cid in enumerate(ctx.chunk_ids)}
    # Every LLM question gets scores, dropped ones too, so the review table can sort all of
    # them; the heuristic is cheap, the LLM judge is spent on survivors only. Pseudo-queries
    # (a sentence, keywords, a heading of the text itself) are not judged: no judge reads them,
    # so they carry no judge score and the keep threshold does not apply to them.
    for row, c in enumerate(candidates):
        if c.judge is None and c.is_llm:
            text = " ".join(ctx.passages.get(p, "") for p in c.positives)
            rows = [index[p] for p in c.positives if p in index]
            cos = max(float(q_emb[row] @ ctx.chunk_emb[r]) for r in rows) if rows else 0.0
            c.judge = heuristic_judge(c, text, cos)
    apply_judge_threshold(candidates, fs.min_judge_score)
