"""Training data read from a workspace (docs/ARCHITECTURE.md, "Training").

Curated pairs (status accepted or edited) of a split become records, one per (query,
positive): multi-hop pairs with several positives are unrolled and the records share the
query's mined negatives. Negatives come from the latest mining, minus the user's
false-negative flags: action 'positive' turns the chunk into an extra positive, 'exclude'
drops it. The validation split becomes BEIR-style IR dicts for the evaluator.

Kind weights mix the training set (issue 10): a pair of kind k is used w_k times on average,
the whole part of w_k as copies and the fraction as a seeded coin flip (w_k = 0 drops the kind,
a kind left out weighs 1). Weights act on pairs, so a multi-hop pair's records stay together.

Questions imported from a related collection (core/related_questions.py: pairs with a
`source`, their passage in `positive_text`, no positive chunk) train in every fit, the split
run and the final fit alike, whatever `train_split` (but "except:S", the held-out pairs a
final fit continues its split run on: the split run trained on them); they are never
validation queries. Their records have `positive_id` = -pair id (no chunk) and no mined
negatives. The counts keep them apart: `records_by_kind` (which picks the preset) counts the
workspace's own records only, `imported_by_source` the imported ones.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from core.pairs import CURATED
from core.store import Workspace


@dataclass(frozen=True)
class TrainRecord:
    """One training example: a query, one of its positives, and the query's negatives."""

    pair_id: int
    query: str
    positive_id: int
    all_positive_ids: tuple[int, ...]  # every positive of the query (never a negative)
    negative_ids: tuple[int, ...]  # mined, best first (after false-negative flags)
    positive_text: str | None = None  # the text trained on when it differs from the chunk's
    kind: str = ""  # the pair's question kind (simple, ict, ...), for mixing and counts
    source: str = ""  # the related collection of an imported question ("" = the workspace's)

    def text_of_positive(self, chunk_text: dict[int, str]) -> str:
        return (
            self.positive_text if self.positive_text is not None else chunk_text[self.positive_id]
        )


@dataclass
class TrainingData:
    """Everything an objective needs, as plain data.

    train: records of the training split (multi-hop unrolled).
    chunk_text: chunk id -> text, for every chunk of the workspace.
    queries_by_positive_chunk: chunk id -> queries (training split) having it as a positive.
    val_queries / val_corpus / val_relevant: the validation split as IR dicts
        {qid: text}, {cid: text}, {qid: {cid, ...}} (ids are strings, as the evaluator wants).
    mining_id: the mining the negatives came from (None: no mining yet).
    """

    train: list[TrainRecord]
    chunk_text: dict[int, str]
    queries_by_positive_chunk: dict[int, list[str]]
    val_queries: dict[str, str] = field(default_factory=dict)
    val_corpus: dict[str, str] = field(default_factory=dict)
    val_relevant: dict[str, set[str]] = field(default_factory=dict)
    mining_id: int | None = None

    def counts(self) -> dict[str, Any]:
        """Sizes shown in the model card and the run's metrics."""
        own = [r for r in self.train if not r.source]
        return {
            "train_records": len(self.train),
            "train_queries": len({r.pair_id for r in self.train}),
            "records_with_negatives": sum(bool(r.negative_ids) for r in self.train),
            "records_by_kind": dict(sorted(Counter(r.kind for r in own).items())),
            "workspace_records": len(own),
            "imported_by_source": dict(
                sorted(Counter(r.source for r in self.train if r.source).items())
            ),
            "validation_queries": len(self.val_queries),
            "validation_corpus": len(self.val_corpus),
            "chunks": len(self.chunk_text),
            "mining_id": self.mining_id,
        }


def latest_mining_id(ws: Workspace) -> int | None:
    with ws.connect() as conn:
        row = conn.execute("SELECT MAX(id) FROM minings").fetchone()
    return row[0]


def positive_texts(ws: Workspace) -> dict[int, str]:
    """pair id -> positive text for pairs trained on a text other than their chunk's
    (pairs.positive_text, e.g. inverse cloze with the query sentence removed)."""
    with ws.connect() as conn:
        cols = {r["name"] for r in conn.execute("PRAGMA table_info(pairs)")}
        if "positive_text" not in cols:
            return {}
        rows = conn.execute(
            "SELECT id, positive_text FROM pairs WHERE positive_text IS NOT NULL"
        ).fetchall()
    return {r["id"]: r["positive_text"] for r in rows}


ALL_SPLITS = "all"  # a split name that selects the curated pairs of every split
_EXCEPT = "except:"  # a split name "except:S" selects the curated pairs of every split but S


def held_out_of(train_split: str) -> str:
    """The split name selecting the curated pairs a run on `train_split` held out."""
    return f"{_EXCEPT}{train_split}"


def _split_clause(split: str) -> tuple[str, tuple[str, ...]]:
    """SQL condition and arguments selecting pairs of `split` (ALL_SPLITS: any split;
    "except:S": any split but S)."""
    if split == ALL_SPLITS:
        return ("1 = 1", ())
    if split.startswith(_EXCEPT):
        return ("p.split != ?", (split[len(_EXCEPT) :],))
    return ("p.split = ?", (split,))


def curated_pairs(ws: Workspace, split: str) -> dict[int, tuple[str, list[int]]]:
    """pair id -> (query, positive chunk ids) for curated pairs of `split` (the workspace's
    own: an imported question has no positive chunk)."""
    out: dict[int, tuple[str, list[int]]] = {}
    where, args = _split_clause(split)
    with ws.connect() as conn:
        rows = conn.execute(
            "SELECT p.id, p.query, pp.chunk_id FROM pairs p"
            " JOIN pair_positives pp ON pp.pair_id = p.id"
            f" WHERE p.status IN (?, ?) AND {where} ORDER BY p.id, pp.chunk_id",
            (*CURATED, *args),
        ).fetchall()
    for r in rows:
        out.setdefault(r["id"], (r["query"], []))[1].append(r["chunk_id"])
    return out


def pair_kinds(ws: Workspace, split: str) -> dict[int, str]:
    """pair id -> question kind for the workspace's own curated pairs of `split`."""
    where, args = _split_clause(split)
    with ws.connect() as conn:
        rows = conn.execute(
            "SELECT p.id, p.kind FROM pairs p WHERE p.status IN (?, ?) AND p.source IS NULL"
            f" AND {where}",
            (*CURATED, *args),
        ).fetchall()
    return {r["id"]: r["kind"] for r in rows}


def curated_kind_counts(ws: Workspace, split: str) -> dict[str, int]:
    """question kind -> the workspace's own curated pairs of `split` (ALL_SPLITS: of every
    split), sorted by kind; imported questions are counted by `imported_pairs`."""
    counts = Counter(pair_kinds(ws, split).values())
    return dict(sorted(counts.items()))


def imported_pairs(ws: Workspace) -> dict[int, tuple[str, str, str, str]]:
    """pair id -> (query, passage, source, kind) of the curated imported questions."""
    with ws.connect() as conn:
        rows = conn.execute(
            "SELECT id, query, positive_text, source, kind FROM pairs"
            " WHERE source IS NOT NULL AND status IN (?, ?) ORDER BY id",
            CURATED,
        ).fetchall()
    return {r["id"]: (r["query"], r["positive_text"] or "", r["source"], r["kind"]) for r in rows}


def copies_by_weight(
    pair_ids: list[int], kinds: dict[int, str], weights: dict[str, float], seed: int
) -> dict[int, int]:
    """pair id -> times it is used under per-kind weights (see the module docstring)."""
    bad = {k: w for k, w in weights.items() if not w >= 0}
    if bad:
        raise ValueError(f"kind weights must be >= 0 (got {bad})")
    rng = random.Random(seed)
    out: dict[int, int] = {}
    for pair_id in pair_ids:
        w = float(weights.get(kinds.get(pair_id, ""), 1.0))
        whole = int(w)
        out[pair_id] = whole + (1 if rng.random() < w - whole else 0)
    return out


def _flags(ws: Workspace) -> dict[int, dict[int, str]]:
    with ws.connect() as conn:
        rows = conn.execute("SELECT pair_id, chunk_id, action FROM false_negatives").fetchall()
    out: dict[int, dict[int, str]] = defaultdict(dict)
    for r in rows:
        out[r["pair_id"]][r["chunk_id"]] = r["action"]
    return out


def _negatives(ws: Workspace, mining_id: int | None) -> dict[int, list[int]]:
    if mining_id is None:
        return {}
    with ws.connect() as conn:
        rows = conn.execute(
            "SELECT pair_id, chunk_id FROM negatives WHERE mining_id = ? ORDER BY pair_id, rank",
            (mining_id,),
        ).fetchall()
    out: dict[int, list[int]] = defaultdict(list)
    for r in rows:
        out[r["pair_id"]].append(r["chunk_id"])
    return out


def held_out_pair_count(ws: Workspace, train_split: str = "train") -> int:
    """Curated pairs outside `train_split`: what a final fit adds to the training set."""
    if train_split == ALL_SPLITS:
        return 0
    with ws.connect() as conn:
        row = conn.execute(
            "SELECT COUNT(*) FROM pairs WHERE status IN (?, ?) AND split != ? AND source IS NULL",
            (*CURATED, train_split),
        ).fetchone()
    return int(row[0])


def load_training_data(
    ws: Workspace,
    train_split: str = "train",
    validation_split: str = "validation",
    mining_id: int | None = None,
    validation_max_chunks: int = 20000,
    seed: int = 42,
    kind_weights: dict[str, float] | None = None,
) -> TrainingData:
    """Build TrainingData from the workspace (latest mining unless `mining_id` is given);
    `kind_weights` mixes the question kinds of the training split (None = all weigh 1)."""
    if mining_id is None:
        mining_id = latest_mining_id(ws)
    flags = _flags(ws)
    negatives = _negatives(ws, mining_id)
    with ws.connect() as conn:
        chunk_text = {r["id"]: r["text"] for r in conn.execute("SELECT id, text FROM chunks")}

    def positives_of(pair_id: int, base: list[int]) -> list[int]:
        extra = [c for c, a in flags.get(pair_id, {}).items() if a == "positive"]
        return sorted(set(base) | (set(extra) & set(chunk_text)))

    own_text = positive_texts(ws)
    records: list[TrainRecord] = []
    by_chunk: dict[int, list[str]] = defaultdict(list)
    train_pairs = curated_pairs(ws, train_split)
    kinds = pair_kinds(ws, train_split)
    copies = copies_by_weight(list(train_pairs), kinds, kind_weights or {}, seed)
    for pair_id, (query, base) in train_pairs.items():
        if copies[pair_id] == 0:
            continue
        pos = positives_of(pair_id, base)
        flagged = set(flags.get(pair_id, {}))
        negs = tuple(
            c for c in negatives.get(pair_id, []) if c not in flagged and c not in set(pos)
        )
        for cid in pos:
            # An own positive text stands for the pair's original chunk(s), not flagged extras.
            text = own_text.get(pair_id) if cid in base else None
            record = TrainRecord(pair_id, query, cid, tuple(pos), negs, text, kinds[pair_id])
            records.extend([record] * copies[pair_id])
            by_chunk[cid].append(query)
    # Imported questions: in every fit, with their own passage and in-batch negatives only;
    # a fit on held-out pairs continues a run that already trained on them.
    imported = {} if train_split.startswith(_EXCEPT) else imported_pairs(ws)
    imported_kinds = {pid: kind for pid, (_, _, _, kind) in imported.items()}
    imported_copies = copies_by_weight(list(imported), imported_kinds, kind_weights or {}, seed + 1)
    for pair_id, (query, passage, source, kind) in imported.items():
        record = TrainRecord(pair_id, query, -pair_id, (-pair_id,), (), passage, kind, source)
        records.extend([record] * imported_copies[pair_id])

    val_queries: dict[str, str] = {}
    val_relevant: dict[str, set[str]] = {}
    for pair_id, (query, base) in curated_pairs(ws, validation_split).items():
        val_queries[str(pair_id)] = query
        val_relevant[str(pair_id)] = {str(c) for c in positives_of(pair_id, base)}
    val_corpus: dict[str, str] = {}
    if val_queries:
        needed = {int(c) for rel in val_relevant.values() for c in rel}
        others = sorted(set(chunk_text) - needed)
        cap = max(0, validation_max_chunks - len(needed))
        if len(others) > cap:
            others = sorted(random.Random(seed).sample(others, cap))
        val_corpus = {str(c): chunk_text[c] for c in sorted(needed | set(others))}
    return TrainingData(
        train=records,
        chunk_text=chunk_text,
        queries_by_positive_chunk=dict(by_chunk),
        val_queries=val_queries,
        val_corpus=val_corpus,
        val_relevant=val_relevant,
        mining_id=mining_id,
    )
