"""A tuned-looking run without training: the base model with its weights nudged by seeded noise,
saved as a finished run with its config (so it can be compared, merged and evaluated), and a
tiny BEIR folder to stand for the general set."""

from __future__ import annotations

import json
from pathlib import Path

from core.store import Workspace

GENERAL_DOCS = {
    "g1": "Insulin is a hormone made by the pancreas that lowers blood glucose.",
    "g2": "Vaccines train the immune system to recognise a pathogen before infection.",
    "g3": "Antibiotics kill bacteria but have no effect on viruses.",
    "g4": "Red blood cells carry oxygen bound to haemoglobin.",
}
GENERAL_QUERIES = {
    "gq1": ("Which organ makes insulin?", "g1"),
    "gq2": ("How do vaccines protect people?", "g2"),
    "gq3": ("Do antibiotics work against viruses?", "g3"),
    "gq4": ("What carries oxygen in the blood?", "g4"),
}


def save_nudged_run(ws: Workspace, run_id: str, scale: float = 0.02, seed: int = 0) -> Path:
    """runs/<run_id>/model = MiniLM with N(0, scale·std) noise on every float weight."""
    import torch
    from sentence_transformers import SentenceTransformer

    from core.models import DEFAULT_BASE_MODEL, resolve_model
    from core.training.config import TrainConfig

    model = SentenceTransformer(resolve_model(DEFAULT_BASE_MODEL), device="cpu")
    gen = torch.Generator().manual_seed(seed)
    state = model.state_dict()
    for name, tensor in state.items():
        if tensor.is_floating_point() and tensor.numel() > 1:
            noise = torch.randn(tensor.shape, generator=gen) * float(tensor.std()) * scale
            state[name] = tensor + noise
    model.load_state_dict(state)
    from core import runs

    config = TrainConfig(base_model=DEFAULT_BASE_MODEL)
    folder = runs.record_run(ws, run_id, config.to_dict()).root
    model.save(str(folder / "model"), create_model_card=False)
    runs.finish_run(ws, run_id)
    return folder / "model"


def tiny_general_set(folder: Path) -> Path:
    """A four-document BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv)."""
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    with (folder / "corpus.jsonl").open("w") as f:
        for doc_id, text in GENERAL_DOCS.items():
            f.write(json.dumps({"_id": doc_id, "title": "", "text": text}) + "\n")
    with (folder / "queries.jsonl").open("w") as f:
        for qid, (text, _) in GENERAL_QUERIES.items():
            f.write(json.dumps({"_id": qid, "text": text}) + "\n")
    lines = ["query-id\tcorpus-id\tscore"]
    lines += [f"{qid}\t{doc}\t1" for qid, (_, doc) in GENERAL_QUERIES.items()]
    (folder / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n")
    return folder


def compared_workspace(root: Path, run_id: str = "run-t") -> Workspace:
    """The tiny evaluation workspace with a nudged run, a saved base-vs-run evaluation on its
    test split, and a merge curve at alpha 0, 0.5, 1 against a tiny general set (root/general)."""
    from core.evaluation.merge_curve import CurveSettings, compute_curve
    from core.evaluation.runner import run_evaluation
    from tests.evaluation_helpers import make_tiny_workspace

    ws = Workspace.create(root / "ws")
    make_tiny_workspace(ws)
    save_nudged_run(ws, run_id, scale=0.5)
    run_evaluation(ws, {"models": ["base", run_id]})
    general = tiny_general_set(root / "general")
    settings = CurveSettings(run_id=run_id, general_dir=str(general), alphas=(0.0, 0.5, 1.0))
    compute_curve(ws, settings)
    return ws
