"""Generate synthetic pairs for a workspace: incremental, resumable, filtered as they arrive.

A run is four steps per batch of chunks, each over the kind objects of core.generation.kinds:
plan (each kind says what it needs: a prompt for a writer kind, candidates for a pseudo kind),
write (the question writer answers the prompts), filter (core.generation.filters.run_filters)
and store (the batch's pairs, kept and dropped with reasons, and its generation_log rows, in
one transaction). An interrupted run loses at most one batch and a rerun skips every (chunk,
kind, writer) logged 'done' (another writer, or `write_again`, writes anew). A chunk whose
request failed is logged 'error' with the reason and is tried again by the next run. An
endpoint that fails `fail_fast` requests in a row before any succeeds stops the run with
GenerationError (nothing it did is undone; earlier pairs are never touched).
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.embedding_cache import chunk_embeddings, encode
from core.generation import filters, kinds
from core.generation.examples import clean_examples, load_examples
from core.generation.filters import FilterContext
from core.generation.provider_registry import get_provider, make_writer
from core.generation.providers import Answer, AnswerFormatError, QuestionWriter

# The run's settings (core.generation.settings), re-exported for callers of the pipeline.
from core.generation.settings import DEFAULT_KINDS as DEFAULT_KINDS
from core.generation.settings import WRITER_KINDS as WRITER_KINDS
from core.generation.settings import GenerateSettings as GenerateSettings
from core.generation.settings import GenerationError as GenerationError
from core.generation.settings import default_kinds as default_kinds
from core.generation.types import Candidate
from core.pairs import insert_pair
from core.splits import assign_splits, chunk_splits
from core.store import Workspace, now_iso

# generation_log's writer of every pseudo-query kind; an LLM kind's is the writer's name
# ("openai:MODEL", "local:..."): a rerun with another model writes again, while the same model
# behind a new URL (a restarted server) resumes.
PSEUDO_WRITER = "pseudo"


Progress = Callable[[int, int, dict[str, int]], None]  # (chunks done, total, counts)
LogRow = tuple[int, str, str, str, str]  # generation_log: chunk, kind, writer, status, error


def progress_line(done: int, total: int, counts: dict[str, int]) -> str:
    """The one-line progress of a run (CLI, job message, page), skipped chunks included."""
    line = f"[{done}/{total} chunks] kept {counts['kept']}, dropped {counts['dropped']}"
    if counts.get("errors"):
        line += f", errors {counts['errors']}"
    if counts.get("skipped"):
        line += f", skipped {counts['skipped']} already written by this writer"
    return line


# --------------------------------------------------------------------------- one run


@dataclass
class _Run:
    """What every batch of a run reads: the settings, the writer (None when no selected
    kind needs one), the chunks, the (chunk, kind, writer) triples done before, the kinds'
    and the filters' contexts, and the pseudo-queries made once for the selected chunks."""

    settings: GenerateSettings
    writer: QuestionWriter | None
    selected: list[dict]
    done: set[tuple[int, str, str]]
    split_of: dict[int, str]
    kind_ctx: kinds.KindContext
    filter_ctx: FilterContext
    pseudo: dict[tuple[int, str], list[Candidate]]
    llm_budget: int | None

    def writer_of(self, kind: str) -> str:
        """generation_log's writer of `kind` in this run."""
        if not kinds.needs_writer(kind):
            return PSEUDO_WRITER
        return self.writer.name if self.writer is not None else ""


@dataclass
class _Batch:
    """One batch's plan and, once written, its candidates and generation_log rows."""

    candidates: list[Candidate] = field(default_factory=list)
    log_rows: list[LogRow] = field(default_factory=list)
    requests: list[kinds.Request] = field(default_factory=list)


def generate(
    ws: Workspace,
    settings: GenerateSettings,
    writer: QuestionWriter | None = None,
    on_progress: Progress | None = None,
    embedder: Any = None,
) -> dict[str, Any]:
    """Generate, filter and store pairs; returns a summary (counts kept/dropped by reason,
    errors, examples, speed). `writer` and `embedder` may be passed in (tests, the page)."""
    settings.validate()
    t0 = time.perf_counter()
    run = _prepare(ws, settings, writer, embedder)
    tally = _Tally(run)
    total = len(run.selected)
    per_batch = chunks_per_batch(settings, run.writer)
    for start, batch in _written_batches(run, tally, per_batch):
        filters.run_filters(
            batch.candidates, settings.filters, settings.judge, run.filter_ctx, tally.funnel
        )
        _store(ws, batch.candidates, batch.log_rows, run.split_of)
        tally.add(batch.candidates)
        if on_progress:
            on_progress(min(start + per_batch, total), total, tally.counts())
        tally.stop_if_failing(settings.fail_fast)
    return tally.summary(t0)


def chunks_per_batch(settings: GenerateSettings, writer: QuestionWriter | None) -> int:
    """Chunks per committed batch: `batch_chunks`, raised to `concurrency` for a served
    writer (each chunk is at least one request, so a batch keeps every slot busy)."""
    if writer is None or not get_provider(settings.provider).served:
        return max(1, settings.batch_chunks)
    return max(1, settings.batch_chunks, settings.concurrency)


def _prepare(
    ws: Workspace, settings: GenerateSettings, writer: QuestionWriter | None, embedder: Any
) -> _Run:
    """Everything a run reads before its first batch (models loaded, embeddings cached)."""
    from core.documents import list_chunks

    assign_splits(ws)
    all_chunks = list_chunks(ws)
    if not all_chunks:
        raise GenerationError("the workspace has no chunks: ingest documents first")
    selected = all_chunks
    if settings.chunk_ids is not None:
        wanted = set(settings.chunk_ids)
        selected = [c for c in all_chunks if c["id"] in wanted]
    selected = selected[: settings.limit_chunks] if settings.limit_chunks else selected
    if settings.writer_kinds and writer is None:
        writer = make_writer(settings.provider, settings.writer_options())
    if embedder is None:
        from core.models import load_sentence_model

        embedder = load_sentence_model(settings.base_model)
    chunk_emb = chunk_embeddings(ws, all_chunks, embedder, settings.base_model)
    with ws.connect() as conn:
        done: set[tuple[int, str, str]] = set()
        if not settings.write_again:
            done = {
                (r["chunk_id"], r["kind"], r["writer"])
                for r in conn.execute(
                    "SELECT chunk_id, kind, writer FROM generation_log WHERE status='done'"
                )
            }
        kept = [
            r["query"] for r in conn.execute("SELECT query FROM pairs WHERE status != 'dropped'")
        ]
        split_of = chunk_splits(conn)
    dedup = filters.DuplicateIndex(settings.filters.duplicate_cosine, chunk_emb.shape[1])
    if kept:
        dedup.add(encode(embedder, kept), [q[:60] for q in kept], kept)
    prompts_dir = Path(settings.prompts_dir) if settings.prompts_dir else None
    examples = load_examples(ws) if settings.examples is None else clean_examples(settings.examples)
    from core.generation.prompts import template_phrases

    kind_ctx = kinds.KindContext(
        all_chunks,
        chunk_emb,
        split_of,
        structured=writer.structured if writer is not None else True,
        prompts_dir=prompts_dir,
        examples=examples,
    )
    filter_ctx = FilterContext(
        embedder,
        kind_ctx.chunk_ids,
        chunk_emb,
        {c["id"]: c["text"] for c in all_chunks},
        template_phrases(prompts_dir),
        dedup,
        writer,
        prompts_dir,
        examples,
        {c["id"]: c["document_id"] for c in all_chunks},
    )
    capped = writer is not None and get_provider(settings.provider).capped
    return _Run(
        settings=settings,
        writer=writer,
        selected=selected,
        done=done,
        split_of=split_of,
        kind_ctx=kind_ctx,
        filter_ctx=filter_ctx,
        pseudo=_pseudo_candidates(settings, selected, all_chunks),
        llm_budget=settings.max_llm_chunks if capped and settings.max_llm_chunks else None,
    )


def _pseudo_candidates(
    settings: GenerateSettings, selected: Sequence[dict], all_chunks: Sequence[dict]
) -> dict[tuple[int, str], list[Candidate]]:
    """Every selected pseudo kind's candidates, by (source chunk, kind)."""
    out: dict[tuple[int, str], list[Candidate]] = {}
    for name in settings.kinds:
        kind = kinds.get_kind(name)
        if isinstance(kind, kinds.PseudoKind):
            for c in kind.make(selected, all_chunks, settings.count_for(name), settings):
                out.setdefault((c.chunk_id, c.kind), []).append(c)
    return out


def _plan(chunks: Sequence[dict], run: _Run, tally: _Tally) -> _Batch:
    """Step 1: what each kind does for each chunk not done yet: pseudo-queries are taken,
    writer kinds get their prompts (a writer answering one question per call is asked n
    times), a kind lacking its context is logged done with the reason."""
    batch = _Batch()
    writer = run.writer
    for chunk in chunks:
        todo = [k for k in run.settings.kinds if (chunk["id"], k, run.writer_of(k)) not in run.done]
        if not todo:
            tally.skipped()
            continue
        for name in todo:
            kind = kinds.get_kind(name)
            if isinstance(kind, kinds.PseudoKind):
                batch.candidates += run.pseudo.get((chunk["id"], name), [])
                batch.log_rows.append((chunk["id"], name, PSEUDO_WRITER, "done", ""))
                continue
            if run.llm_budget is not None and tally.llm_chunks >= run.llm_budget:
                continue  # not logged: a later run with a larger budget does it
            n = run.settings.count(name)
            planned = kind.plan(chunk, n, run.kind_ctx)
            if isinstance(planned, str):
                batch.log_rows.append((chunk["id"], name, run.writer_of(name), "done", planned))
                continue
            batch.requests += [planned] * (1 if writer is not None and writer.structured else n)
        if run.llm_budget is not None and any(kinds.needs_writer(k) for k in todo):
            tally.llm_chunks += 1
        tally.processed()
    return batch


def _written_batches(run: _Run, tally: _Tally, per_batch: int) -> Iterator[tuple[int, _Batch]]:
    """Steps 1 and 2, batch by batch in order: (first chunk's index, the planned and written
    batch). A served writer writes the next batch while the caller filters and stores this
    one, so the server never waits on our CPU (its own slots keep requests <= concurrency);
    that starts once it has answered, so a dead endpoint costs one batch of requests, not two."""
    plans = (
        (start, _plan(run.selected[start : start + per_batch], run, tally))
        for start in range(0, len(run.selected), per_batch)
    )
    if run.writer is None or not get_provider(run.settings.provider).served:
        for start, batch in plans:
            if batch.requests and run.writer is not None:
                _take_answers(batch, run, tally, _timed(run.writer, batch))
            yield start, batch
        return
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="writer")
    pending: deque[tuple[int, _Batch, Future | None]] = deque()

    def submit() -> bool:
        planned = next(plans, None)
        if planned is None:
            return False
        start, batch = planned
        fut = pool.submit(_timed, run.writer, batch) if batch.requests else None
        pending.append((start, batch, fut))
        return True

    try:
        while pending or submit():
            if tally.llm_ok and len(pending) < 2:
                submit()
            start, batch, fut = pending.popleft()
            if fut is not None:
                _take_answers(batch, run, tally, fut.result())
            if tally.llm_ok and not pending:
                submit()
            yield start, batch
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _timed(writer: QuestionWriter, batch: _Batch) -> tuple[list[Answer], float, float]:
    """The writer's answers to the batch's prompts, with the call's start and end times."""
    start = time.perf_counter()
    answers = writer.answer([r.conversation for r in batch.requests])
    return answers, start, time.perf_counter()


def _take_answers(
    batch: _Batch, run: _Run, tally: _Tally, written: tuple[list[Answer], float, float]
) -> None:
    """Step 2's outcome: each answer's questions become candidates, and each (chunk, kind)
    is logged done or error with the first error."""
    writer = run.writer
    assert writer is not None
    answers, t_start, t_end = written
    tally.busy(t_start, t_end)
    errors: dict[tuple[int, str], str] = {}
    ok: set[tuple[int, str]] = set()
    for req, ans in zip(batch.requests, answers, strict=True):
        key = (req.chunk["id"], req.kind)
        try:
            if not ans.ok:
                raise AnswerFormatError(ans.error or "no answer")
            new = kinds.parse_answer(
                ans.text or "",
                req.kind,
                req.chunk["id"],
                req.positives,
                writer.name,
                writer.structured,
                run.settings.count(req.kind),
            )
        except AnswerFormatError as exc:
            errors.setdefault(key, str(exc))
            tally.answer_failed()
            continue
        batch.candidates += new
        ok.add(key)
        tally.answer_ok(len(new))
    for key in dict.fromkeys((r.chunk["id"], r.kind) for r in batch.requests):
        if key in ok:
            batch.log_rows.append((*key, writer.name, "done", ""))
        else:
            batch.log_rows.append((*key, writer.name, "error", errors.get(key, "")[:500]))
            tally.error(key, errors.get(key))


def _store(
    ws: Workspace,
    candidates: Sequence[Candidate],
    log_rows: Sequence[LogRow],
    split_of: dict[int, str],
) -> None:
    """Step 4: commit one batch: its pairs, their positives and the generation_log rows."""
    now = now_iso()
    with ws.transaction() as conn:
        for c in candidates:
            insert_pair(
                conn,
                c.query,
                c.positives,
                kind=c.kind,
                origin=c.origin,
                status=c.status,
                reason=c.reason,
                split=split_of.get(c.chunk_id, "train"),
                judge={**(c.judge or {}), "score": c.judge_score},
                roundtrip_rank=c.roundtrip_rank,
                positive_text=c.positive_text,
            )
        conn.executemany(
            "INSERT INTO generation_log (chunk_id, kind, writer, status, error, at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (chunk_id, kind, writer) DO UPDATE SET"
            " status = excluded.status, error = excluded.error, at = excluded.at",
            [(*row, now) for row in log_rows],
        )


# --------------------------------------------------------------------------- the summary

EXAMPLES_KEPT = 12  # kept and dropped questions the summary shows
ERRORS_KEPT = 5  # failed chunks the summary shows


class _Tally:
    """A run's counts as it goes, its fail-fast rule, and the summary `generate` returns."""

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.n_chunks = len(run.selected)
        self.chunks_processed = 0
        self.chunks_skipped = 0
        self.kept = 0
        self.dropped = 0
        self.dropped_by_reason: Counter[str] = Counter()
        self.by_kind: dict[str, dict[str, int]] = {}
        self.errors = 0
        self.error_examples: list[dict[str, Any]] = []
        self.kept_examples: list[dict[str, Any]] = []
        self.dropped_examples: list[dict[str, Any]] = []
        self.funnel = {f: {"in": 0, "dropped": 0} for f in filters.FILTER_ORDER}
        self.llm_questions = 0
        self.llm_seconds = 0.0
        self._busy_until = -float("inf")
        self.llm_ok = 0
        self.llm_chunks = 0
        self.failures_in_a_row = 0

    def busy(self, start: float, end: float) -> None:
        """Count a writing call's seconds; overlapping calls (writing ahead) count once."""
        self.llm_seconds += max(0.0, end - max(start, self._busy_until))
        self._busy_until = max(self._busy_until, end)

    def skipped(self) -> None:
        self.chunks_skipped += 1

    def processed(self) -> None:
        self.chunks_processed += 1

    def answer_ok(self, n_questions: int) -> None:
        self.llm_questions += n_questions
        self.llm_ok += 1
        self.failures_in_a_row = 0

    def answer_failed(self) -> None:
        self.failures_in_a_row += 1

    def error(self, key: tuple[int, str], message: str | None) -> None:
        self.errors += 1
        if len(self.error_examples) < ERRORS_KEPT:
            self.error_examples.append({"chunk_id": key[0], "kind": key[1], "error": message})

    def add(self, candidates: Sequence[Candidate]) -> None:
        for c in candidates:
            bucket = self.by_kind.setdefault(c.kind, {"kept": 0, "dropped": 0})
            example = {"query": c.query, "kind": c.kind, "reason": c.reason}
            if c.dropped:
                self.dropped += 1
                bucket["dropped"] += 1
                self.dropped_by_reason[c.reason.split(":", 1)[0]] += 1
                if len(self.dropped_examples) < EXAMPLES_KEPT:
                    self.dropped_examples.append(example)
            else:
                self.kept += 1
                bucket["kept"] += 1
                if len(self.kept_examples) < EXAMPLES_KEPT:
                    self.kept_examples.append(example)

    def counts(self) -> dict[str, int]:
        """What `progress_line` shows."""
        return {
            "kept": self.kept,
            "dropped": self.dropped,
            "errors": self.errors,
            "skipped": self.chunks_skipped,
        }

    def _first_error(self) -> str:
        return self.error_examples[0]["error"] if self.error_examples else "?"

    def stop_if_failing(self, fail_fast: int) -> None:
        if self.llm_ok == 0 and self.failures_in_a_row >= fail_fast:
            name = self.run.writer.name if self.run.writer else "?"
            raise GenerationError(
                f"the question writer ({name}) failed {self.failures_in_a_row} requests in a "
                f"row and none succeeded: {self._first_error()}"
            )

    def summary(self, t0: float) -> dict[str, Any]:
        if self.run.settings.writer_kinds and self.errors and self.llm_ok == 0:
            raise GenerationError(
                f"every request to the question writer failed ({self.errors} chunks): "
                f"{self._first_error()}"
            )
        writer = self.run.writer
        llm_seconds = round(self.llm_seconds, 2)
        return {
            "chunks_total": self.n_chunks,
            "chunks_processed": self.chunks_processed,
            "chunks_skipped": self.chunks_skipped,
            "kept": self.kept,
            "dropped": self.dropped,
            "dropped_by_reason": dict(self.dropped_by_reason),
            "by_kind": self.by_kind,
            "errors": self.errors,
            "error_examples": self.error_examples,
            "llm_questions": self.llm_questions,
            "llm_seconds": llm_seconds,
            "kept_examples": self.kept_examples,
            "dropped_examples": self.dropped_examples,
            "funnel": {
                k: {**v, "kept_share": round(1 - v["dropped"] / v["in"], 3) if v["in"] else None}
                for k, v in self.funnel.items()
            },
            "origin": writer.name if writer is not None else "pseudo",
            "examples": list(self.run.filter_ctx.examples)
            if self.run.settings.writer_kinds
            else [],
            "seconds": round(time.perf_counter() - t0, 2),
            "llm_questions_per_s": (
                round(self.llm_questions / llm_seconds, 2) if llm_seconds > 0 else None
            ),
        }


def generation_errors(ws: Workspace) -> list[dict[str, Any]]:
    """Chunks whose last generation attempt failed, with the error."""
    with ws.connect() as conn:
        return [
            dict(r)
            for r in conn.execute(
                "SELECT g.chunk_id, g.kind, g.writer, g.error, g.at, d.name AS document"
                " FROM generation_log g"
                " JOIN chunks c ON c.id = g.chunk_id JOIN documents d ON d.id = c.document_id"
                " WHERE g.status = 'error' ORDER BY g.at DESC"
            )
        ]
