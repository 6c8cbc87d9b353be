"""No-label pipeline benchmark on SciFact (issue 10): synthetic pairs only, real test queries.

A fixed random sample of SciFact abstracts (`--docs`, seed 0) is ingested as markdown files
("# title" + abstract, so the `heading` kind has structure) into one workspace. The product's
own generation pipeline writes pairs for every kind into it (ict, keywords, heading, and the
local SmolLM2 model's `simple` questions, capped at `--llm-chunks` chunks); kept pairs are
accepted as `embstudio pairs --accept-all` would. All kinds share one run, so the filters'
dedup works across kinds, as in a mixed default run.

Each config then trains one epoch of the default objective (TrainConfig defaults, batch 32)
on the accepted train-split pairs of its kinds only (the others are set aside), with or without
negatives mined by core.mining, and is scored by core.evaluation on the 300 real SciFact test
queries against the FULL corpus (5,183 abstracts), next to the base model in the same table.

Generated pairs are cached in the workspace (bench/results/no_label_ws; generation skips
chunks already done), the base model's scores in bench/results/scifact_base_eval.json, and
each config's scores in bench/results/no_label.json as they finish, so a rerun resumes.

    python bench/bench_no_label.py [--docs 300] [--llm-chunks 300] [--deadline 18:25]
    python bench/bench_no_label.py --generate-only
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import time
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

# (name, kinds, mined negatives), most informative for the default first: a deadline drops
# the tail ("neg" in the plan = the best config so far again, with mined negatives).
CONFIGS: list[tuple[str, tuple[str, ...], bool]] = [
    ("ict", ("ict",), False),
    ("ict+simple", ("ict", "simple"), False),
    ("all", ("ict", "keywords", "heading", "simple"), False),
    ("ict+heading+keywords", ("ict", "heading", "keywords"), False),
    ("simple (LLM)", ("simple",), False),
    ("heading", ("heading",), False),
    ("keywords", ("keywords",), False),
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


def run_config(src, name: str, kinds: tuple[str, ...], mined: bool) -> dict:
    """Train one epoch (TrainConfig defaults otherwise) on `kinds`, optionally with mined
    negatives, and score the model; the model folder is removed afterwards (disk)."""
    import shutil

    from core.mining import MiningSettings, mine_workspace
    from core.training.config import TrainConfig
    from core.training.trainer import train_run

    ws = config_workspace(src, name, kinds)
    row: dict = {"config": name, "kinds": list(kinds), "mined_negatives": mined}
    with ws.connect() as conn:
        row["pairs"] = conn.execute(
            "SELECT COUNT(*) FROM pairs WHERE status IN ('accepted','edited') AND split='train'"
        ).fetchone()[0]
    if mined:
        t0 = time.perf_counter()
        m = mine_workspace(ws, MiningSettings(splits=("train",)))
        row["mining_s"] = round(time.perf_counter() - t0, 1)
        row["mining"] = m["stats"]
    # Without mining: in-batch negatives only (no random filler column, a third less encoding
    # per step); with mining: the default single hard negative per record.
    cfg = TrainConfig(
        epochs=1.0, batch_size=32, validate_every_epoch=False, negatives_per_query=int(mined)
    )
    t0 = time.perf_counter()
    out = train_run(ws, cfg, "bench")
    row["train_s"] = round(time.perf_counter() - t0, 1)
    row["train_records"] = out["metrics"]["data"]["train_records"]
    row["steps"] = out["metrics"]["steps"]
    row.update(evaluate(out["model_path"], name))
    shutil.rmtree(ws.run_dir("bench"), ignore_errors=True)
    return row


def table(base: dict, rows: list[dict]) -> str:
    """The results as a Markdown table (base first)."""
    lines = [
        "| config | pairs | train s | nDCG@10 | Recall@10 | Δ nDCG@10 vs base |",
        "|---|---:|---:|---:|---:|---:|",
        f"| base (all-MiniLM-L6-v2) | 0 | 0 | {base['ndcg@10']:.4f} | {base['recall@10']:.4f} | — |",
    ]
    for r in rows:
        lines.append(
            f"| {r['config']} | {r['pairs']} | {r['train_s']:.0f} | {r['ndcg@10']:.4f} | "
            f"{r['recall@10']:.4f} | {r['ndcg@10'] - base['ndcg@10']:+.4f} |"
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
    ap.add_argument("--deadline", default="18:25", help="UTC HH:MM; later configs are dropped")
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
            f"Pairs = accepted train-split pairs (product splits: ~80% of documents). One epoch "
            f"of the default objective (MNRL, batch 32, lr 1e-4; in-batch negatives only, plus 1 "
            f"mined hard negative per record where marked). Scored on the 300 SciFact test queries against the "
            f"full corpus (5,183 abstracts)."
        ),
        "generation": gen,
        "rows": load_rows(),
        "dropped": [],
    }
    only = {n.strip() for n in args.only.split(",") if n.strip()}
    plan: list = [CONFIGS[0], "neg", *CONFIGS[1:5], "neg", *CONFIGS[5:]]
    for item in plan:
        rows = load_rows()
        done = {r["config"] for r in rows}
        if item == "neg":
            ranked = sorted(
                (r for r in rows if not r["mined_negatives"]), key=lambda r: -r["ndcg@10"]
            )
            named = {c[0]: c[1] for c in CONFIGS if f"{c[0]} +mined" in only}
            named = {n: k for n, k in named.items() if f"{n} +mined" not in done}
            if named:  # asked for by name (--only "ict +mined"), before its plain row exists
                name, kinds = next(iter(named.items()))
                name, kinds, mined = f"{name} +mined", kinds, True
            else:
                pick = next((r for r in ranked if r["config"] + " +mined" not in done), None)
                if pick is None:
                    continue
                name, kinds, mined = pick["config"] + " +mined", tuple(pick["kinds"]), True
        else:
            name, kinds, mined = item
        if name in done or (only and name not in only and not (mined and "neg" in only)):
            continue
        if time.time() + estimate_s(ws, rows, kinds, mined) > stop_at:
            report["dropped"].append(name)
            print(f"dropped for time: {name}", flush=True)
            continue
        print(f"== {name} ({time.strftime('%H:%M:%S', time.gmtime())} UTC)", flush=True)
        row = run_config(ws, name, kinds, mined)
        (ROWS_DIR / f"{slug(name)}.json").write_text(json.dumps(row, indent=2))
        print(
            f"   {name}: pairs {row['pairs']}, train {row['train_s']} s, "
            f"nDCG@10 {row['ndcg@10']:.4f}, Recall@10 {row['recall@10']:.4f}",
            flush=True,
        )
    # The base model last: its cached scores are shared with any other process running.
    report["base"] = base = base_scores()
    order = {c[0]: i for i, c in enumerate(CONFIGS)}
    rows = sorted(
        load_rows(), key=lambda r: (order.get(r["config"].split(" +")[0], 99), r["config"])
    )
    report["rows"] = rows
    write_report(report)
    print()
    print(table(base, rows))
    if report["dropped"]:
        print("dropped for time:", ", ".join(report["dropped"]))


if __name__ == "__main__":
    main()
