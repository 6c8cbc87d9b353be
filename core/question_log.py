"""Question logs without answers (issue 24, item 2): past questions about the workspace's own
documents, one per line, with no passage.

Each question's positive chunk is the one the best retriever the workspace has without
training finds first: the base model fused with keyword search (min-max, weight 0.5, the
`base+bm25` of the Evaluate page; core/retrieval/). A wrong pick teaches the model a wrong
answer, so a question is kept only when the hybrid's first chunk wins clearly: its fused score
(each retriever's scores min-max scaled over its top 100, then averaged) beats the second's by
at least `MIN_MARGIN`. Measured on syllabusqa-dev halves (bench/RESULTS_question_log.md): the
hybrid's first pick is right for about a third of the questions of 11 similar syllabi; the
margin keeps about a sixth of them, right about 60% of the time, as often as requiring the base
model and BM25 to agree on the first chunk and with as many or more right positives.

A kept question becomes a pending pair of kind `log` (it goes to review like a written
question; `accept=True` accepts it at once), its positive the chosen chunk, in that chunk's
split, so it is evaluated, mined and trained like any question about a chunk. Its `origin` is
`log:<file name>`: `pairs.source` stays NULL, since a pair with a source is a question
imported with its own passage and no chunk (core/related_questions.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.pairs import PairError, insert_pair
from core.splits import chunk_splits
from core.store import Workspace

KIND = "log"
ORIGIN_PREFIX = "log:"
WEIGHT = 0.5  # the base model's share in the hybrid: the even mix of `base+bm25`
DEPTH = 100  # candidates each retriever gives the fusion (core.retrieval.fusion.FUSION_DEPTH)
MARGIN = "margin"  # the filter in force: the hybrid's first beats its second by MIN_MARGIN
MIN_MARGIN = 0.25  # chosen on dev half A, confirmed on half B (bench/bench_question_log.py)
MAX_BINARY_SHARE = 0.01  # a file with more NUL / control bytes than this is not a text log

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class Pick:
    """What the retrievers chose for one question: `chunk_id` is the hybrid's first chunk
    (None when the workspace has none), `second_id` its second; `margin` the hybrid's fused
    score of the first minus the second (in [0, 1]); `dense_id` / `bm25_id` the first chunk of
    the base model and of BM25 alone (`bm25_id` None when the question shares no word with any
    chunk)."""

    question: str
    chunk_id: int | None
    second_id: int | None
    margin: float
    dense_id: int | None
    bm25_id: int | None

    @property
    def agree(self) -> bool:
        """The base model, BM25 and their fusion all rank the same chunk first."""
        return self.chunk_id is not None and self.dense_id == self.bm25_id == self.chunk_id


def keep(pick: Pick, rule: str = MARGIN, margin: float = MIN_MARGIN) -> bool:
    """Whether `pick` passes the filter `rule`: 'margin' (the hybrid's first beats its second
    by at least `margin`), 'agreement' (the base model, BM25 and the hybrid rank the same chunk
    first) or 'none' (every pick)."""
    if pick.chunk_id is None:
        return False
    if rule == "agreement":
        return pick.agree
    if rule == MARGIN:
        return pick.margin >= margin
    if rule == "none":
        return True
    raise ValueError(f"unknown filter {rule!r}: agreement, margin or none")


def read_log(path: str | Path) -> tuple[list[str], int, int]:
    """(questions, lines read, duplicates) of a question log: one question per line, surrounding
    and repeated inner spaces removed, blank lines skipped, a repeated question kept once (in
    first-seen order). PairError for a missing, binary or empty file."""
    path = Path(path)
    if not path.is_file():
        raise PairError(f"{path} is not a file (a question log is a text file, one per line)")
    data = path.read_bytes()
    controls = sum(data.count(bytes([b])) for b in (*range(0, 9), 11, 12, *range(14, 32)))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = None
    if text is None or (data and controls > MAX_BINARY_SHARE * len(data)):
        raise PairError(
            f"{path.name} is not a text file: a question log is UTF-8 text, one per line"
        )
    lines = [" ".join(line.split()) for line in text.splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        raise PairError(f"{path.name} holds no question (one question per line)")
    questions = list(dict.fromkeys(lines))
    return questions, len(lines), len(lines) - len(questions)


def choose_positives(
    ws: Workspace,
    questions: Sequence[str],
    model_name: str | None = None,
    on_progress: Progress | None = None,
    documents: Sequence[str | None] | None = None,
) -> list[Pick]:
    """Each question's pick among all the workspace's chunks by the base model (`model_name`,
    default the workspace's base model) fused with BM25; chunk embeddings go through the
    workspace's embedding cache. `documents` (one document name per question, or None)
    restricts each question to that document's chunks (a log kept per document)."""
    from core.documents import list_chunks
    from core.embedding_cache import CHUNK_SPACE, embed_texts, encode
    from core.models import load_sentence_model, resolve_model
    from core.retrieval.base import Passages, group_mask
    from core.retrieval.bm25 import BM25Retriever
    from core.retrieval.dense import DenseRetriever
    from core.retrieval.fusion import fuse_hits
    from core.retrieval.windows import DEFAULT_PASSAGE_MODE, passage_windows, token_counter
    from core.settings import defaults_for

    chunks = list_chunks(ws)
    if not chunks:
        raise PairError("the workspace has no chunks: ingest documents before a question log")
    questions = list(questions)
    if not questions:
        return []
    location = resolve_model(model_name or defaults_for(ws).base_model)
    model = load_sentence_model(location)
    groups = [c["document"] for c in chunks] if documents is not None else None
    passages = Passages([c["text"] for c in chunks], groups)
    texts, owner = passage_windows(passages.texts, token_counter(model), DEFAULT_PASSAGE_MODE)

    def step(stage: str) -> Callable[[int, int], None] | None:
        return (lambda done, total: on_progress(stage, done, total)) if on_progress else None

    emb = embed_texts(ws, CHUNK_SPACE, texts, location, model, on_progress=step("chunks"))
    query_emb = encode(model, questions, on_progress=step("questions"), chunk=256)
    dense = DenseRetriever(passages, None, emb, owner).search_embeddings(
        query_emb, DEPTH, documents
    )
    bm25_scores = BM25Retriever(passages).scores(questions)
    mask = group_mask(passages.group_codes(), passages.query_codes(documents))
    if mask is not None:
        bm25_scores = np.where(mask, 0.0, bm25_scores)
    bm25 = _top(bm25_scores, DEPTH)
    fused = fuse_hits(dense, bm25, WEIGHT, "minmax", 2)
    ids = [c["id"] for c in chunks]
    picks = []
    for i, question in enumerate(questions):
        row = fused.row(i)
        first = ids[row[0][0]] if row else None
        second = ids[row[1][0]] if len(row) > 1 else None
        margin = row[0][1] - row[1][1] if len(row) > 1 else (row[0][1] if row else 0.0)
        bm25_row, dense_row = bm25.row(i), dense.row(i)
        picks.append(
            Pick(
                question=question,
                chunk_id=first,
                second_id=second,
                margin=float(margin),
                dense_id=ids[dense_row[0][0]] if dense_row else None,
                bm25_id=ids[bm25_row[0][0]] if bm25_row else None,
            )
        )
    return picks


def _top(scores: np.ndarray, k: int):
    """BM25's hits with a passage that shares no word with the question left out (score 0 is
    no evidence, and the hybrid must not count it as BM25's vote)."""
    from core.retrieval.base import top_k_rows

    return top_k_rows(np.where(scores > 0, scores, -np.inf), k)


def imported_questions(ws: Workspace) -> set[str]:
    """The questions already imported from a question log (any file, any status)."""
    with ws.connect() as conn:
        rows = conn.execute(
            "SELECT query FROM pairs WHERE origin LIKE ?", (ORIGIN_PREFIX + "%",)
        ).fetchall()
    return {r["query"] for r in rows}


def import_log(
    ws: Workspace,
    path: str | Path,
    *,
    accept: bool = False,
    name: str | None = None,
    document: str | None = None,
    model_name: str | None = None,
    on_progress: Progress | None = None,
) -> dict[str, Any]:
    """Import a question log (see the module docstring): each question kept by the filter
    becomes a pair (pending, or accepted when `accept`) with the chosen chunk as its positive.
    `name` names the log in the pairs' origin (default: the file's name); `document` (a
    document's name) searches only that document's chunks, for a log about one document (on
    syllabusqa-dev halves the kept picks are then right 82-92% of the time instead of 56-65%,
    bench/RESULTS_question_log.md). Returns counts:
    lines (non-blank lines read), questions (distinct), duplicates (repeated lines),
    already (imported before from a log), kept, dropped (by the filter), status, by_split,
    source (the name), filter."""
    path = Path(path)
    questions, lines, duplicates = read_log(path)
    name = " ".join(str(name or path.name).split())
    if document is not None:
        from core.documents import list_documents

        names = sorted(d.name for d in list_documents(ws))
        if document not in names:
            raise PairError(f"no document named {document!r}; the documents: {', '.join(names)}")
    already = imported_questions(ws)
    fresh = [q for q in questions if q not in already]
    scope = None if document is None else [document] * len(fresh)
    picks = choose_positives(ws, fresh, model_name, on_progress, scope)
    status = "accepted" if accept else "pending"
    by_split: dict[str, int] = {}
    kept = 0
    with ws.transaction() as conn:
        split_of = chunk_splits(conn)
        for pick in picks:
            if not keep(pick) or pick.chunk_id is None:
                continue
            split = split_of.get(pick.chunk_id, "train")
            insert_pair(
                conn,
                pick.question,
                [pick.chunk_id],
                kind=KIND,
                origin=ORIGIN_PREFIX + name,
                status=status,
                reason=f"question log {name}: base+bm25's first chunk by {pick.margin:.2f}",
                split=split,
            )
            by_split[split] = by_split.get(split, 0) + 1
            kept += 1
    return {
        "source": name,
        "lines": lines,
        "questions": len(questions),
        "duplicates": duplicates,
        "already": len(questions) - len(fresh),
        "kept": kept,
        "dropped": len(picks) - kept,
        "status": status,
        "by_split": dict(sorted(by_split.items())),
        "filter": f"{MARGIN} >= {MIN_MARGIN}",
        "document": document,
    }


def describe(result: dict[str, Any]) -> str:
    """One line saying what an import did (the CLI's and the Pairs page's)."""
    about = f" (about {result['document']})" if result.get("document") else ""
    text = (
        f"{result['source']}{about}: {result['questions']} questions read, {result['kept']} kept as "
        f"{result['status']} pairs, {result['dropped']} dropped where no chunk wins clearly"
    )
    skipped = []
    if result["duplicates"]:
        skipped.append(f"{result['duplicates']} repeated lines")
    if result["already"]:
        skipped.append(f"{result['already']} already imported")
    return text + (f"; skipped {', '.join(skipped)}" if skipped else "")
