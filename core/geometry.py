"""Embedding geometry, base vs tuned: anisotropy, positive vs hard-negative similarity
distributions with their separation, and UMAP projections of queries and chunks.

Anisotropy = mean cosine between random pairs of distinct embeddings (0 for directions spread
evenly over the sphere; near 1 when everything sits in a narrow cone). Separation = ROC AUC of
cos(query, positive) against cos(query, hard negative): the probability that a random positive
pair scores above a random negative one. Everything is sampled with a fixed seed and capped.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from core.step_settings import StepSettings, setting
from core.store import Workspace

if TYPE_CHECKING:
    from core.evaluation.compare import ModelSpec


@dataclass
class GeometrySettings(StepSettings):
    """What the embedding-geometry view measures (the settings contract:
    core/step_settings.py)."""

    sample_cap: int = setting(1_000, "Most queries (and, separately, chunks) embedded per model.")
    anisotropy_pairs: int = setting(10_000, "Random pairs averaged for anisotropy.")
    random_negatives: int = setting(4, "Negatives per query drawn at random when no mining exists.")
    split: str | None = setting(None, "Pairs split to use (empty = all curated pairs).")
    projection: Literal["umap", "pca"] = setting(
        "umap", "2-D map: 'umap' (umap-learn) or 'pca' (fast, linear; quick looks and tests)."
    )
    umap_neighbors: int = setting(15, "UMAP: neighbours per point.")
    umap_min_dist: float = setting(0.1, "UMAP: least distance between mapped points.")
    seed: int = setting(0, "Random seed of every sample.")

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> GeometrySettings:
        """The settings in a geometry job's params (which also name the models: other keys
        are left out)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in params.items() if k in names})


def anisotropy(emb: np.ndarray, n_pairs: int = 10_000, seed: int = 0) -> float:
    """Mean cosine between `n_pairs` random pairs of distinct rows of `emb` (any norm)."""
    n = emb.shape[0]
    if n < 2:
        return float("nan")
    unit = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    rng = np.random.default_rng(seed)
    i = rng.integers(0, n, size=n_pairs)
    j = (i + rng.integers(1, n, size=n_pairs)) % n  # j != i
    return float(np.mean(np.sum(unit[i] * unit[j], axis=1)))


def separation_auc(pos: Sequence[float], neg: Sequence[float]) -> float:
    """ROC AUC of positives (label 1) vs negatives (label 0) by score; nan if one is empty."""
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    from sklearn.metrics import roc_auc_score

    y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    return float(roc_auc_score(y, np.r_[np.asarray(pos), np.asarray(neg)]))


def pca_2d(emb: np.ndarray) -> np.ndarray:
    """2-D projection on the first two principal components; (n, 2)."""
    if emb.shape[0] < 2:
        return np.zeros((emb.shape[0], 2))
    centred = emb - emb.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ vt[:2].T
    return np.pad(xy, ((0, 0), (0, 2 - xy.shape[1])))


def umap_2d(
    emb: np.ndarray, seed: int = 0, n_neighbors: int = 15, min_dist: float = 0.1
) -> np.ndarray:
    """2-D UMAP of `emb` (cosine metric, fixed seed); (n, 2). Tiny inputs get zeros."""
    n = emb.shape[0]
    if n < 4:
        return np.zeros((n, 2))
    import umap

    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=max(2, min(n_neighbors, n - 1)),
        min_dist=min_dist,
        metric="cosine",
        random_state=seed,
        init="spectral" if n > 50 else "random",
    )
    return np.asarray(reducer.fit_transform(emb), dtype=np.float64)


@dataclass
class GeometryData:
    """What is embedded: queries with positive and negative chunk ids, and the chunks."""

    queries: list[str]
    positives: list[list[int]]
    negatives: list[list[int]]
    chunk_ids: list[int]
    chunk_text: dict[int, str]
    chunk_doc: dict[int, str]
    query_doc: list[str]
    negatives_source: str


def load_data(ws: Workspace, settings: GeometrySettings) -> GeometryData:
    """Curated pairs (sampled to the cap) with their positives and hard negatives of the latest
    mining, or random chunks when there is none; chunks = those plus random others (capped)."""
    rng = random.Random(settings.seed)
    with ws.connect() as conn:
        sql = "SELECT id, query FROM pairs WHERE status IN ('accepted', 'edited')"
        args: list[Any] = []
        if settings.split:
            sql += " AND split = ?"
            args.append(settings.split)
        pairs = conn.execute(sql + " ORDER BY id", args).fetchall()
        chunks = conn.execute(
            "SELECT c.id, c.text, d.name FROM chunks c JOIN documents d ON d.id = c.document_id"
            " ORDER BY c.id"
        ).fetchall()
        pos_rows = conn.execute("SELECT pair_id, chunk_id FROM pair_positives").fetchall()
        mining = conn.execute("SELECT MAX(id) FROM minings").fetchone()[0]
        neg_rows = (
            conn.execute(
                "SELECT pair_id, chunk_id FROM negatives WHERE mining_id = ? ORDER BY rank",
                (mining,),
            ).fetchall()
            if mining is not None
            else []
        )
    if not chunks:
        raise ValueError("the workspace has no chunks: ingest documents first")
    chunk_text = {r["id"]: r["text"] for r in chunks}
    chunk_doc = {r["id"]: r["name"] for r in chunks}
    pos: dict[int, list[int]] = {}
    for r in pos_rows:
        pos.setdefault(r["pair_id"], []).append(r["chunk_id"])
    neg: dict[int, list[int]] = {}
    for r in neg_rows:
        neg.setdefault(r["pair_id"], []).append(r["chunk_id"])
    pairs = [p for p in pairs if p["id"] in pos]
    if len(pairs) > settings.sample_cap:
        pairs = sorted(rng.sample(pairs, settings.sample_cap), key=lambda p: p["id"])
    all_ids = list(chunk_text)
    negatives: list[list[int]] = []
    for p in pairs:
        if neg_rows:
            negatives.append(neg.get(p["id"], []))
        else:
            pool = [c for c in all_ids if c not in set(pos[p["id"]])]
            negatives.append(rng.sample(pool, min(settings.random_negatives, len(pool))))
    used = {c for p in pairs for c in pos[p["id"]]} | {c for n in negatives for c in n}
    used_list = sorted(used)[: settings.sample_cap]
    rest = [c for c in all_ids if c not in used]
    extra = rng.sample(rest, min(len(rest), max(0, settings.sample_cap - len(used_list))))
    return GeometryData(
        queries=[p["query"] for p in pairs],
        positives=[pos[p["id"]] for p in pairs],
        negatives=negatives,
        chunk_ids=sorted(set(used_list) | set(extra)),
        chunk_text=chunk_text,
        chunk_doc=chunk_doc,
        query_doc=[chunk_doc[pos[p["id"]][0]] for p in pairs],
        negatives_source=f"mining #{mining}" if neg_rows else "random chunks (no mining yet)",
    )


def model_geometry(
    model, data: GeometryData, settings: GeometrySettings, batch_size: int = 32
) -> dict[str, Any]:
    """Anisotropy, positive/negative similarities, AUC and UMAP for one model."""
    ids = sorted(
        {c for p in data.positives for c in p}
        | {c for n in data.negatives for c in n}
        | set(data.chunk_ids)
    )
    row = {c: i for i, c in enumerate(ids)}
    kw = {"batch_size": batch_size, "normalize_embeddings": True, "show_progress_bar": False}
    c_emb = np.asarray(model.encode([data.chunk_text[c] for c in ids], **kw), dtype=np.float32)
    q_emb = (
        np.asarray(model.encode(data.queries, **kw), dtype=np.float32)
        if data.queries
        else np.zeros((0, c_emb.shape[1]), dtype=np.float32)
    )
    pos_sims = [float(q_emb[i] @ c_emb[row[c]]) for i, cs in enumerate(data.positives) for c in cs]
    neg_sims = [float(q_emb[i] @ c_emb[row[c]]) for i, cs in enumerate(data.negatives) for c in cs]
    shown = [row[c] for c in data.chunk_ids]
    points = np.concatenate([q_emb, c_emb[shown]])
    if settings.projection == "pca":
        xy = pca_2d(points)
    else:
        xy = umap_2d(points, settings.seed, settings.umap_neighbors, settings.umap_min_dist)
    return {
        "anisotropy": {
            "chunks": anisotropy(c_emb[shown], settings.anisotropy_pairs, settings.seed),
            "queries": anisotropy(q_emb, settings.anisotropy_pairs, settings.seed),
            "all": anisotropy(points, settings.anisotropy_pairs, settings.seed),
        },
        "pos_sims": pos_sims,
        "neg_sims": neg_sims,
        "auc": separation_auc(pos_sims, neg_sims),
        "umap": {"x": xy[:, 0].tolist(), "y": xy[:, 1].tolist(), "method": settings.projection},
    }


def compute_geometry(
    ws: Workspace,
    specs: list[ModelSpec],
    settings: GeometrySettings | None = None,
    on_progress: Callable[[int, int, str], None] | None = None,
) -> dict[str, Any]:
    """Geometry of each model on the same sample; JSON-able. Points (for UMAP) are the
    queries first, then the chunks, with kind/document/text lists aligned to them."""
    from core.models import load_sentence_model

    settings = settings or GeometrySettings()
    data = load_data(ws, settings)
    out: dict[str, Any] = {
        "settings": asdict(settings),
        "negatives_source": data.negatives_source,
        "points": {
            "kind": ["query"] * len(data.queries) + ["chunk"] * len(data.chunk_ids),
            "document": data.query_doc + [data.chunk_doc[c] for c in data.chunk_ids],
            "text": [q[:200] for q in data.queries]
            + [data.chunk_text[c][:200] for c in data.chunk_ids],
        },
        "models": {},
        "summary": {},
    }
    for i, spec in enumerate(specs):
        if on_progress:
            on_progress(i, len(specs), f"geometry of {spec.label}")
        model = load_sentence_model(spec.location())
        g = model_geometry(model, data, settings)
        out["models"][spec.label] = {**g, "model": spec.model, "run_id": spec.run_id}
        out["summary"][spec.label] = {
            "anisotropy_chunks": g["anisotropy"]["chunks"],
            "anisotropy_queries": g["anisotropy"]["queries"],
            "auc": g["auc"],
            "pos_mean": float(np.mean(g["pos_sims"])) if g["pos_sims"] else float("nan"),
            "neg_mean": float(np.mean(g["neg_sims"])) if g["neg_sims"] else float("nan"),
        }
    if on_progress:
        on_progress(len(specs), len(specs), "geometry done")
    return out
