"""SciFact fine-tuning benchmark (issue 4): import the train qrels as pairs, mine negatives,
train with the TrainConfig defaults, and score base vs tuned on the 300 test queries in the
same run; then time training steps against a plain SentenceTransformerTrainer on the same data.

Chunks vs documents: `import_beir` cuts abstracts at the model's 256-token limit, so a long
abstract gives 2 chunks. Training uses every chunk of a relevant document as a positive
(multi-hop style: one record per chunk, sharing the query's negatives), and mining treats all
of them as positives (never as negatives). Evaluation is BEIR's: whole documents (title +
text, truncated by the model at 256 tokens) against the test qrels, so base figures match the
published 0.645 and the tuned model is compared on exactly the same footing.

    python bench/bench_train_scifact.py [--max-steps N] [--epochs E] [--lr X] [--compare-steps 6]
"""

from __future__ import annotations

import argparse
import json
import time

from common import RESULTS, evaluate_scifact, scifact_workspace, step_times


def compare_steps(ws, config, steps: int) -> dict:
    """Seconds per step over `steps` whole steps (the clock spans `train()`): ours vs plain."""
    return step_times(ws, type(config).from_dict({**config.to_dict(), "max_steps": steps}))


def main() -> None:
    from core.mining import MiningSettings, mine_workspace
    from core.models import DEFAULT_BASE_MODEL, resolve_model
    from core.training.config import TrainConfig
    from core.training.trainer import train_run

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--max-steps", type=int, default=-1, help="cap training steps (-1: all)")
    ap.add_argument("--epochs", type=float, default=None)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--negatives", type=int, default=None)
    ap.add_argument("--compare-steps", type=int, default=6, help="steps timed per trainer")
    ap.add_argument("--skip-compare", action="store_true")
    ap.add_argument(
        "--only-step-time",
        metavar="WS",
        help="only time steps (ours vs plain) on this mined workspace, e.g. the mining bench's",
    )
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()

    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.only_step_time:
        from core.store import Workspace

        cfg = TrainConfig(device=args.device)
        st = compare_steps(Workspace.open(args.only_step_time), cfg, args.compare_steps)
        print(
            f"step time (batch {st['batch_size']}, {st['negatives_per_query']} negative): ours "
            f"{st['ours_s_per_step']:.2f} s, plain trainer {st['plain_s_per_step']:.2f} s, ratio {st['ratio']:.2f}x"
        )
        (RESULTS / "train_step_time.json").write_text(json.dumps(st, indent=2))
        return
    report: dict = {}
    t0 = time.perf_counter()
    ws = scifact_workspace(RESULTS / "scifact_ws")
    report["import_s"] = time.perf_counter() - t0
    with ws.connect() as conn:
        mining_done = conn.execute("SELECT COUNT(*) FROM minings").fetchone()[0] > 0
    if not mining_done:
        t0 = time.perf_counter()
        mined = mine_workspace(ws, MiningSettings(splits=("train",)))
        report["mining"] = {**mined["stats"], "wall_s": time.perf_counter() - t0}
        print(f"mining: {mined['stats']}", flush=True)

    cfg = TrainConfig(device=args.device, validate_every_epoch=False, max_steps=args.max_steps)
    for name, value in (
        ("epochs", args.epochs),
        ("learning_rate", args.lr),
        ("negatives_per_query", args.negatives),
    ):
        if value is not None:
            setattr(cfg, name, value)
    cfg = cfg.resolved({"imported": 1})  # real questions: the 'questions' preset fills the rest
    report["config"] = cfg.to_dict()

    cache = RESULTS / "scifact_base_eval.json"  # the base model's figures never change
    if cache.is_file():
        base = json.loads(cache.read_text())
    else:
        base = evaluate_scifact(resolve_model(DEFAULT_BASE_MODEL), "base")
        cache.write_text(json.dumps(base))
    print(f"base: {base}", flush=True)
    run_id = f"bench-{time.strftime('%Y%m%d-%H%M%S')}"
    t0 = time.perf_counter()
    out = train_run(ws, cfg, run_id)
    train_s = time.perf_counter() - t0
    tuned = evaluate_scifact(out["model_path"], "tuned")
    print(f"tuned: {tuned}", flush=True)
    report.update(
        base=base, tuned=tuned, train_wall_s=train_s, run_id=run_id, train_metrics=out["metrics"]
    )
    if not args.skip_compare:
        report["step_time"] = compare_steps(ws, cfg, args.compare_steps)

    print("\nSciFact test (300 queries), all-MiniLM-L6-v2")
    print(f"  base : nDCG@10 {base['ndcg@10']:.4f}  Recall@10 {base['recall@10']:.4f}")
    print(
        f"  tuned: nDCG@10 {tuned['ndcg@10']:.4f}  Recall@10 {tuned['recall@10']:.4f}  "
        f"(delta {tuned['ndcg@10'] - base['ndcg@10']:+.4f})"
    )
    m = out["metrics"]
    print(
        f"  training: {m['steps']} steps, {m['train_seconds']} s, {m['seconds_per_step']} s/step"
        f" ({m['data']['train_records']} records)"
    )
    if "step_time" in report:
        st = report["step_time"]
        print(
            f"  step time: ours {st['ours_s_per_step']:.2f} s, plain trainer {st['plain_s_per_step']:.2f} s, "
            f"ratio {st['ratio']:.2f}x"
        )
    (RESULTS / "train_scifact.json").write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
