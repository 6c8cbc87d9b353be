"""What each step's command runs with: its parsed options over the workspace's Settings
(core.settings.defaults_for) over the step's own defaults. One builder per command, read by
the CLI (`args`: the parsed options), by the pages (`args`: a mapping of the values the user
chose, so a page and the CLI cannot disagree) and by the one-click pipeline (core/auto.py),
which runs every step with no option (`args` None). Every step's settings follow one contract
(core/step_settings.py)."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from core.generation.filters import FilterSettings
from core.generation.pipeline import GenerateSettings, default_kinds
from core.generation.provider_registry import DEFAULT_PROVIDER, get_provider
from core.mining_settings import MiningSettings
from core.settings import defaults_for, option
from core.step_settings import chosen
from core.store import Workspace
from core.training.config import TrainConfig


def generate_settings(ws: Workspace, args: Any = None) -> GenerateSettings:
    """The run `embstudio generate` asks for: its parsed options `args` (None: no option, as
    the one-click pipeline runs it), else the workspace's Settings (core.settings.defaults_for),
    else the generation defaults; validated (before any model loads: a bad setting costs
    nothing)."""

    def given(name: str) -> Any:
        return option(args, name)

    d = defaults_for(ws)
    provider = given("provider") or d.llm.provider
    # The saved endpoint applies to the saved provider only, and to the fields it reads.
    reads = get_provider(provider).fields if provider == d.llm.provider else ()

    def saved(name: str, value: str | None) -> str | None:
        return value or (getattr(d.llm, name) if name in reads else None)

    writer_named = provider != DEFAULT_PROVIDER or any(
        v is not None for v in (given("provider"), given("model"), given("base_url"))
    )
    if given("kinds") is None:
        kinds = default_kinds(writer_named)
    elif isinstance(given("kinds"), str):  # the CLI's comma-separated list
        kinds = tuple(k.strip() for k in given("kinds").split(",") if k.strip())
    else:  # the Pairs page's chosen kinds
        kinds = tuple(given("kinds"))
    fs = FilterSettings()
    if given("min_judge_score") is not None:
        fs = replace(fs, min_judge_score=given("min_judge_score"))
    if given("roundtrip_k") is not None:
        fs = replace(fs, roundtrip_k=given("roundtrip_k"), pseudo_roundtrip_k=given("roundtrip_k"))
    per_chunk = given("per_chunk") if given("per_chunk") is not None else d.per_chunk
    limit_chunks = given("limit_chunks") or d.limit_chunks
    if isinstance(args, Mapping):  # a page chose every value it holds: 0 or None = each/all
        per_chunk = args["per_chunk"] or None if "per_chunk" in args else per_chunk
        limit_chunks = args["limit_chunks"] or None if "limit_chunks" in args else limit_chunks
    defaults = GenerateSettings()
    settings = GenerateSettings(
        provider=provider,
        model=saved(get_provider(provider).model_setting, given("model")),
        base_url=saved("base_url", given("base_url")),
        api_key_env=saved("api_key_env", given("api_key_env")) or defaults.api_key_env,
        kinds=kinds,
        per_chunk={k: per_chunk for k in kinds} if per_chunk is not None else {},
        limit_chunks=limit_chunks,
        judge=given("judge") or defaults.judge,
        ict_remove_sentence=bool(given("ict_remove_sentence")),
        base_model=d.base_model,
        filters=fs,
        timeout_s=given("timeout") or defaults.timeout_s,
        concurrency=given("concurrency") or defaults.concurrency,
        write_again=bool(given("write_again")),
    )
    return settings.validate()


def provide_api_key(settings: GenerateSettings, secrets: Mapping[str, Any] | None) -> None:
    """Make the key of `settings`' provider reachable by the generate job: when its environment
    variable is unset and `secrets` (the app's Streamlit secrets, handed in by the page) hold
    it, set the variable in this process, whose jobs inherit it. The key never goes into the
    database or the job's params."""
    if not get_provider(settings.provider).needs_key or os.environ.get(settings.api_key_env):
        return
    try:
        secret = secrets.get(settings.api_key_env) if secrets is not None else None
    except Exception:  # st.secrets raises when no secrets file exists
        secret = None
    if secret:
        os.environ[settings.api_key_env] = str(secret)


def mining_settings(ws: Workspace, args: Any = None) -> MiningSettings:
    """The mining `embstudio mine` and the Negatives page ask for: the MiningSettings fields
    `args` sets (parsed options, or a mapping of the page's values: core.step_settings.chosen;
    None: nothing, as the one-click pipeline runs it), else MiningSettings' defaults, with the
    workspace's base model (core.settings.defaults_for) as the model; validated."""
    values = chosen(args, MiningSettings)
    values["model"] = values.get("model") or defaults_for(ws).base_model
    margin = values.get("relative_margin")
    if margin is not None and margin < 0:  # the CLI's older spelling of off
        values["relative_margin"] = None
    if isinstance(values.get("splits"), str):
        values["splits"] = [s.strip() for s in values["splits"].split(",") if s.strip()]
    return MiningSettings.from_dict(values).validate()


def _coerce(field: dataclasses.Field, raw: str) -> Any:
    kind = str(field.type)
    if "bool" in kind:
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if kind in ("int",):
        return int(raw)
    if kind in ("float",):
        return float(raw)
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def train_config(ws: Workspace, args: Any = None, check: bool = True) -> TrainConfig:
    """The run `embstudio train` and the Train page ask for: the TrainConfig fields `args`
    sets (parsed options, one per field, or a mapping of the page's values:
    core.step_settings.chosen; None: nothing, as the one-click pipeline runs it) over
    `--config` or the workspace's Settings (base model, device, run defaults), else
    TrainConfig's defaults; then `--set KEY=VALUE`; validated unless `check` is False (the
    page shows its settings' consequences before starting, which validates)."""

    def given(name: str) -> Any:
        return option(args, name)

    if given("config"):
        cfg = TrainConfig.from_json(given("config"))
    else:  # the workspace's Settings (base model, device, run defaults), else TrainConfig's
        cfg = TrainConfig(**defaults_for(ws).train)
    cfg = replace(cfg, **chosen(args, TrainConfig))
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    for item in given("set") or ():
        key, sep, raw = item.partition("=")
        if not sep or key.strip() not in fields:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE with a TrainConfig field")
        setattr(cfg, key.strip(), _coerce(fields[key.strip()], raw))
    return cfg.validate() if check else cfg
