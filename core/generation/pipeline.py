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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.embedding_cache import chunk_embeddings, encode
from core.generation import filters, kinds
from core.generation.bundled_llms import LocalModelError, bundled_llm
from core.generation.examples import ExamplesError, clean_examples, load_examples
from core.generation.filters import FilterContext, FilterSettings
from core.generation.provider_registry import (
    DEFAULT_API_KEY_ENV,
    DEFAULT_PROVIDER,
    UnknownProvider,
    WriterOptions,
    get_provider,
    make_writer,
)
from core.generation.providers import Answer, AnswerFormatError, QuestionWriter
from core.generation.types import Candidate
from core.models import DEFAULT_BASE_MODEL
from core.pairs import insert_pair
from core.splits import assign_splits, chunk_splits
from core.store import Workspace, now_iso

# The kinds `embstudio generate` uses when none are named: inverse cloze, no LLM needed. It
# beat the bundled 135M writer's questions on real syllabus questions and is the no-label
# default measured in README "No-label default" (bench/bench_domain.py). LLM kinds stay one
# option away: worth it with a capable endpoint.
DEFAULT_KINDS: tuple[str, ...] = ("ict",)
# Kinds added to the default when a question writer (provider, model or endpoint) is named
# but no kinds are: naming a writer means wanting its questions.
WRITER_KINDS: tuple[str, ...] = ("simple",)


def default_kinds(writer_named: bool = False) -> tuple[str, ...]:
    """The kinds a run uses when none are chosen (with the writer's kinds when one is named)."""
    return (*WRITER_KINDS, *DEFAULT_KINDS) if writer_named else DEFAULT_KINDS


# generation_log's writer of every pseudo-query kind; an LLM kind's is the writer's name
# ("openai:MODEL", "local:..."): a rerun with another model writes again, while the same model
# behind a new URL (a restarted server) resumes.
PSEUDO_WRITER = "pseudo"


class GenerationError(Exception):
    """The run cannot go on (bad settings, or an endpoint that fails every request)."""


@dataclass
class GenerateSettings:
    """One generation run.

    provider: a name from core.generation.provider_registry ('local': bundled SmolLM2,
    offline; 'openai': any OpenAI-compatible endpoint).
    model: for 'local' the bundled writer (core.generation.bundled_llms; None = SmolLM2), for
    'openai' the endpoint's model. base_url/api_key_env: the endpoint (the key itself is read
    from that env variable).
    kinds: query kinds (core.generation.kinds); per_chunk: count per chunk for each kind
    (missing = the kind's default).
    limit_chunks: only the first N chunks (document order); None = all.
    chunk_ids: only these chunks (applied before limit_chunks); None = all.
    judge: 'auto' (LLM judge for a writer that answers JSON, heuristic otherwise), 'llm',
    'heuristic' or 'none'. Pseudo-queries are not judged (they carry no judge score).
    ict_remove_sentence: inverse cloze positives without the query sentence.
    base_model: the embedding model of the round-trip and duplicate filters.
    batch_chunks: chunks per committed batch (a served writer's batches hold at least
    `concurrency` chunks, so that one batch fills every request slot); concurrency/timeout_s:
    endpoint requests at once and seconds per request; max_retries: the client's further attempts of a failed
    request; fail_fast: consecutive failures (with no success yet) that stop the run;
    max_llm_chunks: cap on chunks a slow (capped) provider writes for (the local LLM writes
    ~0.35 questions/s on 2 CPU cores, so 300 chunks take ~15 min), None = no cap.
    write_again: write for every selected chunk and kind, also those this writer has done
    (a rerun otherwise resumes: it skips each (chunk, kind) its writer already wrote).
    examples: example questions for every LLM prompt (core.generation.examples); None = the
    workspace's stored ones.
    """

    provider: str = DEFAULT_PROVIDER
    model: str | None = None
    base_url: str | None = None
    api_key_env: str = DEFAULT_API_KEY_ENV
    kinds: tuple[str, ...] = DEFAULT_KINDS
    per_chunk: dict[str, int] = field(default_factory=dict)
    limit_chunks: int | None = None
    chunk_ids: tuple[int, ...] | None = None
    judge: str = "auto"
    ict_remove_sentence: bool = False
    base_model: str = DEFAULT_BASE_MODEL
    filters: FilterSettings = field(default_factory=FilterSettings)
    batch_chunks: int = 8
    concurrency: int = 4
    timeout_s: float = 60.0
    max_retries: int = 4
    fail_fast: int = 6
    max_llm_chunks: int | None = 300
    prompts_dir: str | None = None
    write_again: bool = False
    examples: tuple[str, ...] | None = None

    def validate(self) -> None:
        known = kinds.kind_names()
        unknown = [k for k in self.kinds if k not in known]
        if unknown:
            raise GenerationError(
                f"unknown kind(s) {', '.join(unknown)}; choose from {', '.join(known)}"
            )
        if not self.kinds:
            raise GenerationError("no kinds selected")
        try:
            provider = get_provider(self.provider)
        except UnknownProvider as exc:
            raise GenerationError(str(exc)) from exc
        if self.provider != DEFAULT_PROVIDER and not self.writer_kinds:
            writer_kinds = ", ".join(kinds.writer_kinds())
            raise GenerationError(
                f"{provider.noun} writes LLM kinds only, and {', '.join(self.kinds)} needs "
                f"none: add one of {writer_kinds} to the kinds, or leave the "
                f"{provider.noun.split()[-1]} out"
            )
        if self.provider == "local" and self.model:
            try:
                bundled_llm(self.model)
            except LocalModelError as exc:
                raise GenerationError(str(exc)) from exc
        if self.judge not in filters.JUDGES:
            raise GenerationError(f"unknown judge {self.judge!r}")
        if any(n < 1 for n in self.per_chunk.values()):
            raise GenerationError("--per-chunk must be at least 1")
        if not self.timeout_s > 0:
            raise GenerationError(f"timeout must be positive seconds (got {self.timeout_s})")
        if self.max_retries < 0 or self.fail_fast < 1:
            raise GenerationError("max_retries must be >= 0 and fail_fast >= 1")
        if self.batch_chunks < 1 or self.concurrency < 1:
            raise GenerationError("batch_chunks and concurrency must be at least 1")
        if self.limit_chunks is not None and self.limit_chunks < 1:
            raise GenerationError("--limit-chunks must be at least 1 (or left out for all)")
        if self.examples is not None:
            try:
                clean_examples(self.examples)
            except ExamplesError as exc:
                raise GenerationError(str(exc)) from exc

    @property
    def writer_kinds(self) -> list[str]:
        """The selected kinds a question writer answers."""
        return [k for k in self.kinds if kinds.needs_writer(k)]

    def count_for(self, kind: str) -> int | None:
        """Queries per chunk of `kind`: chosen, else the kind's default (None = it decides
        per chunk, e.g. inverse cloze by chunk length)."""
        return self.per_chunk.get(kind, kinds.get_kind(kind).default_per_chunk)

    def count(self, kind: str) -> int:
        return int(self.count_for(kind) or 1)

    def writer_options(self) -> WriterOptions:
        return WriterOptions(
            model=self.model,
            base_url=self.base_url,
            api_key_env=self.api_key_env,
            concurrency=self.concurrency,
            timeout_s=self.timeout_s,
            max_retries=self.max_retries,
            sampling=any(self.count(k) > 1 for k in self.writer_kinds),
        )

    def to_params(self) -> dict[str, Any]:
        """JSON-able settings (for job params); holds no secret."""
        out = asdict(self)
        out["kinds"] = list(self.kinds)
        if self.examples is not None:
            out["examples"] = list(self.examples)
        if self.chunk_ids is not None:
            out["chunk_ids"] = list(self.chunk_ids)
        return out

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> GenerateSettings:
        p = dict(params)
        p.pop("resume", None)
        if isinstance(p.get("filters"), dict):
            p["filters"] = FilterSettings(**p["filters"])
        if "kinds" in p:
            p["kinds"] = tuple(p["kinds"])
        if p.get("examples") is not None:
            p["examples"] = tuple(p["examples"])
        if p.get("chunk_ids") is not None:
            p["chunk_ids"] = tuple(p["chunk_ids"])
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in p.items() if k in known})


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
