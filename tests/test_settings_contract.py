"""Every step's settings follow one contract (core/step_settings.py), and adding a setting to a
step is one field: it becomes the step's CLI option and a widget on its page, and reaches the
settings the step runs with, through core/commands.py, from either."""

from __future__ import annotations

import dataclasses
import json

import pytest

from core.chunking import ChunkingSettings
from core.generation.filters import FilterSettings
from core.generation.settings import GenerateSettings
from core.geometry import GeometrySettings
from core.mining_settings import MiningSettings
from core.modeling.moe import MoESettings
from core.step_settings import StepSettings, missing_help, setting
from core.training.config import RunSettings, TrainConfig
from core.training.objectives import settings_classes

STEP_SETTINGS = [
    GenerateSettings,
    FilterSettings,
    MiningSettings,
    TrainConfig,
    RunSettings,
    MoESettings,
    *settings_classes(),
    GeometrySettings,
    ChunkingSettings,
]


@pytest.mark.parametrize("cls", STEP_SETTINGS, ids=lambda c: c.__name__)
def test_every_step_settings_class_follows_the_contract(cls):
    assert issubclass(cls, StepSettings)
    assert missing_help(cls) == []  # every field says what it means, in what unit
    default = cls()
    # The job's JSON: to_dict survives json and comes back equal; an unknown key is refused.
    assert cls.from_dict(json.loads(json.dumps(default.to_dict()))) == default
    with pytest.raises(ValueError, match=f"{cls.__name__} has no setting 'no_such_setting'"):
        cls.from_dict({"no_such_setting": 1})
    # A Literal field holding another value is a problem naming the field, and validate raises.
    for spec in cls.specs():
        if spec.choices:
            bad = dataclasses.replace(
                default, **{spec.name: ("nonsense",) if spec.many else "nonsense"}
            )
            assert any(p.startswith(spec.name) and "nonsense" in p for p in bad.problems())
            with pytest.raises(ValueError, match=spec.name):
                bad.validate()


def test_the_options_that_were_plain_strings_are_literal_choices():
    choices = {
        (cls.__name__, s.name): s.choices
        for cls in (GenerateSettings, MiningSettings, TrainConfig)
        for s in cls.specs()
    }
    assert choices["GenerateSettings", "judge"] == ("auto", "llm", "heuristic", "none")
    assert choices["MiningSettings", "index"] == ("auto", "exact", "ivf", "hnsw")
    assert choices["TrainConfig", "soft_target"] == ("expert-mean", "blend")
    assert choices["TrainConfig", "clp_missing"] == ("skip", "generate")


def test_validate_lists_every_problem_at_once():
    with pytest.raises(ValueError) as err:
        MiningSettings(negatives=0, index="flat", splits=("train", "dev")).validate()
    message = str(err.value)
    assert "negatives (K) must be at least 1" in message
    assert "index must be 'auto', 'exact', 'ivf' or 'hnsw', not 'flat'" in message
    assert "splits may hold 'train', 'validation' or 'test', not 'dev'" in message


def _extended(cls, name: str, help: str, default):
    """`cls` with one more field: what a developer adding a setting writes."""
    return dataclasses.make_dataclass(
        cls.__name__, [(name, type(default), setting(default, help))], bases=(cls,)
    )


def _help_of(command: str, capsys) -> str:
    from core.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args([command, "--help"])
    return capsys.readouterr().out


def test_a_field_added_to_mining_settings_is_an_option_of_mine_and_a_widget_of_its_page(
    ws, monkeypatch, capsys
):
    from core import commands, mining, mining_settings
    from core.cli import build_parser
    from core.jobs import cancel_job, list_jobs
    from tests.helpers import page_app
    from tests.training_helpers import small_scifact

    extended = _extended(
        MiningSettings, "min_gap", "Least gap under the weakest positive (cosine units).", 0.0
    )
    for module in (mining_settings, mining, commands):
        monkeypatch.setattr(module, "MiningSettings", extended)

    assert "--min-gap MIN_GAP" in _help_of("mine", capsys)
    args = build_parser().parse_args(["mine", str(ws.root), "--min-gap", "0.2"])
    assert commands.mining_settings(ws, args).min_gap == 0.2
    assert commands.mining_settings(ws).min_gap == 0.0  # left out: the field's default

    small_scifact(ws, n_queries=6, n_other=6, n_val=0)
    at = page_app(ws, "3_Negatives.py").run()
    assert not at.exception
    widget = at.number_input(key="neg_min_gap")
    assert widget.label == "Min gap" and widget.value == 0.0
    widget.set_value(0.3)
    at.button(key="neg_start").click().run()
    assert not at.exception
    job = list_jobs(ws, kind="mine")[0]
    cancel_job(ws, job["id"])
    assert job["params"]["min_gap"] == 0.3


def test_a_field_added_to_train_config_is_an_option_of_train_and_a_widget_of_its_page(
    ws, monkeypatch, capsys
):
    from core import commands
    from core.cli import build_parser
    from core.training import config
    from tests.helpers import page_app
    from tests.training_helpers import small_scifact

    extended = _extended(TrainConfig, "ema_decay", "Weight of the running average (0-1).", 0.5)
    for module in (config, commands):
        monkeypatch.setattr(module, "TrainConfig", extended)

    assert "--ema-decay EMA_DECAY" in _help_of("train", capsys)
    args = build_parser().parse_args(["train", str(ws.root), "--ema-decay", "0.9"])
    assert commands.train_config(ws, args, check=False).ema_decay == 0.9

    small_scifact(ws, n_queries=6, n_other=2, n_val=0)
    at = page_app(ws, "4_Train.py").run()
    assert not at.exception
    widget = at.number_input(key="train_f_ema_decay")
    assert widget.label == "Ema decay" and widget.value == 0.5


def test_a_page_chooses_every_value_it_holds_even_over_a_saved_default(ws):
    """The Pairs page's "0 = all chunks" and "0 = each kind's count" win over the workspace's
    saved run defaults, as its widget says; a CLI option left out keeps them."""
    from core.cli import build_parser
    from core.commands import generate_settings
    from core.settings import RunDefaults, load_settings, save_settings

    saved = load_settings(ws)
    saved.defaults = RunDefaults(generate_per_chunk=2, generate_limit_chunks=5)
    save_settings(ws, saved)
    page = generate_settings(ws, {"kinds": ["ict"], "per_chunk": None, "limit_chunks": None})
    assert (page.limit_chunks, page.per_chunk) == (None, {})
    cli = generate_settings(ws, build_parser().parse_args(["generate", str(ws.root)]))
    assert (cli.limit_chunks, cli.per_chunk) == (5, {"ict": 2})


def test_no_page_reads_the_streamlit_secrets_itself():
    """Secrets reach core through ui.state.secrets_or_none (the Pairs page hands them to
    core.commands.provide_api_key), never a page's own `st.secrets`."""
    from tests.conftest import REPO

    readers = [p.name for p in (REPO / "pages").glob("*.py") if "st.secrets" in p.read_text()]
    assert readers == []
