"""Hard-negative mining (docs/ARCHITECTURE.md, "Pairs and negatives").

Chunks and curated queries are embedded with the chosen model (the base model, or a run's
model for ANCE-style re-mining; chunks through the one embedding cache) and searched through
`core.retrieval.faiss_index` in blocks of queries, so memory is bounded by the corpus vectors
plus one block of results. From `approximate_from` chunks on, the "auto" index is an
approximate one (IVF), since exact search grows with chunks x queries; "exact", "ivf" and
"hnsw" force a kind. Scores are exact cosines either way. Measured in bench/RESULTS_scale.md.
For each query every known positive is removed and
candidates are kept only strictly below a margin under the weakest positive:

    threshold = min_pos - m * |min_pos|     (relative margin m, sign-safe: also right when
                                             min_pos < 0, where 0.95 * min_pos would be above it)
    threshold = min_pos - a                 (absolute margin a)

(both apply when both are set). Optionally the top N non-positive candidates are skipped and
chunks of a positive's own document excluded; the best K remaining are the negatives. Results
go to the `minings` and `negatives` tables; job kind "mine" runs it in the background.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.embedding_cache import CHUNK_SPACE, embed_texts, encode
from core.jobs import JobContext, register_handler
from core.mining_settings import INDEX_KINDS as INDEX_KINDS  # the CLI's and page's choices
from core.mining_settings import MiningSettings as MiningSettings
from core.retrieval.base import Passages
from core.retrieval.faiss_index import FaissRetriever, IndexKind
from core.store import Workspace, now_iso

register_handler("mine", "core.mining:mine_job")


# ----------------------------------------------------------------------------- pure selection
def margin_threshold(
    min_pos: float, relative_margin: float | None, absolute_margin: float | None
) -> float:
    """Scores must be strictly below this to count as negatives (+inf when no margin is set).

    Sign-safe relative form `min_pos - m*|min_pos|`: for min_pos = -0.2 and m = 0.05 it is
    -0.21 (below the positive), whereas `0.95 * min_pos` = -0.19 would lie above it.
    """
    limits = [math.inf]
    if relative_margin is not None:
        limits.append(min_pos - relative_margin * abs(min_pos))
    if absolute_margin is not None:
        limits.append(min_pos - absolute_margin)
    return min(limits)


@dataclass
class Selection:
    """Negatives of one query: (chunk id, score, rank among all chunks) best first."""

    negatives: list[tuple[int, float, int]]
    removed_by_margin: int
    threshold: float


def select_negatives(
    cand_ids: Sequence[int],
    cand_scores: Sequence[float],
    positive_ids: set[int],
    positive_scores: Sequence[float],
    k: int,
    relative_margin: float | None = 0.05,
    absolute_margin: float | None = None,
    skip_top: int = 0,
    blocked_ids: set[int] | None = None,
) -> Selection:
    """Pick up to k negatives from candidates sorted by score, best first.

    Rank = 1-based position of the candidate among all chunks (positives included).
    Positives and `blocked_ids` never count; the first `skip_top` other candidates are
    skipped; candidates at or above the margin threshold are counted in `removed_by_margin`
    (only those that would otherwise have been eligible) and dropped.
    """
    min_pos = min(positive_scores) if len(positive_scores) else math.inf
    threshold = margin_threshold(min_pos, relative_margin, absolute_margin)
    blocked = blocked_ids or set()
    out: list[tuple[int, float, int]] = []
    removed = skipped = 0
    for rank0, (cid, score) in enumerate(zip(cand_ids, cand_scores, strict=True)):
        cid = int(cid)
        if cid < 0 or cid in positive_ids or cid in blocked:
            continue
        if skipped < skip_top:
            skipped += 1
            continue
        if not score < threshold:
            removed += 1
            continue
        out.append((cid, float(score), rank0 + 1))
        if len(out) >= k:
            break
    return Selection(out, removed, threshold)


# ----------------------------------------------------------------------------- search
@dataclass
class MiningResult:
    """Per query (index into the query list): its selection and positive scores."""

    selections: list[Selection]
    positive_scores: list[list[float]]
    stats: dict[str, Any]


def mine_embeddings(
    query_emb: np.ndarray,
    chunk_emb: np.ndarray,
    positives: list[list[int]],
    settings: MiningSettings,
    blocked: list[set[int]] | None = None,
    on_block: Callable[[int, int], None] | None = None,
) -> MiningResult:
    """Mine from normalised embeddings. `positives[i]` holds row indices of chunk_emb for
    query i (`blocked[i]` likewise). Candidate ids in the result are chunk_emb row indices."""
    settings.validate()
    q = np.ascontiguousarray(query_emb, dtype=np.float32)
    c = np.ascontiguousarray(chunk_emb, dtype=np.float32)
    max_pos = max((len(p) for p in positives), default=0)
    depth = settings.depth or (settings.skip_top + 8 * settings.negatives + max_pos + 32)
    index = FaissRetriever(
        Passages([""] * len(c)),
        c,
        index_kind(settings, len(c)),
        depth,
        settings.nprobe,
        settings.ef_search,
    )
    depth = min(depth, index.max_k)
    selections: list[Selection] = []
    pos_scores: list[list[float]] = []
    n = len(q)
    for start in range(0, n, settings.query_block):
        block = q[start : start + settings.query_block]
        hits = index.search_embeddings(block, depth)  # [b, depth] each: bounded memory
        scores, ids = hits.scores, hits.indices
        for j in range(len(block)):
            i = start + j
            pos = positives[i]
            ps = (c[pos] @ block[j]).tolist() if pos else []  # [n_pos]
            pos_scores.append(ps)
            selections.append(
                select_negatives(
                    ids[j],
                    scores[j],
                    set(pos),
                    ps,
                    settings.negatives,
                    settings.relative_margin,
                    settings.absolute_margin,
                    settings.skip_top,
                    blocked[i] if blocked else None,
                )
            )
        if on_block:
            on_block(min(n, start + settings.query_block), n)
    stats = {**mining_stats(selections, pos_scores, settings), "index": index.described}
    return MiningResult(selections, pos_scores, stats)


def index_kind(settings: MiningSettings, n_chunks: int) -> IndexKind:
    """The index kind a mining over `n_chunks` uses: `settings.index`, or for "auto" exact
    below `settings.approximate_from` chunks and ivf from there on."""
    if settings.index != "auto":
        return settings.index
    return "ivf" if n_chunks >= settings.approximate_from else "exact"


def mining_stats(
    selections: list[Selection], pos_scores: list[list[float]], settings: MiningSettings
) -> dict[str, Any]:
    """Counts and means shown on the Negatives page."""
    all_pos = [s for ps in pos_scores for s in ps]
    all_neg = [s for sel in selections for _, s, _ in sel.negatives]
    return {
        "queries": len(selections),
        "negatives": len(all_neg),
        "removed_by_margin": int(sum(s.removed_by_margin for s in selections)),
        "mean_positive_score": float(np.mean(all_pos)) if all_pos else None,
        "mean_negative_score": float(np.mean(all_neg)) if all_neg else None,
        "queries_short_of_k": int(sum(len(s.negatives) < settings.negatives for s in selections)),
    }


# ----------------------------------------------------------------------------- workspace
def _curated_queries(ws: Workspace, splits: tuple[str, ...]) -> list[tuple[int, str, list[int]]]:
    from core.training.data import curated_pairs

    out = []
    for split in splits:
        for pid, (query, pos) in curated_pairs(ws, split).items():
            out.append((pid, query, pos))
    flags: dict[int, list[int]] = {}
    with ws.connect() as conn:
        for r in conn.execute(
            "SELECT pair_id, chunk_id FROM false_negatives WHERE action = ?", ("positive",)
        ):
            flags.setdefault(r["pair_id"], []).append(r["chunk_id"])
    return sorted((pid, q, sorted(set(p) | set(flags.get(pid, [])))) for pid, q, p in out)


def mine_workspace(
    ws: Workspace,
    settings: MiningSettings,
    on_progress: Callable[[int, int, str], None] | None = None,
    model=None,
) -> dict[str, Any]:
    """Mine negatives for the curated queries of `settings.splits`; store them as a new
    mining; return {"mining_id", "stats"}. `model` overrides loading `settings.model`."""
    from core.devices import resolve_device as best_device  # the one device resolver
    from core.runs import model_location

    settings.validate()
    say = on_progress or (lambda s, t, m: None)
    t0 = time.monotonic()
    pairs = _curated_queries(ws, settings.splits)
    if not pairs:
        raise ValueError("no curated pairs to mine for: accept some pairs first")
    with ws.connect() as conn:
        rows = conn.execute("SELECT id, document_id, text FROM chunks ORDER BY id").fetchall()
    if len(rows) < 2:
        raise ValueError("the workspace needs at least two chunks to mine negatives")
    chunk_ids = [r["id"] for r in rows]
    row_of = {cid: i for i, cid in enumerate(chunk_ids)}
    location = model_location(ws, settings.model)
    if model is None:
        from core.models import load_sentence_model  # knows the MoE model type of MoE runs

        model = load_sentence_model(location, device=best_device())
    texts = [r["text"] for r in rows]
    # The one embedding cache: chunks generation's filters or an earlier mining embedded with
    # this model are read, not embedded again.
    chunk_emb = embed_texts(
        ws,
        CHUNK_SPACE,
        texts,
        location,
        model,
        settings.batch_size,
        lambda d, t: say(d, t + len(pairs), "embedding chunks"),
    )
    query_emb = encode(model, [q for _, q, _ in pairs], settings.batch_size)
    positives = [[row_of[c] for c in pos if c in row_of] for _, _, pos in pairs]
    blocked = None
    if settings.exclude_same_document:
        doc_of = [r["document_id"] for r in rows]
        rows_of_doc: dict[int, set[int]] = {}
        for i, d in enumerate(doc_of):
            rows_of_doc.setdefault(d, set()).add(i)
        blocked = [set().union(*(rows_of_doc[doc_of[p]] for p in pos)) for pos in positives]
    result = mine_embeddings(
        query_emb,
        chunk_emb,
        positives,
        settings,
        blocked,
        on_block=lambda d, t: say(len(texts) + d, len(texts) + t, "searching"),
    )
    stats = {**result.stats, "seconds": round(time.monotonic() - t0, 2), "chunks": len(rows)}
    with ws.transaction() as conn:
        cur = conn.execute(
            "INSERT INTO minings (created_at, config, stats) VALUES (?, ?, ?)",
            (now_iso(), json.dumps(asdict(settings)), json.dumps(stats)),
        )
        mining_id = cur.lastrowid
        conn.executemany(
            "INSERT INTO negatives (mining_id, pair_id, chunk_id, score, rank)"
            " VALUES (?, ?, ?, ?, ?)",
            [
                (mining_id, pid, chunk_ids[row], score, rank)
                for (pid, _, _), sel in zip(pairs, result.selections, strict=True)
                for row, score, rank in sel.negatives
            ],
        )
    # Positive scores are not rows of `negatives`; keep them beside the database for the page.
    sidecar = positives_file(ws, mining_id)
    sidecar.parent.mkdir(exist_ok=True)
    sidecar.write_text(
        json.dumps(
            {
                str(pid): [[chunk_ids[r], s] for r, s in zip(pos, ps, strict=True)]
                for (pid, _, _), pos, ps in zip(
                    pairs, positives, result.positive_scores, strict=True
                )
            }
        )
    )
    return {"mining_id": mining_id, "stats": stats}


def positives_file(ws: Workspace, mining_id: int) -> Path:
    """`minings/<id>-positives.json`: pair id -> [[chunk id, cosine], ...] of its positives."""
    return ws.mining_positives_file(mining_id)


def positive_scores(ws: Workspace, mining_id: int) -> dict[int, dict[int, float]]:
    """pair id -> {positive chunk id: cosine under the mining model} ({} if unknown)."""
    path = positives_file(ws, mining_id)
    if not path.is_file():
        return {}
    return {
        int(p): {int(c): float(s) for c, s in v} for p, v in json.loads(path.read_text()).items()
    }


def list_minings(ws: Workspace) -> list[dict[str, Any]]:
    with ws.connect() as conn:
        rows = conn.execute("SELECT * FROM minings ORDER BY id DESC").fetchall()
    return [
        {**dict(r), "config": json.loads(r["config"]), "stats": json.loads(r["stats"])}
        for r in rows
    ]


def mined_queries(ws: Workspace, mining_id: int) -> list[dict[str, Any]]:
    """The queries a mining found negatives for, as {id, query}, by pair id."""
    with ws.connect() as conn:
        rows = conn.execute(
            "SELECT DISTINCT p.id, p.query FROM negatives n JOIN pairs p ON p.id = n.pair_id"
            " WHERE n.mining_id = ? ORDER BY p.id",
            (mining_id,),
        ).fetchall()
    return [dict(r) for r in rows]


def query_view(ws: Workspace, pair_id: int, mining_id: int) -> dict[str, Any]:
    """One query's positives (with scores under the mining model when known) and negatives
    with score, rank and false-negative flag, plus the margin threshold."""
    with ws.connect() as conn:
        pair = conn.execute("SELECT id, query FROM pairs WHERE id = ?", (pair_id,)).fetchone()
        pos = conn.execute(
            "SELECT c.id, c.text FROM pair_positives pp JOIN chunks c ON c.id = pp.chunk_id"
            " WHERE pp.pair_id = ? ORDER BY c.id",
            (pair_id,),
        ).fetchall()
        negs = conn.execute(
            "SELECT n.chunk_id, n.score, n.rank, c.text, f.action FROM negatives n"
            " JOIN chunks c ON c.id = n.chunk_id LEFT JOIN false_negatives f"
            " ON f.pair_id = n.pair_id AND f.chunk_id = n.chunk_id"
            " WHERE n.mining_id = ? AND n.pair_id = ? ORDER BY n.rank",
            (mining_id, pair_id),
        ).fetchall()
        cfg_row = conn.execute("SELECT config FROM minings WHERE id = ?", (mining_id,)).fetchone()
    return {
        "query": pair["query"] if pair else "",
        "positives": [dict(r) for r in pos],
        "negatives": [dict(r) for r in negs],
        "config": json.loads(cfg_row["config"]) if cfg_row else {},
    }


def flag_false_negative(ws: Workspace, pair_id: int, chunk_id: int, action: str | None) -> None:
    """Record the user's call on a mined negative: 'positive' (it answers the query: train
    on it as a positive), 'exclude' (drop it), or None to clear the flag."""
    if action not in ("positive", "exclude", None):
        raise ValueError("action must be 'positive', 'exclude' or None")
    with ws.transaction() as conn:
        conn.execute(
            "DELETE FROM false_negatives WHERE pair_id = ? AND chunk_id = ?", (pair_id, chunk_id)
        )
        if action is not None:
            conn.execute(
                "INSERT INTO false_negatives (pair_id, chunk_id, action, at) VALUES (?, ?, ?, ?)",
                (pair_id, chunk_id, action, now_iso()),
            )


def mine_job(ctx: JobContext) -> dict[str, Any]:
    """Job kind "mine": params are `MiningSettings.to_dict()` (a resumed job's also `resume`)."""
    settings = MiningSettings.from_dict({k: v for k, v in ctx.params.items() if k != "resume"})
    return mine_workspace(ws=ctx.ws, settings=settings, on_progress=ctx.progress)
