"""The bundled question writers on real documents, scored on real questions (issue 14).

One workspace of the documents (`embstudio init` + `ingest`, as a user runs them); then, for
every writer setting (model x prompt variant x example questions), a copy of it in which the
product's `generate` writes one `simple` question per chunk of a subset spread over all
documents, with every product filter on. Per setting it reports:

- speed (questions/s, model load excluded) and the share kept after the filters, with drop
  reasons;
- closeness to real questions: mean length in words, the first-word distribution (its total
  variation distance to the real one: 0 = the same, 1 = disjoint) and the mean cosine of each
  question to its nearest real question, all against syllabusqa-train questions;
- with --train: Recall@3 / nDCG@10 on the dev folder's real questions (per syllabus, the
  product's evaluator) after MNRL on the kept questions alone, and mixed with the default
  inverse-cloze pseudo-queries of the same chunks (`--ict-chunks all`: of every chunk). Training is `common.fit_pairs`
  (the plain sentence-transformers trainer, in-batch negatives only) with the learning rate
  and epochs of the preset the product picks for those pairs (core.training.config).

8-shot settings show 8 questions drawn from syllabusqa-train (never dev) in every prompt.
Prompt variants: `concrete` (the shipped templates), `plain` (a bare "write a question"),
`nocopy` (the shipped templates; the example questions introduced as being about other
documents, to take their style only: the small writers otherwise copy them).

    python bench/bench_writer.py --limit-chunks 40                       # the grid
    python bench/bench_writer.py --limit-chunks 20 --prompts concrete,plain --no-train
    python bench/bench_writer.py --calibrate      # specificity of real questions (filters)
    python bench/bench_writer.py --limit-chunks 64 --ict-chunks all --prompts concrete,nocopy \
        --only qwen-concrete-0shot,qwen-nocopy-8shot,smollm2-concrete-0shot,smollm2-nocopy-8shot
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import shutil
import sys
import time
from pathlib import Path

from common import DATA, RESULTS, cli, fit_pairs, retrieval_scores

DEV = DATA / "syllabusqa-dev"
TRAIN = DATA / "syllabusqa-train"
WRITERS = {"smollm2": "smollm2-135m-instruct", "qwen": "qwen2.5-coder-0.5b-instruct"}
# Prompt variants: templates replacing those of assets/prompts ("concrete" = the shipped ones).
PROMPTS: dict[str, dict[str, str]] = {
    "concrete": {},
    "plain": {
        "local_simple.txt": "Passage:\n{passage}\n\n{examples}\n"
        "Write a question that this passage answers.\n"
    },
    "nocopy": {},  # the shipped templates; only the examples' introduction differs
}
# Prompt variants that change the introduction of the example questions (core.generation.examples).
EXAMPLE_INTROS: dict[str, str] = {
    "nocopy": "Questions that real readers asked about OTHER documents. Take only their style "
    "and length, never their words or topics; ask about the passage above:",
}


def read_queries(folder: Path) -> list[str]:
    with (folder / "queries.jsonl").open() as f:
        return [" ".join(json.loads(line)["text"].split()) for line in f]


def template_workspace(docs: Path, embedder) -> Path:
    """The documents ingested once, their chunk embeddings cached (reused by every copy and
    by later runs of the bench)."""
    from core.documents import list_chunks
    from core.generation.pipeline import chunk_embeddings
    from core.models import DEFAULT_BASE_MODEL
    from core.store import Workspace

    ws = RESULTS / "writer_ws" / "template"
    if not (ws / "studio.db").is_file():
        shutil.rmtree(ws, ignore_errors=True)
        ws.parent.mkdir(parents=True, exist_ok=True)
        cli(["init", str(ws)])
        cli(["ingest", str(ws), str(docs)])
    opened = Workspace.open(ws)
    chunk_embeddings(opened, list_chunks(opened), embedder, DEFAULT_BASE_MODEL)
    return ws


def fresh_copy(template: Path, name: str) -> Path:
    ws = template.parent / name
    shutil.rmtree(ws, ignore_errors=True)
    shutil.copytree(template, ws)
    return ws


def spread(chunk_ids: list[int], n: int) -> list[int]:
    """`n` chunk ids evenly spaced over the document order (so every document gets some)."""
    if n >= len(chunk_ids):
        return list(chunk_ids)
    step = len(chunk_ids) / n
    return [chunk_ids[int(i * step)] for i in range(n)]


def prompt_dir(variant: str) -> str | None:
    if not PROMPTS[variant]:
        return None
    from core.generation.prompts import PROMPTS_DIR

    folder = RESULTS / "writer_prompts" / variant
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(PROMPTS_DIR, folder)
    for name, text in PROMPTS[variant].items():
        (folder / name).write_text(text)
    return str(folder)


def use_example_intro(variant: str) -> None:
    """Make every prompt introduce its example questions as `variant` says (the shipped
    wording when the variant does not change it)."""
    from core.generation import examples

    shipped = getattr(use_example_intro, "shipped", examples.examples_block)
    use_example_intro.shipped = shipped  # type: ignore[attr-defined]
    intro = EXAMPLE_INTROS.get(variant)
    if intro is None:
        examples.examples_block = shipped
        return

    def block(questions):
        listed = "\n".join(f"- {q}" for q in questions)
        return f"{intro}\n{listed}\n" if questions else ""

    examples.examples_block = block


def kept_pairs(ws_path: Path) -> list[tuple[str, str, str]]:
    """(query, positive text, kind) of every pair the filters kept."""
    from core import pairs
    from core.documents import list_chunks
    from core.store import Workspace

    ws = Workspace.open(ws_path)
    text = {c["id"]: c["text"] for c in list_chunks(ws)}
    return [
        (p["query"], text[p["chunk_id"]], p["kind"])
        for p in pairs.list_pairs(ws)
        if p["status"] != "dropped"
    ]


def closeness(questions: list[str], real: list[str], real_emb, embedder) -> dict:
    """Length, first words and nearest-real-question cosine of `questions`."""
    if not questions:
        return {"n": 0}
    emb = embedder.encode(questions, normalize_embeddings=True, show_progress_bar=False)
    first = collections.Counter(q.split()[0].lower().strip("?,") for q in questions)
    real_first = collections.Counter(q.split()[0].lower().strip("?,") for q in real if q)
    words = set(first) | set(real_first)
    tvd = 0.5 * sum(
        abs(first[w] / len(questions) - real_first[w] / sum(real_first.values())) for w in words
    )
    return {
        "n": len(questions),
        "words": round(sum(len(q.split()) for q in questions) / len(questions), 1),
        "first_words": {w: round(c / len(questions), 2) for w, c in first.most_common(4)},
        "first_word_tvd": round(tvd, 3),
        "nn_cosine": round(float((emb @ real_emb.T).max(axis=1).mean()), 3),
    }


def write_questions(ws_path: Path, settings, writer, embedder) -> dict:
    from core.generation.pipeline import generate
    from core.store import Workspace

    summary = generate(Workspace.open(ws_path), settings, writer=writer, embedder=embedder)
    written = summary["kept"] + summary["dropped"]
    return {
        "written": written,
        "kept": summary["kept"],
        "kept_share": round(summary["kept"] / written, 3) if written else None,
        "dropped_by_reason": summary["dropped_by_reason"],
        "questions_per_s": summary["llm_questions_per_s"],
        "seconds": summary["seconds"],
        "dropped_examples": summary["dropped_examples"][:6],
    }


def train_and_score(pairs: list[tuple[str, str, str]], name: str, evalset) -> dict:
    from core.training.config import PRESETS, TrainConfig

    preset = TrainConfig().preset_for(collections.Counter(k for _, _, k in pairs))
    values = PRESETS[preset]
    t0 = time.perf_counter()
    model, steps = fit_pairs(
        [(q, p) for q, p, _ in pairs],
        epochs=values["epochs"],
        lr=values["learning_rate"],
        batch=32,
        out_dir=RESULTS / "writer_runs" / name,
    )
    return {
        "pairs": len(pairs),
        "preset": preset,
        "steps": steps,
        **retrieval_scores(model, evalset),
        "train_s": round(time.perf_counter() - t0),
    }


def calibrate(embedder) -> None:
    """Specificity (core.generation.filters) of real train questions against their syllabus,
    and the share of them the round-trip filter would keep at each candidate scope."""
    import numpy as np

    from core.generation.filters import FilterSettings, specificity

    corpus = [json.loads(line) for line in (TRAIN / "corpus.jsonl").open()]
    ids = [d["_id"] for d in corpus]
    index = {i: n for n, i in enumerate(ids)}
    groups = np.array([d.get("syllabus") for d in corpus])
    emb = embedder.encode([d["text"] for d in corpus], normalize_embeddings=True)
    queries = {
        json.loads(q)["_id"]: json.loads(q)["text"] for q in (TRAIN / "queries.jsonl").open()
    }
    gold: dict[str, list[int]] = collections.defaultdict(list)
    for line in (TRAIN / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        qid, did, *_ = line.split("\t")
        if did in index and qid in queries:
            gold[qid].append(index[did])
    qids = list(gold)
    q_emb = embedder.encode([queries[q] for q in qids], normalize_embeddings=True)
    k, top = FilterSettings().generic_k, FilterSettings().roundtrip_k
    syllabi = sorted(set(groups))
    rng = random.Random(0)
    specs = []
    passes = {"all": 0, "11 syllabi": 0, "own syllabus": 0}
    for row, qid in enumerate(qids):
        cols = gold[qid]
        same = groups == groups[cols[0]]
        spec = specificity(q_emb[row], cols, {c: c for c in cols}, emb, same, k)
        if spec is not None:
            specs.append(spec)
        # The round-trip filter's test on a real question: is its passage in the top `top`
        # of every passage, of a workspace-sized pool of 11 syllabi holding its own, of its own?
        pool = set(rng.sample([g for g in syllabi if g != groups[cols[0]]], 10)) | {groups[cols[0]]}
        scores = emb @ q_emb[row]
        best = max(float(scores[c]) for c in cols)
        above = scores > best
        above[cols] = False
        passes["all"] += int(above.sum() < top)
        passes["11 syllabi"] += int((above & np.isin(groups, list(pool))).sum() < top)
        passes["own syllabus"] += int((above & same).sum() < top)
    qs = np.quantile(specs, [0.05, 0.1, 0.25, 0.5])
    print(
        json.dumps({"real_questions": len(specs), "k": k, "q05_q10_q25_q50": qs.round(3).tolist()})
    )
    shares = {scope: round(n / len(qids), 3) for scope, n in passes.items()}
    print(json.dumps({"roundtrip_top": top, "real_questions": len(qids), "pass_share": shares}))


def table(base: dict | None, rows: list[dict]) -> str:
    head = (
        "| setting | q/s | written | kept share | words | first-word TVD | NN cos | "
        "alone R@3 | alone nDCG@10 | +ict R@3 | +ict nDCG@10 | top drop reasons |"
    )
    lines = [head, "|---|" + "---:|" * (head.count("|") - 3) + "---|"]
    if base:
        lines.append(
            f"| base (no training) | | | | | | | {base['Recall@3']:.3f} | "
            f"{base['NDCG@10']:.3f} | | | |"
        )
    for r in rows:
        c, a, m = r.get("closeness", {}), r.get("alone") or {}, r.get("mixed") or {}
        reasons = ", ".join(
            f"{k} {v}"
            for k, v in sorted((r.get("dropped_by_reason") or {}).items(), key=lambda kv: -kv[1])[
                :3
            ]
        )
        lines.append(
            f"| {r['setting']} | {_f(r.get('questions_per_s'), 2)} | {r.get('written', '')} | "
            f"{_f(r.get('kept_share'), 2)} | {c.get('words', '')} | "
            f"{_f(c.get('first_word_tvd'), 2)} | {_f(c.get('nn_cosine'), 3)} | "
            f"{_f(a.get('Recall@3'))} | {_f(a.get('NDCG@10'))} | {_f(m.get('Recall@3'))} | "
            f"{_f(m.get('NDCG@10'))} | {reasons} |"
        )
    return "\n".join(lines)


def _f(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--docs", default=str(DEV / "docs"))
    ap.add_argument("--beir", default=str(DEV), help="real questions scored after training")
    ap.add_argument("--writers", default="smollm2,qwen", help=f"comma list of {', '.join(WRITERS)}")
    ap.add_argument("--shots", default="0,8", help="example questions per prompt (comma list)")
    ap.add_argument("--prompts", default="concrete", help=f"comma list of {', '.join(PROMPTS)}")
    ap.add_argument("--limit-chunks", type=int, default=40, help="chunks written for (spread)")
    ap.add_argument("--batch-size", type=int, default=8, help="conversations per generate call")
    ap.add_argument(
        "--ict-chunks",
        choices=["subset", "all"],
        default="subset",
        help="pseudo-queries mixed in: from the same subset, or from every chunk (the default "
        "pipeline's; 25 training steps more per mixed row)",
    )
    ap.add_argument(
        "--only",
        default="",
        help="comma list of settings of the grid to run, e.g. qwen-nocopy-8shot",
    )
    ap.add_argument("--no-train", action="store_true", help="writing and closeness only")
    ap.add_argument("--calibrate", action="store_true", help="real questions' specificity")
    ap.add_argument("--seed", type=int, default=14, help="draw of the 8 example questions")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(2)
    from core.generation.pipeline import GenerateSettings
    from core.generation.providers import LocalSettings, LocalWriter
    from core.models import DEFAULT_BASE_MODEL, load_sentence_model

    embedder = load_sentence_model(DEFAULT_BASE_MODEL)
    if args.calibrate:
        calibrate(embedder)
        return
    from core.documents import list_chunks
    from core.evaluation.datasets import beir_set
    from core.store import Workspace

    template = template_workspace(Path(args.docs), embedder)
    all_ids = [c["id"] for c in list_chunks(Workspace.open(template))]
    subset = spread(all_ids, args.limit_chunks)
    real = read_queries(TRAIN)
    real_emb = embedder.encode(real, normalize_embeddings=True, show_progress_bar=False)
    shots = random.Random(args.seed).sample(real, 8)
    print(f"subset: {len(subset)} of {len(all_ids)} chunks; 8 shots: {shots}", file=sys.stderr)
    rows: list[dict] = []
    out = {"subset_chunks": subset, "all_chunks": len(all_ids), "shots": shots, "rows": rows}
    store = RESULTS / f"writer-{args.limit_chunks}-{args.writers}-{args.prompts}.json"

    # The yardstick: real questions of other syllabi (dev) against the train questions.
    reference = {"setting": "real dev questions (reference)"}
    reference["closeness"] = closeness(read_queries(DEV), real, real_emb, embedder)
    rows.append(reference)
    ict_ws = fresh_copy(template, "ict")
    ict_ids = None if args.ict_chunks == "all" else tuple(subset)
    ict = {"setting": f"ict (no LLM, {args.ict_chunks} chunks)"}
    ict_settings = GenerateSettings(kinds=("ict",), chunk_ids=ict_ids)
    ict.update(write_questions(ict_ws, ict_settings, None, embedder))
    ict_pairs = kept_pairs(ict_ws)
    ict["closeness"] = closeness([q for q, _, _ in ict_pairs], real, real_emb, embedder)
    rows.append(ict)
    for wname in args.writers.split(","):
        t0 = time.perf_counter()
        writer = LocalWriter(LocalSettings(model=WRITERS[wname], batch_size=args.batch_size))
        writer.answer([[{"role": "user", "content": "Hi"}]], max_tokens=2)  # load it once
        load_s = round(time.perf_counter() - t0)
        for variant in args.prompts.split(","):
            for n_shots in (int(s) for s in args.shots.split(",")):
                name = f"{wname}-{variant}-{n_shots}shot"
                if n_shots == 0 and variant in EXAMPLE_INTROS:
                    continue  # the same prompt as the shipped variant's 0-shot row
                if args.only and name not in args.only.split(","):
                    continue
                use_example_intro(variant)
                settings = GenerateSettings(
                    provider="local",
                    model=WRITERS[wname],
                    kinds=("simple",),
                    chunk_ids=tuple(subset),
                    examples=tuple(shots[:n_shots]),
                    prompts_dir=prompt_dir(variant),
                    max_llm_chunks=None,
                    batch_chunks=args.batch_size,
                )
                ws = fresh_copy(template, name)
                row = {
                    "setting": name,
                    "load_s": load_s,
                    **write_questions(ws, settings, writer, embedder),
                }
                row["pairs"] = kept_pairs(ws)
                row["closeness"] = closeness(
                    [q for q, _, _ in row["pairs"]], real, real_emb, embedder
                )
                rows.append(row)
                store.write_text(json.dumps(out, indent=1) + "\n")
                print(table(None, [row]).splitlines()[-1], file=sys.stderr, flush=True)
        del writer
    base = None
    if not args.no_train:
        from sentence_transformers import SentenceTransformer

        from core.models import resolve_model

        evalset = beir_set(args.beir, "test", group="syllabus")
        base = retrieval_scores(
            SentenceTransformer(resolve_model(DEFAULT_BASE_MODEL), device="cpu"), evalset
        )
        ict["mixed"] = train_and_score(ict_pairs, "ict", evalset)
        for row in rows:
            if row.get("pairs") and row is not ict:
                row["alone"] = train_and_score(row["pairs"], row["setting"], evalset)
                row["mixed"] = train_and_score(
                    row["pairs"] + ict_pairs, row["setting"] + "+ict", evalset
                )
            store.write_text(json.dumps({**out, "base": base}, indent=1) + "\n")
            print(table(base, [row]).splitlines()[-1], file=sys.stderr, flush=True)
    store.write_text(json.dumps({**out, "base": base}, indent=1) + "\n")
    print(f"subset: {len(subset)} of {len(all_ids)} chunks (evenly spaced); results in {store}")
    print(table(base, rows))


if __name__ == "__main__":
    main()
