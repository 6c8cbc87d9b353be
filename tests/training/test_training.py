"""Training: config checks, data unrolling, a short real run, cancel and resume."""

from __future__ import annotations

import json

import pytest

from core.jobs import get_job, run_worker
from core.mining import MiningSettings, mine_workspace
from core.runs import get_run, last_checkpoint, list_runs, read_progress, run_status
from core.training.config import TrainConfig
from core.training.data import load_training_data
from core.training.jobs import start_training
from core.training.objectives import available_objectives, get_objective, register_objective
from core.training.trainer import TrainingCancelled, _Quiet, train_run
from tests.training_helpers import small_scifact


def tiny(**kw) -> TrainConfig:
    base = dict(
        batch_size=4,
        max_steps=3,
        negatives_per_query=1,
        learning_rate=5e-5,
        max_seq_length=64,
        warmup_ratio=0.0,
        device="cpu",
    )
    return TrainConfig(**{**base, **kw})


def test_config_validation_and_json_roundtrip(tmp_path):
    cfg = TrainConfig(epochs=2, scale=30.0)
    assert TrainConfig.from_json(cfg.to_json()) == cfg
    cfg.to_json(tmp_path / "c.json")
    assert TrainConfig.from_json(tmp_path / "c.json") == cfg
    for bad, word in (
        (dict(batch_size=0), "batch_size"),
        (dict(learning_rate=-1e-5), "learning_rate"),
        (dict(base_model="no-such/model-xyz"), "base_model"),
        (dict(loss="nope"), "loss"),
        (dict(scale=0), "scale"),
        (dict(in_batch_negatives=False, negatives_per_query=0), "in_batch"),
    ):
        with pytest.raises(ValueError, match=word):
            TrainConfig(**bad).validate()
    # Registration order is the Train page's and the CLI's: the default objective first.
    assert available_objectives() == ["mnrl", "cached-mnrl", "dual", "clp", "soft", "gist"]
    assert all(TrainConfig.help().values())  # every setting explains itself


def test_registry_rejects_unknown_and_accepts_new(monkeypatch):
    from dataclasses import dataclass

    from core.training.objectives import ObjectiveSettings, registry, setting

    with pytest.raises(KeyError, match="unknown objective"):
        get_objective("nope")
    # The registry is restored after the test: no entry leaks into other tests.
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    register_objective("mnrl-alias", get_objective("mnrl"), "same as mnrl")
    assert get_objective("mnrl-alias") is get_objective("mnrl")
    assert "mnrl-alias" in available_objectives()
    with pytest.raises(ValueError, match="loss"):
        TrainConfig(loss="mnrl-alas").validate()
    TrainConfig(loss="mnrl-alias").validate()  # the registry, not a list, decides

    @dataclass
    class LateSettings(ObjectiveSettings):
        late_weight: float = setting(1.0, "late: a weight")

    # TrainConfig is built: settings registered now could never be its fields.
    with pytest.raises(RuntimeError, match=r"objectives/__init__\.py"):
        register_objective("late", get_objective("mnrl"), "too late", LateSettings)
    assert "late" not in available_objectives()


def test_multi_hop_unrolled_and_negatives_shared(ws):
    small_scifact(ws, n_queries=8, n_other=10, n_val=2)
    with ws.transaction() as conn:  # make one training pair multi-hop (two positives)
        pid = conn.execute("SELECT id FROM pairs WHERE split='train' ORDER BY id").fetchone()[0]
        extra = conn.execute(
            "SELECT id FROM chunks WHERE id NOT IN (SELECT chunk_id FROM pair_positives"
            " WHERE pair_id = ?) LIMIT 1",
            (pid,),
        ).fetchone()[0]
        conn.execute("INSERT INTO pair_positives VALUES (?, ?)", (pid, extra))
    mine_workspace(ws, MiningSettings(negatives=2))
    data = load_training_data(ws)
    recs = [r for r in data.train if r.pair_id == pid]
    assert len(recs) == len(recs[0].all_positive_ids) >= 2
    assert {r.positive_id for r in recs} == set(recs[0].all_positive_ids)
    assert len({r.negative_ids for r in recs}) == 1  # shared negatives
    assert data.val_queries and all(
        data.val_relevant[q] <= set(data.val_corpus) for q in data.val_queries
    )
    assert extra in data.queries_by_positive_chunk


def test_kind_weights_mix_the_training_set(ws):
    """Weights repeat, thin out or drop a kind's pairs; other kinds weigh 1."""
    small_scifact(ws, n_queries=40, n_other=10, n_val=2)
    with ws.transaction() as conn:  # half the training pairs become inverse-cloze pairs
        ids = [r[0] for r in conn.execute("SELECT id FROM pairs WHERE split='train' ORDER BY id")]
        ict = ids[::2]
        conn.executemany("UPDATE pairs SET kind='ict' WHERE id=?", [(i,) for i in ict])
    data = load_training_data(ws)
    assert {r.pair_id for r in data.train if r.kind == "ict"} == set(ict)
    plain = data.counts()["records_by_kind"]

    doubled = load_training_data(ws, kind_weights={"ict": 2.0}).counts()["records_by_kind"]
    assert doubled["ict"] == 2 * plain["ict"]
    assert doubled["real"] == plain["real"]  # a kind left out weighs 1

    assert "ict" not in load_training_data(ws, kind_weights={"ict": 0}).counts()["records_by_kind"]

    half = [load_training_data(ws, kind_weights={"ict": 0.5}, seed=s) for s in (1, 2)]
    kept = [{r.pair_id for r in d.train if r.kind == "ict"} for d in half]
    assert all(0 < len(k) < len(ict) for k in kept)
    assert kept[0] != kept[1]  # the seed picks which ones
    with pytest.raises(ValueError, match="kind_weights"):
        TrainConfig(kind_weights={"ict": -1}).validate()


def test_preset_fills_rate_and_epochs_from_the_kinds_trained_on(ws):
    """Mostly pseudo-queries: the gentle 'pseudo' preset; real questions: 'questions'."""
    from core.training.config import PRESETS

    auto = TrainConfig()
    assert auto.preset_for({"ict": 6, "simple": 4}) == "pseudo"
    assert auto.preset_for({"ict": 4, "simple": 6}) == "questions"
    assert TrainConfig(preset="questions").preset_for({"ict": 9}) == "questions"
    explicit = TrainConfig(learning_rate=3e-5).resolved({"ict": 9})
    assert explicit.learning_rate == 3e-5 and explicit.epochs == PRESETS["pseudo"]["epochs"]
    # Hard negatives come from the preset too, unless given (0 is a choice, not "empty").
    assert explicit.negatives_per_query == PRESETS["pseudo"]["negatives_per_query"] == 0
    assert TrainConfig().resolved({"simple": 9}).negatives_per_query == 1
    assert TrainConfig(negatives_per_query=0).resolved({"simple": 9}).negatives_per_query == 0
    with pytest.raises(ValueError, match="preset"):
        TrainConfig(preset="fast").validate()  # type: ignore[arg-type]

    small_scifact(ws, n_queries=8, n_other=4, n_val=0)
    with ws.transaction() as conn:
        conn.execute("UPDATE pairs SET kind = 'ict'")
    out = train_run(ws, tiny(learning_rate=None, max_steps=1), "run-p")
    saved = TrainConfig.from_json(ws.run_dir("run-p") / "config.json")
    assert saved.preset == "auto" and out["metrics"]["preset"] == "pseudo"
    assert saved.learning_rate == PRESETS["pseudo"]["learning_rate"]
    assert saved.epochs == PRESETS["pseudo"]["epochs"]


def test_short_run_writes_loadable_model_and_cancel_resume(ws):
    from sentence_transformers import SentenceTransformer

    small_scifact(ws, n_queries=16, n_other=10, n_val=3)
    mine_workspace(ws, MiningSettings(negatives=2))
    out = train_run(ws, tiny(), "run-a")
    run = ws.run_dir("run-a")
    assert (run / "config.json").is_file() and (run / "metrics.json").is_file()
    assert TrainConfig.from_json(run / "config.json").batch_size == 4
    model = SentenceTransformer(out["model_path"], device="cpu")
    assert model.encode(["a question"]).shape == (1, 384)
    card = (run / "model" / "README.md").read_text()
    assert "mnrl" in card and "Training records" in card
    steps = [p for p in read_progress(run) if p["type"] == "step"]
    assert steps and steps[-1]["step"] == 3 and all(p["loss"] > 0 for p in steps)
    assert "ndcg@10" in " ".join(out["metrics"]["validation"])
    row = get_run(ws, "run-a")
    assert row["status"] == "succeeded" and row["model_path"] == "runs/run-a/model"

    # Cancel after step 1 of 2: a checkpoint is saved, then resume finishes the run.
    with pytest.raises(TrainingCancelled):
        train_run(
            ws, tiny(max_steps=2, validate_every_epoch=False), "run-b", _Quiet(cancel_after_step=1)
        )
    ckpt = last_checkpoint(ws.run_dir("run-b"))
    assert ckpt is not None and ckpt.name == "checkpoint-1"
    assert not (ws.run_dir("run-b") / "model").exists()
    assert run_status(ws, "run-b") != "succeeded"
    out = train_run(ws, tiny(max_steps=2, validate_every_epoch=False), "run-b", resume=True)
    assert out["metrics"]["steps"] == 2
    assert (ws.run_dir("run-b") / "model" / "modules.json").is_file()


def test_train_job_records_run(ws):
    small_scifact(ws, n_queries=8, n_other=4, n_val=0)
    run_id, job_id = start_training(ws, tiny(max_steps=1, validate_every_epoch=False), spawn=False)
    assert run_worker(ws, job_id) == "succeeded"
    job = get_job(ws, job_id)
    assert job["result"]["run_id"] == run_id and job["step"] == 1
    assert run_status(ws, run_id) == "succeeded"
    assert json.loads((ws.run_dir(run_id) / "config.json").read_text())["max_steps"] == 1
    # Every curated pair is in the train split: the run is its own final model.
    assert "final_run_id" not in job["result"]
    assert [r["id"] for r in list_runs(ws)] == [run_id]


def test_train_job_ships_a_final_fit_on_the_held_out_pairs(ws):
    from core.evaluation.runner import run_evaluation
    from core.runs import job_for_run

    small_scifact(ws, n_queries=8, n_other=4, n_val=2)
    run_id, job_id = start_training(ws, tiny(max_steps=1, validate_every_epoch=False), spawn=False)
    assert run_worker(ws, job_id) == "succeeded"
    result = get_job(ws, job_id)["result"]
    final = result["final_run_id"]
    assert final == f"{run_id}-all" and result["final_model_path"].endswith(f"{final}/model")
    split_cfg, final_cfg = (
        TrainConfig.from_json(ws.run_dir(r) / "config.json") for r in (run_id, final)
    )
    # It continues the split run's model on the pairs the split run held out.
    assert (final_cfg.train_split, final_cfg.init_from, final_cfg.final_of) == (
        "except:train",
        run_id,
        run_id,
    )
    assert not final_cfg.final_fit and final_cfg.base_model == split_cfg.base_model
    assert (
        final_cfg.learning_rate == split_cfg.learning_rate and final_cfg.epochs == split_cfg.epochs
    )
    records = {
        r: json.loads((ws.run_dir(r) / "metrics.json").read_text())["data"]["train_records"]
        for r in (run_id, final)
    }
    every_split = load_training_data(ws, train_split="all").counts()["train_records"]
    assert records[final] == every_split - records[run_id] > 0  # the validation pairs
    assert (
        "trained on with the same settings on the pairs it held out"
        in (ws.run_dir(final) / "model" / "README.md").read_text()
    )
    assert {r["id"]: r["status"] for r in list_runs(ws)} == {
        run_id: "succeeded",
        final: "succeeded",
    }
    assert job_for_run(ws, final)["id"] == job_id  # the Train page follows it
    with pytest.raises(ValueError, match="final fit"):
        run_evaluation(ws, {"dataset": "workspace", "split": "validation", "runs": [final]})


def test_training_signal_says_when_there_is_too_little(ws):
    from core.training.signal import MIN_USEFUL_STEPS, training_signal

    small_scifact(ws, n_queries=8, n_other=4, n_val=2)
    few = training_signal(ws, TrainConfig())  # 24 pairs, batch 32, 3 epochs (questions preset)
    # The final fit continues the split run on the 2 validation pairs it held out.
    assert (few.pairs, few.steps, few.final_pairs, few.final_steps) == (24, 3, 2, 3)
    assert few.shipped_steps == 6
    assert few.too_little and f"Fewer than {MIN_USEFUL_STEPS} steps" in few.sentence()
    again = training_signal(ws, TrainConfig(final_fit_from="base"))
    assert (again.final_pairs, again.final_steps, again.shipped_steps) == (26, 3, 3)
    enough = training_signal(ws, TrainConfig(batch_size=1, epochs=4, final_fit=False))
    assert (enough.steps, enough.final_pairs, enough.shipped_steps) == (96, 0, 96)
    assert not enough.too_little
    assert "rarely change" not in enough.sentence()


def test_cli_jobs_cancel_and_dead_worker_mirrored_on_run(ws, capsys):
    from core.cli import main
    from core.jobs import finish_job

    small_scifact(ws, n_queries=4, n_other=2, n_val=0)
    run_a, _ = start_training(ws, tiny(max_steps=1), spawn=False)
    assert main(["jobs", str(ws.root), "--cancel", run_a, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "cancelled"
    run_b, job_b = start_training(ws, tiny(max_steps=1), spawn=False)
    finish_job(ws, job_b, "failed", error="the worker process died")  # as refresh_stale does
    assert main(["jobs", str(ws.root), "--json"]) == 0
    listed = {j["run_id"]: j["status"] for j in json.loads(capsys.readouterr().out)["jobs"]}
    assert listed == {run_a: "cancelled", run_b: "failed"}
    assert {r["id"]: r["status"] for r in list_runs(ws)} == {run_a: "cancelled", run_b: "failed"}


@pytest.mark.slow
def test_cli_train_wait_json_leaves_loadable_model(ws, capsys):
    from sentence_transformers import SentenceTransformer

    from core.cli import main

    small_scifact(ws, n_queries=6, n_other=2, n_val=0)
    args = ["train", str(ws.root), "--max-steps", "1", "--batch-size", "4", "--wait", "--json"]
    # Real questions, but the preset is forced: the gentle pseudo-query rate is used.
    extra = ["--preset", "pseudo", "--set", "max_seq_length=64", "--set", "device=cpu"]
    assert main([*args, *extra]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "succeeded" and out["run_id"] in out["model_path"]
    assert out["metrics"]["preset"] == "pseudo"
    saved = TrainConfig.from_json(ws.run_dir(out["run_id"]) / "config.json")
    assert (saved.preset, saved.learning_rate) == ("pseudo", 2e-5)
    assert SentenceTransformer(out["model_path"], device="cpu").encode(["q"]).shape == (1, 384)


@pytest.mark.parametrize(
    ("loss", "extra"),
    [
        ("mnrl", {}),
        ("mnrl", {"moe": True}),
        ("clp", {}),
        pytest.param("cached-mnrl", {}, marks=pytest.mark.slow),
        pytest.param("dual", {}, marks=pytest.mark.slow),
        pytest.param("soft", {"soft_experts": ["all-MiniLM-L6-v2"]}, marks=pytest.mark.slow),
    ],
)
def test_every_model_card_shows_the_call_that_loads_its_model(ws, loss, extra):
    import re
    import subprocess
    import sys

    from tests.conftest import REPO

    small_scifact(ws, n_queries=6, n_other=2, n_val=0)
    out = train_run(ws, tiny(loss=loss, max_steps=1, validate_every_epoch=False, **extra), "r")
    card = (ws.run_dir("r") / "model" / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", card, re.S).group(1)
    code = code.replace("PATH/TO/THIS/FOLDER", out["model_path"])
    # A fresh interpreter outside the repository: nothing of this project is imported.
    check = code + "\nassert model.encode(['a question']).shape == (1, 384)\n"
    proc = subprocess.run(
        [sys.executable, "-c", check], cwd=REPO.parent, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-1500:]
    assert ("trust_remote_code=True" in code) == bool(extra.get("moe"))


def test_merge_interpolates_weights_and_is_a_run_of_its_own(ws, capsys):
    from sentence_transformers import SentenceTransformer

    from core.cli import main
    from core.evaluation.runner import model_specs
    from core.models import DEFAULT_BASE_MODEL, resolve_model
    from core.training.merge import MergeError, merge_run

    small_scifact(ws, n_queries=6, n_other=2, n_val=0)
    train_run(ws, tiny(max_steps=2, learning_rate=1e-3, validate_every_epoch=False), "r")
    capsys.readouterr()  # the trainer's own output
    assert main(["merge", str(ws.root), "--run", "r", "--alpha", "0.5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["run_id"] == "r-mix50"
    base = SentenceTransformer(resolve_model(DEFAULT_BASE_MODEL), device="cpu").state_dict()
    tuned = SentenceTransformer(out["model_path"].replace("r-mix50", "r"), device="cpu")
    mixed = SentenceTransformer(out["model_path"], device="cpu").state_dict()
    name = "0.model.encoder.layer.0.attention.self.query.weight"
    expected = 0.5 * base[name] + 0.5 * tuned.state_dict()[name]
    assert torch_close(mixed[name], expected) and not torch_close(mixed[name], base[name])
    specs = model_specs(ws, {"runs": ["r-mix50"], "references": False})
    assert [s.label for s in specs] == ["base", "r-mix50"]
    assert "r-mix50" in {r["id"] for r in list_runs(ws, status="succeeded")}
    with pytest.raises(MergeError, match="alpha"):
        merge_run(ws, "r", 1.5)


def torch_close(a, b) -> bool:
    import torch

    return bool(torch.allclose(a, b, atol=1e-6))


EXTRA_OBJECTIVE = '''
"""Objective "mnrl-sym": symmetric MNRL (query->passage and passage->query)."""

from dataclasses import dataclass

from core.training.objectives import ObjectiveBuild, ObjectiveSettings, register_objective
from core.training.objectives import setting, triplet_dataset


@dataclass
class SymSettings(ObjectiveSettings):
    sym_scale: float = setting(20.0, "mnrl-sym: similarity scale (1/temperature).")

    def problems(self):
        return [] if self.sym_scale > 0 else ["sym_scale must be positive"]


def build(model, config, data):
    from sentence_transformers.losses import MultipleNegativesSymmetricRankingLoss

    dataset = triplet_dataset(data, 0, config.seed)
    loss = MultipleNegativesSymmetricRankingLoss(model, scale=config.sym_scale)
    return ObjectiveBuild(train_dataset=dataset, loss=loss, info={"sym_scale": config.sym_scale})


register_objective("mnrl-sym", build, "Symmetric MNRL.", SymSettings)
'''

NEW_OBJECTIVE_RUN = """
import json, sys
import extra_objective  # the one import line core/training/objectives/__init__.py would get
from core.cli import build_parser
from core.cli.training_cmds import build_config
from core.store import Workspace
from core.training.config import TrainConfig
from core.training.trainer import train_run
from tests.training_helpers import small_scifact

ws = Workspace.create(sys.argv[1])
small_scifact(ws, n_queries=6, n_other=2, n_val=0)
try:
    TrainConfig(loss="mnrl-sym", sym_scale=0).validate()
    refused = ""
except ValueError as exc:
    refused = str(exc)
parser_args = ["train", str(ws.root), "--loss", "mnrl-sym", "--set", "sym_scale=7"]
cfg = build_config(build_parser().parse_args(parser_args))
cfg.batch_size, cfg.max_steps, cfg.max_seq_length, cfg.device = 4, 2, 64, "cpu"
cfg.validate_every_epoch, cfg.learning_rate, cfg.warmup_ratio = False, 5e-5, 0.0
out = train_run(ws, cfg, "r")
card = (ws.run_dir("r") / "model" / "README.md").read_text()
print(json.dumps({
    "refused": refused,
    "steps": out["metrics"]["steps"],
    "loss": out["metrics"]["train_loss"],
    "info": out["metrics"]["objective_info"],
    "saved": json.loads((ws.run_dir("r") / "config.json").read_text())["sym_scale"],
    "help": TrainConfig.help()["sym_scale"],
    "card_names_the_loss": "MultipleNegativesSymmetricRankingLoss" in card,
}))
"""


def test_a_new_objective_is_one_module_and_one_import_line(tmp_path):
    """A loss added as one module (written here to a temporary folder) registers itself with
    its own typed setting; once imported, TrainConfig, the CLI's --set, validation, the
    trainer and the model card all know it, and it trains on a tiny real workspace."""
    import math
    import subprocess
    import sys

    from tests.conftest import REPO

    (tmp_path / "extra_objective.py").write_text(EXTRA_OBJECTIVE)
    proc = subprocess.run(
        [sys.executable, "-c", NEW_OBJECTIVE_RUN, str(tmp_path / "ws")],
        cwd=REPO,
        env={**__import__("os").environ, "PYTHONPATH": f"{tmp_path}:{REPO}"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "sym_scale must be positive" in got["refused"]
    assert got["steps"] == 2 and math.isfinite(got["loss"]) and got["loss"] > 0
    assert got["info"] == {"sym_scale": 7.0} and got["saved"] == 7.0
    assert got["help"].startswith("mnrl-sym:") and got["card_names_the_loss"]
