"""A question log without answers (issue 24, item 2), through the CLI, on dev halves.

syllabusqa-dev's questions are split in two by question id (sorted ids: even positions are
half A, odd ones half B; no question is in both). Half A is the log: its questions only, one
per line, as a user uploads past questions about their own documents. Half B scores.

    embstudio init WS ; embstudio ingest WS DOCS/ ; embstudio generate WS
    embstudio pairs WS --accept-all                       # the default's pairs
    (WS copied: one copy per variant)
    embstudio pairs WS --import-log half-A.txt --accept   # variant `log` only
    embstudio mine WS ; embstudio train WS --wait
    embstudio evaluate WS --run RUN-all --beir HALF_B --group syllabus

HALF_B is a BEIR folder with the whole corpus and half B's queries and qrels only. Printed:
base, BM25, base + BM25, the default's tuned model and its hybrid, the log variant's, all on
half B (nDCG@10 / Recall@3), and the positive choice: how many log questions the filter kept
and how many kept positives were right, with the right-rate of other filters (no filter, a
margin between the hybrid's first two) on each half.

A chosen chunk is right when it overlaps a passage judged relevant to its question: the dev
corpus passages are cuts of the same documents with other boundaries than the workspace's
chunks, so "overlaps" is measured on word 5-grams: at least half of the chunk's 5-grams are in
the question's relevant passages, or at least half of one relevant passage's are in the chunk.

    python bench/bench_question_log.py                     # stats, then variants default,log
    python bench/bench_question_log.py --stats-only        # the positive choice alone (minutes)
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from collections import defaultdict
from pathlib import Path

from common import DATA, RESULTS, cli

OUT = RESULTS / "question_log"
SHINGLE = 5  # words per shingle when matching a chunk to a corpus passage
RIGHT_SHARE = 0.5  # the share of shingles that makes a chunk "the" passage
MARGINS = (0.1, 0.15, 0.2, 0.25, 0.3, 0.4)


# --- the halves -----------------------------------------------------------------------------


def read_beir(beir: Path) -> tuple[dict[str, dict], dict[str, str], dict[str, dict[str, int]]]:
    corpus = {}
    for line in (beir / "corpus.jsonl").open():
        if line.strip():
            row = json.loads(line)
            corpus[row["_id"]] = row
    queries = {}
    for line in (beir / "queries.jsonl").open():
        if line.strip():
            row = json.loads(line)
            queries[row["_id"]] = row["text"]
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    for path in sorted((beir / "qrels").glob("*.tsv")):
        for line in path.read_text().splitlines()[1:]:
            qid, did, score = line.split("\t")
            qrels[qid][did] = int(score)
    return corpus, queries, dict(qrels)


def halves(qrels: dict[str, dict[str, int]]) -> tuple[list[str], list[str]]:
    """Judged question ids split by sorted position: even → A (the log), odd → B (scored)."""
    ids = sorted(qrels)
    return ids[0::2], ids[1::2]


def write_half(beir: Path, out: Path, qids: list[str], queries: dict[str, str]) -> Path:
    """A BEIR folder holding the whole corpus and only `qids`' queries and qrels."""
    shutil.rmtree(out, ignore_errors=True)
    (out / "qrels").mkdir(parents=True)
    shutil.copy(beir / "corpus.jsonl", out / "corpus.jsonl")
    keep = set(qids)
    (out / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q, "text": queries[q]}) + "\n" for q in qids)
    )
    lines = (beir / "qrels" / "test.tsv").read_text().splitlines()
    kept = [ln for ln in lines[1:] if ln.split("\t")[0] in keep]
    (out / "qrels" / "test.tsv").write_text("\n".join([lines[0], *kept]) + "\n")
    return out


# --- right positives ------------------------------------------------------------------------


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i : i + SHINGLE]) for i in range(max(1, len(words) - SHINGLE + 1))}


class Judge:
    """Whether a chunk is a question's relevant passage (see the module docstring)."""

    def __init__(self, corpus: dict[str, dict], queries: dict[str, str], qrels: dict) -> None:
        self.passage = {d: _shingles(row["text"]) for d, row in corpus.items()}
        self.relevant_by_text: dict[str, set[str]] = defaultdict(set)
        self.group_by_text: dict[str, str] = {}
        for qid, rels in qrels.items():
            key = " ".join(queries[qid].split())
            self.relevant_by_text[key] |= {d for d, s in rels.items() if s > 0}
            self.group_by_text[key] = next(corpus[d]["syllabus"] for d in rels if d in corpus)
        self._memo: dict[tuple[int, str], bool] = {}

    def right(self, question: str, chunk_id: int, chunk_text: str) -> bool:
        key = (chunk_id, question)
        if key not in self._memo:
            rel = [self.passage[d] for d in self.relevant_by_text[question] if d in self.passage]
            chunk = _shingles(chunk_text)
            union = set().union(*rel) if rel else set()
            ok = bool(chunk) and len(chunk & union) >= RIGHT_SHARE * len(chunk)
            ok = ok or any(p and len(p & chunk) >= RIGHT_SHARE * len(p) for p in rel)
            self._memo[key] = ok
        return self._memo[key]


def choice_stats(
    ws_path: Path, questions: list[str], judge: Judge, documents: list[str] | None = None
) -> dict:
    """Coverage and right-rate of the hybrid's first pick under each filter (`documents`: each
    question searched only in its own document, as if the log were kept per document)."""
    from core.documents import list_chunks
    from core.question_log import choose_positives, keep
    from core.store import Workspace

    ws = Workspace.open(ws_path)
    text = {c["id"]: c["text"] for c in list_chunks(ws)}
    picks = choose_positives(ws, questions, documents=documents)
    right = [
        p.chunk_id is not None and judge.right(p.question, p.chunk_id, text[p.chunk_id])
        for p in picks
    ]
    rules = {"none": ("none", 0.0), "agreement": ("agreement", 0.0)}
    rules.update({f"margin>={m}": ("margin", m) for m in MARGINS})
    out = {"questions": len(picks), "right_any_filter": sum(right)}
    for label, (rule, margin) in rules.items():
        kept = [r for p, r in zip(picks, right, strict=True) if keep(p, rule, margin)]
        out[label] = {
            "kept": len(kept),
            "right": sum(kept),
            "precision": round(sum(kept) / len(kept), 3) if kept else None,
            "coverage": round(len(kept) / len(picks), 3),
        }
    return out


def imported_right(ws_path: Path, judge: Judge) -> dict:
    """Right positives among the pairs the CLI imported from the log."""
    from core.question_log import ORIGIN_PREFIX
    from core.store import Workspace

    ws = Workspace.open(ws_path)
    with ws.connect() as conn:
        rows = conn.execute(
            "SELECT p.query, c.id, c.text, p.split FROM pairs p"
            " JOIN pair_positives pp ON pp.pair_id = p.id JOIN chunks c ON c.id = pp.chunk_id"
            " WHERE p.origin LIKE ?",
            (ORIGIN_PREFIX + "%",),
        ).fetchall()
    right = sum(judge.right(r["query"], r["id"], r["text"]) for r in rows)
    splits: dict[str, int] = defaultdict(int)
    for r in rows:
        splits[r["split"]] += 1
    return {"pairs": len(rows), "right": right, "by_split": dict(splits)}


# --- the pipeline ---------------------------------------------------------------------------


def prepare(docs: Path) -> tuple[Path, dict]:
    """The default's workspace up to accepted pairs (shared by both variants)."""
    ws = OUT / "ws-prepared"
    shutil.rmtree(ws, ignore_errors=True)
    ws.parent.mkdir(parents=True, exist_ok=True)
    seconds = {}
    for stage, args in (
        ("init", ["init", str(ws)]),
        ("ingest", ["ingest", str(ws), str(docs)]),
        ("generate", ["generate", str(ws)]),
        ("accept", ["pairs", str(ws), "--accept-all"]),
    ):
        _, seconds[stage] = cli(args)
        print(f"== prepare {stage}: {seconds[stage]} s", file=sys.stderr, flush=True)
    return ws, seconds


def logs_by_document(log: Path, judge: Judge) -> dict[str, Path]:
    """Half A cut into one log per syllabus (document name → log file): the `log-doc` variant,
    as a user who keeps a log per document uploads it."""
    folder = log.parent / "half-A-by-document"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    by_doc: dict[str, list[str]] = defaultdict(list)
    for line in log.read_text().splitlines():
        question = " ".join(line.split())
        if question:
            by_doc[judge.group_by_text[question] + ".txt"].append(question)
    out = {}
    for doc, questions in sorted(by_doc.items()):
        out[doc] = folder / f"{Path(doc).stem}.log.txt"
        out[doc].write_text("".join(q + "\n" for q in questions))
    return out


def run_variant(
    name: str, prepared: Path, log: Path, half_b: Path, group: str, judge: Judge
) -> dict:
    ws = OUT / f"ws-{name}"
    shutil.rmtree(ws, ignore_errors=True)
    shutil.copytree(prepared, ws)
    out, seconds = {}, {}
    stages = [("mine", ["mine", str(ws)]), ("train", ["train", str(ws), "--wait"])]
    if name == "log":
        stages.insert(0, ("import_log", ["pairs", str(ws), "--import-log", str(log), "--accept"]))
    if name == "log-doc":
        for i, (doc, path) in enumerate(logs_by_document(log, judge).items()):
            args = ["pairs", str(ws), "--import-log", str(path), "--document", doc, "--accept"]
            stages.insert(i, (f"import_log:{doc}", args))
    for stage, args in stages:
        out[stage], seconds[stage] = cli(args)
        print(f"== {name} {stage}: {seconds[stage]} s", file=sys.stderr, flush=True)
    if name == "log-doc":
        logs = [v["import_log"] for k, v in out.items() if k.startswith("import_log:")]
        out["import_log"] = {
            "import_log": {
                k: sum(r[k] for r in logs) for k in ("lines", "questions", "kept", "dropped")
            }
        }
    shipped = out["train"].get("final_run_id") or out["train"]["run_id"]
    report, seconds["evaluate"] = cli(
        ["evaluate", str(ws), "--run", shipped, "--beir", str(half_b), "--group", group]
    )
    by_label = {m["label"]: m["metrics"] for m in report["models"]}
    metrics = json.loads((ws / "runs" / shipped / "metrics.json").read_text())
    return {
        "variant": name,
        "workspace": str(ws),
        "shipped_run": shipped,
        "base": by_label["base"],
        "bm25": by_label.get("bm25"),
        "base+bm25": by_label.get("base+bm25"),
        "tuned": by_label[shipped],
        "tuned+bm25": by_label.get(f"{shipped}+bm25"),
        "hybrid_weight": next(
            (m["weight"] for m in report["models"] if m["label"] == f"{shipped}+bm25"), None
        ),
        "p_value": report["comparison"]["significance"]["p_value"],
        "import_log": out.get("import_log", {}).get("import_log"),
        "preset": metrics.get("preset"),
        "train_records": metrics.get("data", {}).get("train_records"),
        "records_by_kind": metrics.get("data", {}).get("records_by_kind"),
        "steps": metrics.get("steps"),
        "seconds": seconds,
    }


def table(rows: dict[str, dict]) -> str:
    lines = [
        "| retriever (half B) | nDCG@10 | Recall@3 | preset | records |",
        "|---|---:|---:|---|---:|",
    ]
    first = next(iter(rows.values()))
    for label, key in (("base", "base"), ("BM25", "bm25"), ("base + BM25", "base+bm25")):
        m = first[key]
        lines.append(f"| {label} | {m['NDCG@10']:.3f} | {m['Recall@3']:.3f} | | |")
    for name, r in rows.items():
        label = {"default": "default tuned", "log": "log-tuned"}.get(name, f"{name}-tuned")
        m = r["tuned"]
        lines.append(
            f"| {label} | {m['NDCG@10']:.3f} | {m['Recall@3']:.3f} | {r['preset']} | "
            f"{r['train_records']} |"
        )
        if r.get("tuned+bm25"):
            m = r["tuned+bm25"]
            lines.append(
                f"| {label} + BM25 (weight {r['hybrid_weight']}) | {m['NDCG@10']:.3f} | "
                f"{m['Recall@3']:.3f} | | |"
            )
    return "\n".join(lines)


def stats_table(stats: dict[str, dict]) -> str:
    rules = [
        k for k in next(iter(stats.values())) if isinstance(next(iter(stats.values()))[k], dict)
    ]
    lines = [
        "| filter | " + " | ".join(f"half {h}: kept / right (precision)" for h in stats) + " |"
    ]
    lines.append("|---|" + "---:|" * len(stats))
    for rule in rules:
        cells = [
            f"{s[rule]['kept']}/{s['questions']} / {s[rule]['right']} ({s[rule]['precision']})"
            for s in stats.values()
        ]
        lines.append(f"| {rule} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--beir", default=str(DATA / "syllabusqa-dev"), help="questions + corpus")
    ap.add_argument("--group", default="syllabus", help="corpus field restricting candidates")
    ap.add_argument(
        "--variants",
        default="default,log",
        help="default, log, log-doc (half A as one log per syllabus, --document) (comma list)",
    )
    ap.add_argument("--stats-only", action="store_true", help="the positive choice alone")
    ap.add_argument("--reuse", action="store_true", help="reuse OUT/ws-prepared if present")
    args = ap.parse_args()
    beir = Path(args.beir)
    corpus, queries, qrels = read_beir(beir)
    a_ids, b_ids = halves(qrels)
    OUT.mkdir(parents=True, exist_ok=True)
    log = OUT / "half-A.txt"
    log.write_text("".join(queries[q].replace("\n", " ").strip() + "\n" for q in a_ids))
    half_b = write_half(beir, OUT / "half-B", b_ids, queries)
    judge = Judge(corpus, queries, qrels)
    store = OUT / "results.json"
    saved: dict = {"halves": {"A": len(a_ids), "B": len(b_ids), "rule": "sorted id parity"}}

    prepared = OUT / "ws-prepared"
    if not (args.reuse and (prepared / "studio.db").is_file()):
        prepared, saved["prepare_seconds"] = prepare(beir / "docs")
    questions = {
        h: list(dict.fromkeys(" ".join(queries[q].split()) for q in ids))
        for h, ids in (("A", a_ids), ("B", b_ids))
    }
    choice = {h: choice_stats(prepared, qs, judge) for h, qs in questions.items()}
    per_document = {
        h: choice_stats(prepared, qs, judge, [judge.group_by_text[q] + ".txt" for q in qs])
        for h, qs in questions.items()
    }
    saved = {**(json.loads(store.read_text()) if store.is_file() else {}), **saved}
    saved["choice"], saved["choice_per_document"] = choice, per_document
    store.write_text(json.dumps(saved, indent=2) + "\n")
    print(stats_table(saved["choice"]))
    print("\nEach question searched in its own syllabus only (a log kept per document):")
    print(stats_table(saved["choice_per_document"]))
    if args.stats_only:
        return
    for name in args.variants.split(","):
        row = run_variant(name, prepared, log, half_b, args.group, judge)
        if name.startswith("log"):
            row["imported_right"] = imported_right(OUT / f"ws-{name}", judge)
        saved = json.loads(store.read_text())  # another variant may have run beside this one
        saved.setdefault("variants", {})[name] = row
        store.write_text(json.dumps(saved, indent=2) + "\n")
    rows = saved["variants"]
    print(table(rows))
    if "log" in rows:
        print(
            json.dumps({"import_log": rows["log"]["import_log"], **rows["log"]["imported_right"]})
        )


if __name__ == "__main__":
    main()
