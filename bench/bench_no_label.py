"""No-label pipeline benchmark on SciFact (issue 10): synthetic pairs only, real test queries.

A fixed random sample of SciFact abstracts (`--docs`, seed 0) is ingested as markdown files
("# title" + abstract, so the `heading` kind has structure) into one workspace. The product's
own generation pipeline writes pairs for every kind into it (ict, keywords, heading, and the
local SmolLM2 model's `simple` questions, capped at `--llm-chunks` chunks); kept pairs are
accepted as `embstudio pairs --accept-all` would. All kinds share one run, so the filters'
dedup works across kinds, as in a mixed default run.

Each config (CONFIGS) then trains with the product's defaults (TrainConfig, preset auto) plus
its own changes on the accepted train-split pairs of its kinds only (the others are set
aside), with or without negatives mined by core.mining, and is scored by core.evaluation on
the 300 real SciFact test queries against the FULL corpus (5,183 abstracts), next to the base
model in the same table. bench_default_pipeline.py runs the chosen default through the CLI.

Generated pairs are cached in the workspace (bench/results/no_label_ws; generation skips
chunks already done), the base model's scores in bench/results/scifact_base_eval.json, and
each config's scores in bench/results/no_label_rows/ as they finish, so a rerun resumes.

    python bench/bench_no_label.py [--docs 300] [--llm-chunks 300] [--deadline 21:00]
    python bench/bench_no_label.py --generate-only
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _scifact_ws import RESULTS, SCIFACT

WS_DIR = RESULTS / "no_label_ws"
OUT_JSON = RESULTS / "no_label.json"
OUT_MD = RESULTS / "no_label.md"
ROWS_DIR = RESULTS / "no_label_rows"
BASE_CACHE = RESULTS / "scifact_base_eval.json"
PSEUDO = ("ict", "keywords", "heading")
LLM = ("simple",)


@dataclass(frozen=True)
class Config:
    """One row of the table: train on `kinds` (with mined negatives or not); `train` overrides
    TrainConfig fields (none = the product's defaults, preset auto); source 'removed' uses
    inverse-cloze pairs whose positive lacks the query sentence (a second workspace)."""

    name: str
    kinds: tuple[str, ...]
    mined: bool = False
    train: dict = field(default_factory=dict)
    source: str = "plain"


# Most informative for the default first: a deadline drops the tail.
CONFIGS: list[Config] = [
    Config("ict +mined", ("ict",), True),  # the default: ict, mined negatives, preset pseudo
    Config("ict", ("ict",)),
    Config("ict lr 1e-4", ("ict",), train={"learning_rate": 1e-4}),
    Config("ict lr 5e-5", ("ict",), train={"learning_rate": 5e-5}),
    Config("ict lr 1e-5 +mined", ("ict",), True, {"learning_rate": 1e-5}),
    Config("ict sentence removed", ("ict",), source="removed"),
    Config("ict+heading +mined", ("ict", "heading"), True),
    Config("ict soft labels +mined", ("ict",), True, {"loss": "soft"}),
    Config("heading lr 1e-4", ("heading",), train={"learning_rate": 1e-4}),
    Config("ict+heading+keywords +mined", ("ict", "heading", "keywords"), True),
    Config("all +mined", ("ict", "keywords", "heading", "simple"), True),
    Config("keywords", ("keywords",)),
    Config("simple (LLM)", ("simple",)),
]


def sample_docs(n: int, seed: int = 0) -> list[dict]:
    """`n` SciFact abstracts drawn at random (fixed seed) from the whole corpus."""
    from core.beir_data import load_corpus

    corpus = load_corpus(SCIFACT)
    ids = sorted(corpus)
    random.Random(seed).shuffle(ids)
    return [{"id": i, **corpus[i]} for i in ids[:n]]


def build_workspace(n_docs: int):
    """The sample as markdown documents in a fresh workspace (reused when it exists)."""
    from core.chunking import ChunkingSettings
    from core.ingest import ingest_files
    from core.store import Workspace

    if (WS_DIR / "studio.db").is_file():
        return Workspace.open(WS_DIR)
    ws = Workspace.create(WS_DIR)
    files = [
        (f"scifact-{d['id']}.md", f"# {d.get('title') or d['id']}\n\n{d['text']}\n".encode())
        for d in sample_docs(n_docs)
    ]
    # Headings mode: the title heading becomes each chunk's heading path (the `heading` kind).
    ingest_files(ws, files, ChunkingSettings(mode="headings"))
    return ws


def generate_pairs(ws, llm_chunks: int) -> dict:
    """Run the product's generation for the pseudo kinds, then the LLM kind (resumable)."""
    from core.generation.pipeline import GenerateSettings, generate
    from core.pairs import accept_all

    out = {}
    for kinds in (PSEUDO, LLM):
        t0 = time.perf_counter()
        settings = GenerateSettings(kinds=kinds, max_llm_chunks=llm_chunks)

        def show(done: int, total: int, counts: dict, kinds=kinds) -> None:
            print(f"  generate {','.join(kinds)}: {done}/{total} chunks {counts}", flush=True)

        summary = generate(ws, settings, on_progress=show)
        out["+".join(kinds)] = {
            "kept": summary["kept"],
            "dropped": summary["dropped"],
            "dropped_by_reason": dict(summary["dropped_by_reason"]),
            "by_kind": summary["by_kind"],
            "wall_s": round(time.perf_counter() - t0, 1),
        }
        print(f"generated {kinds}: {out['+'.join(kinds)]}", flush=True)
    out["accepted"] = accept_all(ws)
    return out


_EVALSET = None


def evaluate(model_path: str, label: str) -> dict[str, float]:
    """nDCG@10 / Recall@10 of a model on the 300 SciFact test queries, full corpus
    (core.evaluation: exact search + pytrec_eval)."""
    global _EVALSET
    from core.evaluation.compare import ModelSpec, evaluate_model
    from core.evaluation.datasets import beir_set

    if _EVALSET is None:
        _EVALSET = beir_set(SCIFACT, "test")
    out = evaluate_model(ModelSpec(label=label, model=model_path), _EVALSET)
    agg = out.metrics.aggregate
    return {"ndcg@10": agg["NDCG@10"], "recall@10": agg["Recall@10"], "seconds": out.seconds}


def base_scores() -> dict[str, float]:
    """The base model's scores, computed once and cached (its corpus encoding never changes)."""
    from core.models import DEFAULT_BASE_MODEL, resolve_model

    if BASE_CACHE.is_file():
        return json.loads(BASE_CACHE.read_text())
    base = evaluate(resolve_model(DEFAULT_BASE_MODEL), "base")
    BASE_CACHE.write_text(json.dumps(base))
    return base


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).strip("_")


def config_workspace(src, name: str, kinds: tuple[str, ...]):
    """A copy of the generated workspace whose curated pairs are only those of `kinds` (the
    other kinds' accepted pairs are set to rejected, as a reviewer would)."""
    import shutil

    from core.pairs import accept_all
    from core.store import Workspace

    root = RESULTS / "no_label_runs" / slug(name)
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    with sqlite3.connect(src.db_path) as a, sqlite3.connect(root / "studio.db") as b:
        a.backup(b)  # a consistent copy even while another process reads the source
    ws = Workspace.open(root)
    marks = ",".join("?" * len(kinds))
    with ws.transaction() as conn:
        conn.execute(
            f"UPDATE pairs SET status='rejected' WHERE status IN ('accepted','edited')"
            f" AND kind NOT IN ({marks})",
            kinds,
        )
    for kind in kinds:
        accept_all(ws, kind=kind)  # what `embstudio pairs --accept-all` does, per kind
    return ws


def removed_sentence_workspace(src):
    """A copy of the generated workspace whose ict pairs are regenerated with the query
    sentence removed from the positive (`embstudio generate --kinds ict
    --ict-remove-sentence`); made once and reused."""
    from core.generation.pipeline import GenerateSettings, generate
    from core.pairs import accept_all
    from core.store import Workspace

    root = RESULTS / "no_label_ws_removed"
    if (root / "studio.db").is_file():
        return Workspace.open(root)
    root.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(src.db_path) as a, sqlite3.connect(root / "studio.db") as b:
        a.backup(b)
    ws = Workspace.open(root)
    with ws.transaction() as conn:
        conn.execute("DELETE FROM pairs WHERE kind = 'ict'")
        conn.execute("DELETE FROM generation_log WHERE kind = 'ict'")
    generate(ws, GenerateSettings(kinds=("ict",), ict_remove_sentence=True))
    accept_all(ws, kind="ict")
    return ws


def run_config(src, cfg: Config) -> dict:
    """Train with the product's defaults plus `cfg.train` on `cfg.kinds`, optionally with
    mined negatives, and score the model; the model folder is removed afterwards (disk)."""
    import shutil

    from core.mining import MiningSettings, mine_workspace
    from core.training.config import TrainConfig
    from core.training.trainer import train_run

    if cfg.source == "removed":
        src = removed_sentence_workspace(src)
    ws = config_workspace(src, cfg.name, cfg.kinds)
    row: dict = {
        "config": cfg.name,
        "kinds": list(cfg.kinds),
        "mined_negatives": cfg.mined,
        "train_overrides": cfg.train,
        "source": cfg.source,
    }
    with ws.connect() as conn:
        row["pairs"] = conn.execute(
            "SELECT COUNT(*) FROM pairs WHERE status IN ('accepted','edited') AND split='train'"
        ).fetchone()[0]
    t0 = time.perf_counter()
    if cfg.mined:
        row["mining"] = mine_workspace(ws, MiningSettings(splits=("train",)))["stats"]
    # Without mining: in-batch negatives only (no random filler column, a third less encoding
    # per step); with mining: the default single hard negative per record.
    train_cfg = TrainConfig(
        batch_size=32, validate_every_epoch=False, negatives_per_query=int(cfg.mined)
    )
    for key, value in cfg.train.items():
        setattr(train_cfg, key, value)
    out = train_run(ws, train_cfg, "bench")
    row["train_s"] = round(time.perf_counter() - t0, 1)  # mining included
    row["train_records"] = out["metrics"]["data"]["train_records"]
    row["steps"] = out["metrics"]["steps"]
    row["preset"] = out["metrics"]["preset"]
    resolved = TrainConfig.from_json(ws.run_dir("bench") / "config.json")
    row["learning_rate"], row["epochs"] = resolved.learning_rate, resolved.epochs
    row.update(evaluate(out["model_path"], cfg.name))
    shutil.rmtree(ws.run_dir("bench"), ignore_errors=True)
    return row


def table(base: dict, rows: list[dict]) -> str:
    """The results as a Markdown table (base first)."""
    lines = [
        "| config | pairs | lr | epochs | steps | train s | nDCG@10 | Recall@10 | Δ nDCG@10 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| base (all-MiniLM-L6-v2) | 0 | | | | | {base['ndcg@10']:.4f} | "
        f"{base['recall@10']:.4f} | — |",
    ]
    for r in rows:
        lines.append(
            f"| {r['config']} | {r['pairs']} | {r['learning_rate']:g} | {r['epochs']:g} | "
            f"{r['steps']} | {r['train_s']:.0f} | {r['ndcg@10']:.4f} | {r['recall@10']:.4f} | "
            f"{r['ndcg@10'] - base['ndcg@10']:+.4f} |"
        )
    return "\n".join(lines)


def write_report(report: dict) -> None:
    OUT_JSON.write_text(json.dumps(report, indent=2, default=str))
    md = [
        "# No-label pipeline on SciFact (bench/bench_no_label.py)",
        "",
        report["setup"],
        "",
        table(report["base"], report["rows"]),
    ]
    if report.get("dropped"):
        md += ["", "Dropped for time: " + ", ".join(report["dropped"])]
    OUT_MD.write_text("\n".join(md) + "\n")


def deadline_ts(hhmm: str) -> float:
    """Today's HH:MM (UTC) as a Unix time."""
    import calendar

    day = time.strftime("%Y-%m-%d", time.gmtime())
    return calendar.timegm(time.strptime(f"{day} {hhmm}", "%Y-%m-%d %H:%M"))


def estimate_s(ws, rows: list[dict], kinds: tuple[str, ...], mined: bool) -> float:
    """Seconds a config should take: the slowest seconds per training pair seen so far times
    its pairs (x1.5 with a mined negative column), plus the slowest evaluation and mining."""
    marks = ",".join("?" * len(kinds))
    with ws.connect() as conn:
        pairs = conn.execute(
            f"SELECT COUNT(*) FROM pairs WHERE status != 'dropped' AND split='train'"
            f" AND kind IN ({marks})",
            kinds,
        ).fetchone()[0]
    if not rows:
        return 300.0
    per_pair = max(r["train_s"] / max(1, r["pairs"]) for r in rows)
    mining = max((r.get("mining_s", 0.0) for r in rows), default=0.0) or 30.0
    return (
        per_pair * pairs * (1.5 if mined else 1.0)
        + max(r["seconds"] for r in rows)
        + (mining if mined else 0.0)
    )


def load_rows() -> list[dict]:
    """Finished configs (one JSON file each, so separate processes can share the work)."""
    return [json.loads(f.read_text()) for f in sorted(ROWS_DIR.glob("*.json"))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--docs", type=int, default=300, help="abstracts in the sample (seed 0)")
    ap.add_argument("--llm-chunks", type=int, default=300, help="chunks the local LLM writes for")
    ap.add_argument("--generate-only", action="store_true")
    ap.add_argument("--skip-generation", action="store_true", help="use the pairs generated so far")
    ap.add_argument("--only", default="", help="comma-separated config names to run")
    ap.add_argument("--deadline", default="23:59", help="UTC HH:MM; later configs are dropped")
    ap.add_argument("--fresh", action="store_true", help="forget configs already scored")
    args = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    ROWS_DIR.mkdir(parents=True, exist_ok=True)
    if args.fresh:
        for f in ROWS_DIR.glob("*.json"):
            f.unlink()
    ws = build_workspace(args.docs)
    gen_file = RESULTS / "no_label_generation.json"
    if args.generate_only or not (gen_file.is_file() or args.skip_generation):
        # A rerun with --generate-only extends the LLM pairs by --llm-chunks more chunks.
        gen_file.write_text(json.dumps(generate_pairs(ws, args.llm_chunks), indent=2))
    gen = json.loads(gen_file.read_text()) if gen_file.is_file() else {}
    if args.generate_only:
        return
    stop_at = deadline_ts(args.deadline)
    with ws.connect() as conn:
        n_docs = conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        n_chunks = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        llm_chunks = conn.execute(
            "SELECT COUNT(DISTINCT chunk_id) FROM generation_log WHERE kind='simple'"
        ).fetchone()[0]
    report = {
        "setup": (
            f"Sample: {n_docs} SciFact abstracts (random, seed 0; {n_chunks} chunks, headings "
            f"chunking), ingested as markdown with the title as heading. Generation: the "
            f"product pipeline with its filters; ict 2 per chunk, keywords 1, heading 1, LLM "
            f"(local SmolLM2-135M, `simple`, 1 per chunk) on the first {llm_chunks} chunks. "
            f"Pairs = accepted train-split pairs (product splits: ~80% of documents). Training: "
            f"the product's defaults (MNRL, batch 32, preset auto: lr 2e-5 and 1 epoch for "
            f"pseudo-queries, lr 1e-4 and 3 epochs for questions) unless the config names a "
            f"change; in-batch negatives only, plus 1 mined hard negative per record where "
            f"marked '+mined' ('train s' includes mining). Scored on the 300 SciFact test "
            f"queries against the full corpus (5,183 abstracts)."
        ),
        "generation": gen,
        "rows": load_rows(),
        "dropped": [],
    }
    only = {n.strip() for n in args.only.split(",") if n.strip()}
    for cfg in CONFIGS:
        rows = load_rows()
        if cfg.name in {r["config"] for r in rows} or (only and cfg.name not in only):
            continue
        if time.time() + estimate_s(ws, rows, cfg.kinds, cfg.mined) > stop_at:
            report["dropped"].append(cfg.name)
            print(f"dropped for time: {cfg.name}", flush=True)
            continue
        print(f"== {cfg.name} ({time.strftime('%H:%M:%S', time.gmtime())} UTC)", flush=True)
        row = run_config(ws, cfg)
        (ROWS_DIR / f"{slug(cfg.name)}.json").write_text(json.dumps(row, indent=2))
        print(
            f"   {cfg.name}: pairs {row['pairs']}, lr {row['learning_rate']:g}, train "
            f"{row['train_s']} s, nDCG@10 {row['ndcg@10']:.4f}, Recall@10 {row['recall@10']:.4f}",
            flush=True,
        )
    # The base model last: its cached scores are shared with any other process running.
    report["base"] = base = base_scores()
    order = {c.name: i for i, c in enumerate(CONFIGS)}
    rows = sorted(load_rows(), key=lambda r: (order.get(r["config"], 99), r["config"]))
    report["rows"] = rows
    write_report(report)
    print()
    print(table(base, rows))
    if report["dropped"]:
        print("dropped for time:", ", ".join(report["dropped"]))


if __name__ == "__main__":
    main()
