"""Generate synthetic pairs for a workspace: incremental, resumable, filtered as they arrive.

Chunks are processed in batches; each batch's pairs (kept and dropped, with reasons) and its
generation_log rows are committed together, so an interrupted run loses at most one batch and a
rerun skips every (chunk, kind, writer) logged 'done' (another writer, or `write_again`, writes
anew). A chunk whose request failed is logged 'error'
with the reason and is tried again by the next run. An endpoint that fails `fail_fast`
requests in a row before any succeeds stops the run with GenerationError (nothing it did is
undone; earlier pairs are never touched).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.generation import filters, kinds, pseudo
from core.generation.bundled_llms import DEFAULT_LOCAL_LLM, LocalModelError, bundled_llm
from core.generation.examples import ExamplesError, clean_examples, load_examples
from core.generation.filters import FilterSettings
from core.generation.providers import (
    DEFAULT_API_KEY_ENV,
    AnswerFormatError,
    LocalSettings,
    LocalWriter,
    QuestionWriter,
    make_writer,
)
from core.generation.splits import assign_splits, chunk_splits
from core.generation.types import LLM_KINDS, Candidate
from core.models import DEFAULT_BASE_MODEL
from core.pairs import insert_pair
from core.store import Workspace, now_iso

ALL_KINDS = (*LLM_KINDS, *pseudo.PSEUDO_KINDS)

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


# Questions (or pseudo-queries) per chunk per kind unless given; inverse cloze goes by the
# chunk's length (core.generation.pseudo.ict_queries_for).
DEFAULT_PER_CHUNK: dict[str, int] = {
    "simple": 1,
    "multi-hop": 1,
    "structural": 1,
    "contextual": 1,
    "keywords": 1,
    "heading": 1,
}


# generation_log's writer of every pseudo-query kind; an LLM kind's is the writer's name
# ("openai:MODEL", "local:..."): a rerun with another model writes again, while the same model
# behind a new URL (a restarted server) resumes.
PSEUDO_WRITER = "pseudo"


class GenerationError(Exception):
    """The run cannot go on (bad settings, or an endpoint that fails every request)."""


@dataclass
class GenerateSettings:
    """One generation run.

    provider: 'local' (a bundled model, offline) or 'openai' (any OpenAI-compatible endpoint).
    model: for 'local' the bundled writer (core.generation.bundled_llms; None = SmolLM2), for
    'openai' the endpoint's model. base_url/api_key_env: the endpoint (the key itself is read
    from that env variable).
    kinds: question kinds; per_chunk: count per chunk for each kind (missing = default).
    limit_chunks: only the first N chunks (document order); None = all.
    chunk_ids: only these chunks (applied before limit_chunks); None = all.
    judge: 'auto' (LLM judge for the openai provider, heuristic for local), 'llm', 'heuristic'
    or 'none'. Pseudo-queries are always judged heuristically.
    ict_remove_sentence: inverse cloze positives without the query sentence.
    batch_chunks: chunks per committed batch; concurrency/timeout_s: endpoint requests at
    once and seconds per request; fail_fast: consecutive failures (with no success yet) that
    stop the run; max_llm_chunks: cap on chunks the local LLM writes for (~0.35
    questions/s on 2 CPU cores, so 300 chunks take ~15 min), None = no cap.
    write_again: write for every selected chunk and kind, also those this writer has done
    (a rerun otherwise resumes: it skips each (chunk, kind) its writer already wrote).
    examples: example questions for every LLM prompt (core.generation.examples); None = the
    workspace's stored ones.
    """

    provider: str = "local"
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
        unknown = [k for k in self.kinds if k not in ALL_KINDS]
        if unknown:
            raise GenerationError(
                f"unknown kind(s) {', '.join(unknown)}; choose from {', '.join(ALL_KINDS)}"
            )
        if not self.kinds:
            raise GenerationError("no kinds selected")
        if self.provider not in ("local", "openai"):
            raise GenerationError(f"unknown provider {self.provider!r} (local or openai)")
        if self.provider == "openai" and not any(k in LLM_KINDS for k in self.kinds):
            raise GenerationError(
                f"an endpoint writes LLM kinds only, and {', '.join(self.kinds)} needs none: "
                f"add one of {', '.join(LLM_KINDS)} to the kinds, or leave the endpoint out"
            )
        if self.provider == "local" and self.model:
            try:
                bundled_llm(self.model)
            except LocalModelError as exc:
                raise GenerationError(str(exc)) from exc
        if self.judge not in ("auto", "llm", "heuristic", "none"):
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

    def count(self, kind: str) -> int:
        return int(self.per_chunk.get(kind, DEFAULT_PER_CHUNK.get(kind, 1)))

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


def progress_line(done: int, total: int, counts: dict[str, int]) -> str:
    """The one-line progress of a run (CLI, job message, page), skipped chunks included."""
    line = f"[{done}/{total} chunks] kept {counts['kept']}, dropped {counts['dropped']}"
    if counts.get("errors"):
        line += f", errors {counts['errors']}"
    if counts.get("skipped"):
        line += f", skipped {counts['skipped']} already written by this writer"
    return line


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
    assign_splits(ws)
    from core.documents import list_chunks

    all_chunks = list_chunks(ws)
    if not all_chunks:
        raise GenerationError("the workspace has no chunks: ingest documents first")
    selected = all_chunks
    if settings.chunk_ids is not None:
        wanted = set(settings.chunk_ids)
        selected = [c for c in all_chunks if c["id"] in wanted]
    selected = selected[: settings.limit_chunks] if settings.limit_chunks else selected
    llm_kinds = [k for k in settings.kinds if k in LLM_KINDS]
    pseudo_kinds = [k for k in settings.kinds if k in pseudo.PSEUDO_KINDS]
    if llm_kinds and writer is None:
        writer = _make_writer(settings)

    if embedder is None:
        from core.models import load_sentence_model

        embedder = load_sentence_model(settings.base_model)
    chunk_ids = [c["id"] for c in all_chunks]
    row_of = {cid: i for i, cid in enumerate(chunk_ids)}
    by_id = {c["id"]: c for c in all_chunks}
    chunk_emb = chunk_embeddings(ws, all_chunks, embedder, settings.base_model)
    passages = {c["id"]: c["text"] for c in all_chunks}

    llm_writer = writer.name if writer is not None else ""

    def writer_of(kind: str) -> str:
        return PSEUDO_WRITER if kind in pseudo.PSEUDO_KINDS else llm_writer

    with ws.connect() as conn:
        done = set()
        if not settings.write_again:
            done = {
                (r["chunk_id"], r["kind"], r["writer"])
                for r in conn.execute(
                    "SELECT chunk_id, kind, writer FROM generation_log WHERE status='done'"
                )
            }
        kept_rows = conn.execute("SELECT id, query FROM pairs WHERE status != 'dropped'").fetchall()
        split_of = chunk_splits(conn)
    dedup = filters.DuplicateIndex(settings.filters.duplicate_cosine, chunk_emb.shape[1])
    if kept_rows:
        dedup.add(
            _encode(embedder, [r["query"] for r in kept_rows]),
            [r["query"][:60] for r in kept_rows],
            [r["query"] for r in kept_rows],
        )
    prompts_dir = Path(settings.prompts_dir) if settings.prompts_dir else None
    examples = load_examples(ws) if settings.examples is None else clean_examples(settings.examples)
    from core.generation.prompts import template_phrases

    phrases = template_phrases(prompts_dir)

    doc_of = {c["id"]: c["document_id"] for c in all_chunks}
    context = FilterContext(
        embedder,
        chunk_ids,
        chunk_emb,
        passages,
        phrases,
        dedup,
        writer,
        prompts_dir,
        examples,
        doc_of,
    )
    pseudo_by_chunk = _pseudo_candidates(pseudo_kinds, selected, all_chunks, settings)
    llm_budget = (
        settings.max_llm_chunks
        if isinstance(writer, LocalWriter) and settings.max_llm_chunks
        else None
    )

    summary: dict[str, Any] = {
        "chunks_total": len(selected),
        "chunks_processed": 0,
        "chunks_skipped": 0,
        "kept": 0,
        "dropped": 0,
        "dropped_by_reason": Counter(),
        "by_kind": {},
        "errors": 0,
        "error_examples": [],
        "llm_questions": 0,
        "llm_seconds": 0.0,
        "kept_examples": [],
        "dropped_examples": [],
        "funnel": {f: {"in": 0, "dropped": 0} for f in filters.FILTER_ORDER},
        "origin": writer.name if writer is not None else "pseudo",
        "examples": examples if llm_kinds else [],
    }
    llm_ok = 0
    failures_in_a_row = 0
    llm_chunks_used = 0
    progress_counts = {"kept": 0, "dropped": 0, "errors": 0, "skipped": 0}

    for start in range(0, len(selected), max(1, settings.batch_chunks)):
        batch = selected[start : start + settings.batch_chunks]
        candidates: list[Candidate] = []
        log_rows: list[tuple[int, str, str, str, str]] = []  # chunk, kind, writer, status, error
        requests: list[tuple[dict, str, list[int]]] = []  # (chunk, kind, positives)
        convs = []
        for chunk in batch:
            todo = [k for k in settings.kinds if (chunk["id"], k, writer_of(k)) not in done]
            if not todo:
                summary["chunks_skipped"] += 1
                continue
            for kind in todo:
                if kind in pseudo.PSEUDO_KINDS:
                    candidates += pseudo_by_chunk.get((chunk["id"], kind), [])
                    log_rows.append((chunk["id"], kind, PSEUDO_WRITER, "done", ""))
                    continue
                if llm_budget is not None and llm_chunks_used >= llm_budget:
                    continue  # not logged: a later run with a larger budget does it
                related = []
                if kind == "multi-hop":
                    related = [
                        by_id[i]
                        for i in kinds.related_chunks(
                            row_of[chunk["id"]],
                            chunk_emb,
                            chunk_ids,
                            allowed=lambda cid, c=chunk: split_of.get(cid) == split_of.get(c["id"]),
                        )
                    ]
                    if not related:
                        log_rows.append((chunk["id"], kind, llm_writer, "done", "no related chunk"))
                        continue
                before = ""
                if kind == "contextual":
                    prev = row_of[chunk["id"]] - 1
                    if prev >= 0 and all_chunks[prev]["document_id"] == chunk["document_id"]:
                        before = all_chunks[prev]["text"]
                n = settings.count(kind)
                conv = kinds.build_conversation(
                    kind, chunk, n, writer.structured, related, before, prompts_dir, examples
                )
                positives = [chunk["id"], *[r["id"] for r in related]]
                # The local model writes one question per call: repeat the call n times.
                repeats = 1 if writer.structured else n
                for _ in range(repeats):
                    requests.append((chunk, kind, positives))
                    convs.append(conv)
            if any(k in LLM_KINDS for k in todo) and llm_budget is not None:
                llm_chunks_used += 1
            summary["chunks_processed"] += 1

        if convs:
            t = time.perf_counter()
            answers = writer.answer(convs)
            summary["llm_seconds"] += time.perf_counter() - t
            errors_by_key: dict[tuple[int, str], str] = {}
            ok_keys: set[tuple[int, str]] = set()
            for (chunk, kind, positives), ans in zip(requests, answers, strict=True):
                key = (chunk["id"], kind)
                try:
                    if not ans.ok:
                        raise AnswerFormatError(ans.error or "no answer")
                    new = kinds.parse_answer(
                        ans.text or "",
                        kind,
                        chunk["id"],
                        positives,
                        writer.name,
                        writer.structured,
                        settings.count(kind),
                    )
                    candidates += new
                    summary["llm_questions"] += len(new)
                    ok_keys.add(key)
                    llm_ok += 1
                    failures_in_a_row = 0
                except AnswerFormatError as exc:
                    errors_by_key.setdefault(key, str(exc))
                    failures_in_a_row += 1
            for key in {(c["id"], k) for c, k, _ in requests}:
                if key in ok_keys:
                    log_rows.append((key[0], key[1], llm_writer, "done", ""))
                else:
                    error = errors_by_key.get(key, "")[:500]
                    log_rows.append((key[0], key[1], llm_writer, "error", error))
                    summary["errors"] += 1
                    if len(summary["error_examples"]) < 5:
                        summary["error_examples"].append(
                            {"chunk_id": key[0], "kind": key[1], "error": errors_by_key.get(key)}
                        )

        _filter(candidates, settings, context, summary)
        _store(ws, candidates, log_rows, split_of)
        for c in candidates:
            bucket = summary["by_kind"].setdefault(c.kind, {"kept": 0, "dropped": 0})
            if c.dropped:
                summary["dropped"] += 1
                bucket["dropped"] += 1
                summary["dropped_by_reason"][c.reason.split(":", 1)[0]] += 1
                if len(summary["dropped_examples"]) < 12:
                    summary["dropped_examples"].append(
                        {"query": c.query, "kind": c.kind, "reason": c.reason}
                    )
            else:
                summary["kept"] += 1
                bucket["kept"] += 1
                if len(summary["kept_examples"]) < 12:
                    summary["kept_examples"].append(
                        {"query": c.query, "kind": c.kind, "reason": c.reason}
                    )
        progress_counts.update(
            kept=summary["kept"],
            dropped=summary["dropped"],
            errors=summary["errors"],
            skipped=summary["chunks_skipped"],
        )
        if on_progress:
            on_progress(
                min(start + len(batch), len(selected)), len(selected), dict(progress_counts)
            )
        if llm_ok == 0 and failures_in_a_row >= settings.fail_fast:
            first = summary["error_examples"][0]["error"] if summary["error_examples"] else "?"
            raise GenerationError(
                f"the question writer ({writer.name if writer else '?'}) failed "
                f"{failures_in_a_row} requests in a row and none succeeded: {first}"
            )

    if llm_kinds and summary["errors"] and llm_ok == 0:
        first = summary["error_examples"][0]["error"] if summary["error_examples"] else "?"
        raise GenerationError(
            f"every request to the question writer failed ({summary['errors']} chunks): {first}"
        )
    summary["dropped_by_reason"] = dict(summary["dropped_by_reason"])
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    summary["llm_seconds"] = round(summary["llm_seconds"], 2)
    summary["llm_questions_per_s"] = (
        round(summary["llm_questions"] / summary["llm_seconds"], 2)
        if summary["llm_seconds"] > 0
        else None
    )
    summary["funnel"] = {
        k: {**v, "kept_share": round(1 - v["dropped"] / v["in"], 3) if v["in"] else None}
        for k, v in summary["funnel"].items()
    }
    return summary


def _make_writer(settings: GenerateSettings) -> QuestionWriter:
    from core.generation.providers import RetryPolicy

    if settings.provider == "local":
        # Several questions per chunk from one prompt need a little sampling to differ.
        temperature = 0.3 if any(settings.count(k) > 1 for k in LLM_KINDS) else 0.0
        return LocalWriter(
            LocalSettings(model=settings.model or DEFAULT_LOCAL_LLM, temperature=temperature)
        )
    return make_writer(
        "openai",
        model=settings.model,
        base_url=settings.base_url,
        api_key_env=settings.api_key_env,
        concurrency=settings.concurrency,
        timeout_s=settings.timeout_s,
        retry=RetryPolicy(max_retries=settings.max_retries),
    )


def _encode(embedder: Any, texts: Sequence[str]) -> np.ndarray:
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    return np.asarray(
        embedder.encode(
            list(texts),
            batch_size=32,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        ),
        dtype=np.float32,
    )


def chunk_embeddings(
    ws: Workspace, chunks: Sequence[dict], embedder: Any, model_name: str
) -> np.ndarray:
    """L2-normalised embeddings of `chunks` [n, d], cached in the workspace (cache/ folder) by
    model name and chunk text, so reruns encode only new or changed chunks."""
    import hashlib

    slug = hashlib.sha1(model_name.encode()).hexdigest()[:12]
    path = ws.root / "cache" / f"chunk-embeddings-{slug}.npz"
    keys = [hashlib.sha1(f"{c['id']}:{c['text']}".encode()).hexdigest() for c in chunks]
    cached: dict[str, np.ndarray] = {}
    if path.is_file():
        try:
            with np.load(path) as data:
                cached = dict(zip(data["keys"].tolist(), data["emb"], strict=True))
        except (OSError, ValueError, KeyError):
            cached = {}  # a damaged cache is rebuilt
    missing = [i for i, k in enumerate(keys) if k not in cached]
    if missing:
        fresh = _encode(embedder, [chunks[i]["text"] for i in missing])
        for i, row in zip(missing, fresh, strict=True):
            cached[keys[i]] = row
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_suffix(f".tmp-{os.getpid()}.npz")
        np.savez(tmp, keys=np.array(keys), emb=np.stack([cached[k] for k in keys]))
        os.replace(tmp, path)
    if not keys:
        return np.zeros((0, 384), dtype=np.float32)
    return np.stack([cached[k] for k in keys]).astype(np.float32)


def _pseudo_candidates(
    pseudo_kinds: Sequence[str],
    selected: Sequence[dict],
    all_chunks: Sequence[dict],
    settings: GenerateSettings,
) -> dict[tuple[int, str], list[Candidate]]:
    out: dict[tuple[int, str], list[Candidate]] = {}
    made: list[Candidate] = []
    if "ict" in pseudo_kinds:
        made += pseudo.ict_candidates(
            selected,
            settings.per_chunk.get("ict"),  # None: by chunk length
            remove_from_positive=settings.ict_remove_sentence,
        )
    if "keywords" in pseudo_kinds:
        made += pseudo.keyword_candidates(selected, settings.count("keywords"), corpus=all_chunks)
    if "heading" in pseudo_kinds:
        # Groups are formed over all chunks so that a heading's positives are all its chunks.
        made += pseudo.heading_candidates(all_chunks, settings.count("heading"))
    for c in made:
        out.setdefault((c.chunk_id, c.kind), []).append(c)
    return out


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
    dedup: filters.DuplicateIndex
    writer: QuestionWriter | None
    prompts_dir: Path | None
    examples: Sequence[str]
    doc_of: dict[int, int] = field(default_factory=dict)


def _filter(
    candidates: list[Candidate],
    settings: GenerateSettings,
    ctx: FilterContext,
    summary: dict[str, Any],
) -> None:
    if not candidates:
        return
    fs = settings.filters
    funnel = summary["funnel"]
    embedder, chunk_ids, chunk_emb, passages = (
        ctx.embedder,
        ctx.chunk_ids,
        ctx.chunk_emb,
        ctx.passages,
    )
    dedup, writer, prompts_dir = ctx.dedup, ctx.writer, ctx.prompts_dir

    def junk() -> None:
        filters.apply_junk(candidates, passages, ctx.phrases, fs)
        filters.apply_example_copies(candidates, ctx.examples)

    def stage(name: str, fn: Callable[[], None]) -> None:
        alive = sum(not c.dropped for c in candidates)
        fn()
        funnel[name]["in"] += alive
        funnel[name]["dropped"] += alive - sum(not c.dropped for c in candidates)

    stage("junk", junk)
    q_emb = _encode(embedder, [c.query for c in candidates])
    stage(
        "roundtrip",
        lambda: filters.apply_roundtrip(
            candidates, q_emb, chunk_ids, chunk_emb, fs.roundtrip_k_for
        ),
    )
    stage(
        "generic",
        lambda: filters.apply_generic(candidates, q_emb, chunk_ids, chunk_emb, ctx.doc_of, fs),
    )
    stage("duplicate", lambda: dedup.apply(candidates, q_emb))

    def judge() -> None:
        alive = [c for c in candidates if not c.dropped]
        mode = settings.judge
        if mode == "auto":
            mode = "llm" if writer is not None and writer.structured else "heuristic"
        if mode == "none":
            return
        llm_alive = [c for c in alive if c.is_llm] if mode == "llm" and writer else []
        if llm_alive:
            errors = filters.llm_judge(writer, llm_alive, passages, prompts_dir)  # type: ignore[arg-type]
            for c, err in zip(llm_alive, errors, strict=True):
                if err:
                    c.notes.append(f"LLM judge failed ({err[:80]}), heuristic used")
        index = {cid: i for i, cid in enumerate(chunk_ids)}
        q_row = {id(c): i for i, c in enumerate(candidates)}
        # Every pair gets scores, dropped ones too, so the review table can sort all of them;
        # the heuristic is cheap, the LLM judge is spent on survivors only.
        for c in candidates:
            if c.judge is None:
                text = " ".join(passages.get(p, "") for p in c.positives)
                cos = (
                    max(
                        float(q_emb[q_row[id(c)]] @ chunk_emb[index[p]])
                        for p in c.positives
                        if p in index
                    )
                    if any(p in index for p in c.positives)
                    else 0.0
                )
                c.judge = filters.heuristic_judge(c, text, cos)
        filters.apply_judge_threshold(candidates, fs.min_judge_score)

    stage("judge", judge)
    filters.finish_reasons(candidates)


def _store(
    ws: Workspace,
    candidates: Sequence[Candidate],
    log_rows: Sequence[tuple[int, str, str, str, str]],
    split_of: dict[int, str],
) -> None:
    """Commit one batch: its pairs, their positives and the generation_log rows."""
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
