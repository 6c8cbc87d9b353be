"""Bad configurations (issue 9, case 7): refused with one clear line before any work starts.

Checked at both doors: the core settings' `validate()` and the `embstudio` command line (exit
status non-zero, one line on stderr, and no run, job or file left behind).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.chunking import ChunkingSettings
from core.cli import main as cli_main
from core.generation.pipeline import GenerateSettings, GenerationError
from core.mining import MiningSettings
from core.store import Workspace, WorkspaceError
from core.training.config import TrainConfig
from tests.conftest import REPO


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of `embstudio ARGV` run in this process."""
    try:
        rc = cli_main(argv)
    except SystemExit as exc:  # argparse and open_workspace exit this way
        rc = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return rc, out.out, out.err


def _nothing_started(ws: Workspace) -> None:
    with ws.connect() as conn:
        assert conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM minings").fetchone()[0] == 0
    assert list(ws.runs_dir.iterdir()) == []


@pytest.mark.parametrize(
    ("extra", "word"),
    [
        (["--base", "no-such-org/no-such-model"], "base_model"),
        (["--base", "run:"], "base_model"),
        (["--batch-size", "0"], "batch_size"),
        (["--lr", "-0.001"], "learning_rate"),
        (["--lr", "0"], "learning_rate"),
        (["--epochs", "0"], "epochs"),
        (["--loss", "triplet-of-doom"], "loss"),
        (["--scale", "-5"], "scale"),
        (["--set", "warmup_ratio=1.5"], "warmup_ratio"),
        (["--set", "no_such_field=1"], "no_such_field"),
    ],
)
def test_cli_train_refuses_bad_settings_before_starting(ws, capsys, extra, word):
    rc, out, err = run_cli(["train", str(ws.root), *extra], capsys)
    assert rc != 0
    assert len(err.strip().splitlines()) == 1 and word in err, err
    assert "Traceback" not in err + out
    _nothing_started(ws)


@pytest.mark.parametrize(
    ("extra", "word"),
    [
        (["--relative-margin", "1.5"], "relative_margin"),
        (["--absolute-margin", "3"], "absolute_margin"),
        (["--absolute-margin", "-0.1"], "absolute_margin"),
        (["--negatives", "0"], "negatives"),
        (["--skip-top", "-1"], "skip_top"),
    ],
)
def test_cli_mine_refuses_bad_margins(ws, capsys, extra, word):
    rc, _out, err = run_cli(["mine", str(ws.root), *extra], capsys)
    assert rc != 0
    assert len(err.strip().splitlines()) == 1 and word in err, err
    _nothing_started(ws)


@pytest.mark.parametrize(
    "argv",
    [
        ["ingest", "{ws}", "{ws}"],
        ["generate", "{ws}", "--provider", "openai", "--base-url", "http://127.0.0.1:9/v1"],
        ["pairs", "{ws}", "--accept-all"],
        ["mine", "{ws}"],
        ["train", "{ws}"],
        ["jobs", "{ws}"],
        ["evaluate", "{ws}"],
        ["export", "{ws}", "--run", "r1"],
    ],
    ids=lambda a: a[0],
)
def test_workspace_that_is_a_file_is_refused_by_every_command(tmp_path, capsys, argv):
    fake = tmp_path / "ws.txt"
    fake.write_text("not a workspace")
    rc, _out, err = run_cli([a.replace("{ws}", str(fake)) for a in argv], capsys)
    assert rc != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "not a folder" in lines[0], err
    assert fake.read_text() == "not a workspace"


def test_init_on_a_file_or_foreign_folder_is_refused(tmp_path, capsys):
    fake = tmp_path / "ws.txt"
    fake.write_text("x")
    rc, _, err = run_cli(["init", str(fake)], capsys)
    assert rc != 0 and "not a folder" in err and len(err.strip().splitlines()) == 1
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_bytes(b"\xff\xd8")
    rc, _, err = run_cli(["init", str(foreign)], capsys)
    assert rc != 0 and "not a workspace" in err
    assert [p.name for p in foreign.iterdir()] == ["cat.jpg"]
    with pytest.raises(WorkspaceError):
        Workspace.open(tmp_path / "missing")


@pytest.mark.parametrize("garbage", [b"not a database at all", bytes(range(256)) * 8])
def test_damaged_database_is_a_clear_workspace_error(tmp_path, capsys, garbage):
    root = tmp_path / "ws"
    root.mkdir()
    (root / "studio.db").write_bytes(garbage)
    with pytest.raises(WorkspaceError, match="damaged"):
        Workspace.open(root)
    rc, _, err = run_cli(["jobs", str(root)], capsys)
    assert rc != 0 and len(err.strip().splitlines()) == 1 and "damaged" in err
    assert (root / "studio.db").read_bytes() == garbage  # left as it was for recovery


@pytest.mark.parametrize("sub", ["files", "runs", "exports", "jobs"])
def test_workspace_part_that_is_a_file_is_refused(ws, capsys, sub):
    target = ws.root / sub
    target.rmdir()
    target.write_text("in the way")
    with pytest.raises(WorkspaceError, match="must be a folder"):
        Workspace.open(ws.root)
    rc, _, err = run_cli(["ingest", str(ws.root), str(ws.db_path)], capsys)
    assert rc != 0 and len(err.strip().splitlines()) == 1 and sub in err


def test_cli_exit_status_and_single_line_in_a_real_process(tmp_path):
    fake = tmp_path / "ws.txt"
    fake.write_text("x")
    proc = subprocess.run(
        [sys.executable, "-m", "core.cli", "train", str(fake), "--batch-size", "0"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if "No module named core.cli.__main__" in proc.stderr:
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from core.cli import main; sys.exit(main(sys.argv[1:]))",
                "train",
                str(fake),
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode != 0
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


@pytest.mark.parametrize(
    ("bad", "word"),
    [
        (dict(base_model="definitely/not-a-model"), "base_model"),
        (dict(batch_size=0), "batch_size"),
        (dict(learning_rate=-1e-4), "learning_rate"),
        (dict(epochs=0, max_steps=-1), "epochs"),
        (dict(max_seq_length=0), "max_seq_length"),
        (dict(clp_lambda=1.5), "clp_lambda"),
        (dict(clp_lambda=-0.1), "clp_lambda"),
        (dict(soft_alpha=2.0), "soft_alpha"),
        (dict(soft_target="nonsense"), "soft_target"),
        (dict(clp_missing="nonsense"), "clp_missing"),
        (dict(moe_num_experts=0), "moe_num_experts"),
        (dict(mini_batch_size=0), "mini_batch_size"),
    ],
)
def test_train_config_validate(bad, word):
    with pytest.raises(ValueError, match=word):
        TrainConfig(**bad).validate()


def test_objective_setting_problems_name_the_field_and_what_is_allowed():
    from core.training.objectives.clp import ClpSettings
    from core.training.objectives.registry import choice_problems, fraction_problems

    clp = ClpSettings(clp_lambda=1.5, clp_missing="later")
    assert fraction_problems(clp, "clp_lambda") == ["clp_lambda must be in [0, 1] (got 1.5)"]
    assert clp.problems() == [
        "clp_lambda must be in [0, 1] (got 1.5)",
        "clp_missing must be 'skip' or 'generate', not 'later'",
    ]
    assert choice_problems(clp, "clp_missing", ("a", "b", "c")) == [
        "clp_missing must be 'a', 'b' or 'c', not 'later'"
    ]
    assert ClpSettings().problems() == []


@pytest.mark.parametrize(
    ("bad", "word"),
    [
        (dict(relative_margin=1.5), "relative_margin"),
        (dict(relative_margin=-0.1), "relative_margin"),
        (dict(absolute_margin=2.5), "absolute_margin"),
        (dict(negatives=0), "negatives"),
        (dict(query_block=0), "query_block"),
    ],
)
def test_mining_settings_validate(bad, word):
    with pytest.raises(ValueError, match=word):
        MiningSettings(**bad).validate()


@pytest.mark.parametrize(
    ("bad", "word"),
    [
        (dict(kinds=("simple", "nonsense")), "unknown kind"),
        (dict(kinds=()), "no kinds"),
        (dict(provider="azure-magic"), "provider"),
        (dict(per_chunk={"simple": 0}), "per-chunk"),
        (dict(timeout_s=0), "timeout"),
        (dict(max_retries=-1), "retries"),
        (dict(batch_chunks=0), "batch"),
        (dict(limit_chunks=0), "limit"),
        (dict(concurrency=0), "concurrency"),
    ],
)
def test_generate_settings_validate(bad, word):
    with pytest.raises(GenerationError, match=word):
        GenerateSettings(**bad).validate()


@pytest.mark.parametrize(
    "bad",
    [dict(chunk_words=0), dict(chunk_words=100, overlap_words=100), dict(mode="pages")],
)
def test_chunking_settings_validate(bad):
    with pytest.raises(ValueError):
        ChunkingSettings(**bad).validate()


def test_cli_generate_per_chunk_zero_is_refused(ws, capsys):
    rc, _, err = run_cli(
        ["generate", str(ws.root), "--kinds", "ict", "--per-chunk", "0"],
        capsys,
    )
    assert rc != 0 and "per-chunk" in err and len(err.strip().splitlines()) == 1, err


def test_cli_serve_refuses_a_missing_model_folder(tmp_path, capsys):
    rc, _, err = run_cli(["serve", str(tmp_path / "no-model"), "--port", "0"], capsys)
    assert rc != 0 and len(err.strip().splitlines()) <= 2 and "Traceback" not in err
    assert Path(tmp_path / "no-model").exists() is False
