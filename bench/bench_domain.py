"""The no-label default on real documents and real questions (issue 13), through the CLI.

For each variant, a fresh workspace runs exactly what a user runs (a variant adds options to
some commands; the `default` row adds none):

    embstudio init WS
    embstudio ingest WS DOCS/
    embstudio pairs WS --import-questions ...  # only variants that import (import-13-39)
    embstudio generate WS
    embstudio pairs WS --accept-all
    embstudio mine WS
    embstudio train WS --wait          # split run, then its final fit on every document
    embstudio evaluate WS --run FINAL --beir BEIR --group syllabus
    embstudio evaluate WS --run FINAL --beir SCIFACT           (with --scifact)
    embstudio evaluate WS --run FINAL --beir OTHER --group syllabus   (each --also)

and prints one table: Recall@1/3/10 and nDCG@10 of the shipped model on the real questions,
the paired p against the base model, pairs written/kept/trained, optimizer steps, SciFact test
nDCG@10 (what tuning cost outside the domain) and the wall time of every stage. Results are
merged into bench/results/domain.json (one entry per variant and document folder).

    python bench/bench_domain.py                                   # syllabusqa-dev, default
    python bench/bench_domain.py --variants default,no-final-fit --scifact default
    python bench/bench_domain.py --beir ../shared/data/syllabusqa-train --first 12  # other syllabi
    python bench/bench_domain.py --variants import-13-39 --scifact import-13-39 \
        --also ../shared/data/syllabusqa-train:12     # + train's first 12, never imported
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from common import DATA, RESULTS, cli

# The groups (syllabi) of syllabusqa-train's first 12 documents by name, the ones
# `--first 12` scores: an importing variant leaves them out (`pairs --skip-groups`).
TRAIN = DATA / "syllabusqa-train"
FIRST12 = RESULTS / "syllabusqa-train-first12.txt"

# variant -> extra arguments per command (commands left out take their defaults; "import"
# runs `pairs WS ARGS` after ingest, only for the variants that name it)
VARIANTS: dict[str, dict[str, list[str]]] = {
    "default": {},
    "no-final-fit": {"train": ["--no-final-fit"]},
    "final-fit-from-base": {"train": ["--set", "final_fit_from=base"]},
    "roundtrip-top3": {"generate": ["--roundtrip-k", "3"]},
    "ict-2-per-chunk": {"generate": ["--per-chunk", "2"]},
    "ict-keywords": {"generate": ["--kinds", "ict,keywords"]},
    "1-mined-negative": {"train": ["--negatives", "1"]},
    "lr-2e-5": {"train": ["--lr", "2e-5"]},
    "chunks-200-words": {"ingest": ["--chunk-words", "200"]},
    "no-mining": {"skip": ["mine"]},
    "import-13-39": {
        "import": [
            *("--import-questions", str(TRAIN), "--group", "syllabus"),
            *("--skip-groups", str(FIRST12)),
        ]
    },
    # The same model as import-13-39's shipped final fit RUN-all (the same resolved settings on
    # every split), trained alone: half the steps, when there is no time for the split run.
    "import-13-39-fit-only": {
        "import": [
            *("--import-questions", str(TRAIN), "--group", "syllabus"),
            *("--skip-groups", str(FIRST12)),
        ],
        "train": [
            *("--no-final-fit", "--set", "train_split=all"),
            *("--set", "validate_every_epoch=false"),
        ],
    },
    "gist": {"train": ["--loss", "gist"]},
    "epochs-2": {"train": ["--epochs", "2"]},
}
STAGES = ("init", "ingest", "import", "generate", "accept", "mine", "train")


def first_groups(docs: Path, n: int) -> list[str]:
    """The stems of the first `n` documents by name (the groups `subset` keeps)."""
    return [Path(name).stem for name in sorted(p.name for p in docs.iterdir() if p.is_file())[:n]]


def run_variant(
    name: str, docs: Path, beir: Path, group: str, scifact: bool, also: list[Path] = ()
) -> dict:
    extra = VARIANTS[name]
    if "import" in extra:
        FIRST12.parent.mkdir(parents=True, exist_ok=True)
        FIRST12.write_text("".join(g + "\n" for g in first_groups(TRAIN / "docs", 12)))
    ws = RESULTS / "domain_ws" / f"{beir.name}-{name}"
    shutil.rmtree(ws, ignore_errors=True)
    ws.parent.mkdir(parents=True, exist_ok=True)
    commands = {
        "init": ["init", str(ws)],
        "ingest": ["ingest", str(ws), str(docs)],
        "generate": ["generate", str(ws)],
        "accept": ["pairs", str(ws), "--accept-all"],
        "mine": ["mine", str(ws)],
        "train": ["train", str(ws), "--wait"],
        "import": ["pairs", str(ws)],
    }
    out: dict[str, dict] = {}
    seconds: dict[str, float] = {}
    for stage in STAGES:
        if stage in extra.get("skip", []) or (stage == "import" and "import" not in extra):
            continue
        out[stage], seconds[stage] = cli(commands[stage] + extra.get(stage, []))
        print(f"== {name} {stage}: {seconds[stage]} s", file=sys.stderr, flush=True)
    trained = out["train"]
    shipped = trained.get("final_run_id") or trained["run_id"]
    domain, seconds["evaluate"] = cli(
        ["evaluate", str(ws), "--run", shipped, "--beir", str(beir), "--group", group]
    )
    by_label = {m["label"]: m["metrics"] for m in domain["models"]}
    row = {
        "variant": name,
        "docs": str(docs),
        "shipped_run": shipped,
        "base": by_label["base"],
        "tuned": by_label[shipped],
        "bm25": by_label.get("bm25"),
        "base+bm25": by_label.get("base+bm25"),
        "tuned+bm25": by_label.get(f"{shipped}+bm25"),
        "hybrid_weight": next(
            (m["weight"] for m in domain["models"] if m["label"] == f"{shipped}+bm25"), None
        ),
        "comparison": domain["comparison"],
        "reference_comparison": domain.get("reference_comparison"),
        "written": out["generate"].get("kept", 0) + out["generate"].get("dropped", 0),
        "kept": out["generate"].get("kept", 0),
        "dropped_by_reason": out["generate"].get("dropped_by_reason"),
        "trained": _records(ws, shipped),
        "steps": sum(_steps(ws, r) for r in {trained["run_id"], shipped}),
        "seconds": seconds,
        "imported": out.get("import"),
        "by_label": by_label,
    }
    for other in also:
        scored, seconds[f"evaluate {other.name}"] = cli(
            ["evaluate", str(ws), "--run", shipped, "--beir", str(other), "--group", group]
        )
        row.setdefault("also", {})[other.name] = _references(scored, shipped)
    if scifact:
        general, seconds["scifact"] = cli(
            ["evaluate", str(ws), "--run", shipped, "--beir", str(DATA / "scifact")]
        )
        general_by = {m["label"]: m["metrics"]["NDCG@10"] for m in general["models"]}
        row["scifact_base"] = general_by["base"]
        row["scifact_tuned"] = general_by[shipped]
        row["scifact_bm25"] = general_by.get("bm25")
        row["scifact_base+bm25"] = general_by.get("base+bm25")
        row["scifact_tuned+bm25"] = general_by.get(f"{shipped}+bm25")
        row.setdefault("also", {})["scifact"] = _references(general, shipped)
    return row


def _references(evaluation: dict, shipped: str) -> dict:
    """label (base, bm25, base+bm25, tuned, tuned+bm25) -> metrics of one `evaluate`."""
    names = {"base": "base", "bm25": "bm25", "base+bm25": "base+bm25", shipped: "tuned"}
    names[f"{shipped}+bm25"] = "tuned+bm25"
    return {names[m["label"]]: m["metrics"] for m in evaluation["models"] if m["label"] in names}


def references_table(rows: list[dict]) -> str:
    """nDCG@10 / Recall@3 of every retriever on the main set and each other set scored."""
    sets = ["main", *sorted({k for r in rows for k in r.get("also", {})})]
    head = "| variant | retriever | " + " | ".join(f"{s} nDCG@10 / R@3" for s in sets) + " |"
    lines = [head, "|---|---|" + "---:|" * len(sets)]
    for r in rows:
        scored = {"main": _references({"models": _as_models(r)}, r["shipped_run"])}
        scored.update(r.get("also", {}))
        for label in ("base", "bm25", "base+bm25", "tuned", "tuned+bm25"):
            cells = []
            for s in sets:
                m = scored.get(s, {}).get(label)
                cells.append(f"{m['NDCG@10']:.3f} / {m['Recall@3']:.3f}" if m else "")
            lines.append(f"| {r['variant']} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _as_models(row: dict) -> list[dict]:
    return [{"label": k, "metrics": v} for k, v in row.get("by_label", {}).items()]


def _metrics(ws: Path, run_id: str) -> dict:
    path = ws / "runs" / run_id / "metrics.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _records(ws: Path, run_id: str) -> int:
    return int(_metrics(ws, run_id).get("data", {}).get("train_records", 0))


def _steps(ws: Path, run_id: str) -> int:
    return int(_metrics(ws, run_id).get("steps", 0))


def table(rows: list[dict]) -> str:
    """One line per retriever a user could have (base, BM25, base + BM25) and per variant
    (the tuned model, and fused with BM25 at its recipe), on the same questions."""
    head = (
        "| retriever | R@1 | R@3 | R@10 | nDCG@10 | p | written | kept | trained | steps | "
        "SciFact nDCG@10 | generate s | mine s | train s | evaluate s |"
    )
    lines = [head, _rule(head)]
    first = rows[0]
    for label, key in (
        ("base all-MiniLM-L6-v2", "base"),
        ("BM25 (bm25s)", "bm25"),
        ("base + BM25 (min-max, weight 0.5)", "base+bm25"),
    ):
        if first.get(key):
            lines.append(_line(label, first[key], first.get(f"scifact_{key}")))
    for r in rows:
        s = r["seconds"]
        p = r["comparison"]["significance"]["p_value"]
        run = [f"{p:.3g}", r["written"], r["kept"], r["trained"], r["steps"]]
        times = [s.get(k, "") for k in ("generate", "mine", "train", "evaluate")]
        lines.append(_line(r["variant"], r["tuned"], r.get("scifact_tuned"), run, times))
        if r.get("tuned+bm25"):
            label = f"{r['variant']} + BM25 (weight {r.get('hybrid_weight')})"
            lines.append(_line(label, r["tuned+bm25"], r.get("scifact_tuned+bm25")))
    return "\n".join(lines)


def _line(
    label: str, m: dict, scifact: float | None, run: list | None = None, times: list | None = None
) -> str:
    cells = [
        label,
        *(f"{m[k]:.3f}" for k in ("Recall@1", "Recall@3", "Recall@10", "NDCG@10")),
        *(run or [""] * 5),
        _fmt(scifact),
        *(times or [""] * 4),
    ]
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _rule(head: str) -> str:
    cells = head.count("|") - 1
    return "|---|" + "---:|" * (cells - 1)


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def subset(beir: Path, docs: Path, n: int, group: str) -> tuple[Path, Path]:
    """The first `n` documents (by name) and a BEIR folder cut to their group: a smaller
    set of other syllabi to check a default on within a CPU budget."""
    names = sorted(p.name for p in docs.iterdir() if p.is_file())[:n]
    keep = {Path(name).stem for name in names}
    out = RESULTS / "beir_subsets" / f"{beir.name}-{n}"
    if (out / "queries.jsonl").is_file():  # written last: complete (a concurrent bench reads it)
        return out, out / "docs"
    shutil.rmtree(out, ignore_errors=True)
    (out / "docs").mkdir(parents=True)
    (out / "qrels").mkdir()
    for name in names:
        shutil.copy(docs / name, out / "docs" / name)
    corpus = [json.loads(line) for line in (beir / "corpus.jsonl").open()]
    corpus = [d for d in corpus if d.get(group) in keep]
    ids = {d["_id"] for d in corpus}
    (out / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus))
    lines = (beir / "qrels" / "test.tsv").read_text().splitlines()
    kept = [ln for ln in lines[1:] if ln.split("\t")[1] in ids]
    (out / "qrels" / "test.tsv").write_text("\n".join([lines[0], *kept]) + "\n")
    qids = {ln.split("\t")[0] for ln in kept}
    queries = [json.loads(line) for line in (beir / "queries.jsonl").open()]
    (out / "queries.jsonl").write_text(
        "".join(json.dumps(q) + "\n" for q in queries if q["_id"] in qids)
    )
    return out, out / "docs"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--beir", default=str(DATA / "syllabusqa-dev"), help="questions + corpus")
    ap.add_argument("--docs", default=None, help="documents to upload (default BEIR/docs)")
    ap.add_argument("--group", default="syllabus", help="corpus field restricting candidates")
    ap.add_argument("--variants", default="default", help=f"comma list of {', '.join(VARIANTS)}")
    ap.add_argument("--scifact", default="default", help="variants also scored on SciFact")
    ap.add_argument("--first", type=int, default=0, help="only the first N documents (by name)")
    ap.add_argument(
        "--also",
        action="append",
        default=[],
        help="another BEIR folder to score the shipped model on (with --group), PATH or "
        "PATH:N for its first N documents (repeatable)",
    )
    args = ap.parse_args()
    beir = Path(args.beir)
    docs = Path(args.docs) if args.docs else beir / "docs"
    if args.first:
        beir, docs = subset(beir, docs, args.first, args.group)
    also = []
    for spec in args.also:
        path, _, n = spec.partition(":")
        other = Path(path)
        also.append(subset(other, other / "docs", int(n), args.group)[0] if n else other)
    RESULTS.mkdir(parents=True, exist_ok=True)
    store = RESULTS / "domain.json"
    rows = []
    for name in args.variants.split(","):
        scifact = name in args.scifact.split(",")
        row = run_variant(name, docs, beir, args.group, scifact, also)
        saved = json.loads(store.read_text()) if store.is_file() else {}  # other benches' rows
        saved[f"{beir.name}:{name}"] = row
        store.write_text(json.dumps(saved, indent=2) + "\n")
        rows.append(row)
    print(table(rows))
    print(references_table(rows))


if __name__ == "__main__":
    main()
