"""Workspace settings in one place: LLM provider, base model, device, small-run defaults.

Stored as `settings.json` in the workspace folder. Pages and commands read them through one
function, `defaults_for(ws)`: the starting values of every form and every option left out. API keys are never part of it: the key is
read at use time from an environment variable (named in the settings, `OPENAI_API_KEY` by
default) or from Streamlit secrets, and `save_settings` refuses anything that looks like a key.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from core.devices import DEVICES as DEVICES  # the Settings page's choices
from core.devices import Device, resolve_device
from core.models import DEFAULT_BASE_MODEL
from core.store import Workspace

# What a new workspace's question writer is. The generation layer reads these (its provider
# registry and bundled-LLM catalogue re-export them) and checks a writer choice against what is
# registered (`core.generation.provider_registry.check_llm`); settings, a foundation module,
# knows no provider.
DEFAULT_PROVIDER = "local"  # the bundled model on this machine: no key, no server
DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"
DEFAULT_LOCAL_LLM = "smollm2-135m-instruct"  # a key of core.generation.bundled_llms.CATALOGUE

# Key-like field names that must never be written to disk.
_SECRET_NAMES = ("api_key", "key", "token", "secret", "password")


class SettingsError(ValueError):
    """Settings that cannot be used or saved (the message says why)."""


@dataclass
class LLMSettings:
    """Where synthetic queries come from.

    provider: a name from core.generation.provider_registry ("local" = the bundled SmolLM2
    model on this machine, no key, slow, rough output; "openai" = any OpenAI-compatible server
    (OpenAI, vLLM, NIM, Ollama) at `base_url`). model, base_url, api_key_env: read by the
    providers whose `fields` name them. api_key_env: the environment variable (or Streamlit
    secret) holding the key; the key itself is never stored. local_model: the bundled writer
    of the local provider (a key of core.generation.bundled_llms.CATALOGUE).
    """

    provider: str = DEFAULT_PROVIDER
    base_url: str = "https://api.openai.com/v1"
    model: str = "gpt-4o-mini"
    api_key_env: str = DEFAULT_API_KEY_ENV
    local_model: str = DEFAULT_LOCAL_LLM


@dataclass
class RunDefaults:
    """Starting values of new jobs on the Pairs and Train pages and of `embstudio generate`
    and `embstudio train` options left out; 0 = the step's own default.

    generate_per_chunk: queries per chunk and kind (0 = each kind's own count).
    generate_limit_chunks: only the first N chunks (0 = all). train_epochs: passes over the
    curated pairs (0 = the preset's). train_batch_size: pairs per step (0 = TrainConfig's).
    train_max_steps: stop after this many optimizer steps (0 = no limit).
    """

    generate_per_chunk: int = 0
    generate_limit_chunks: int = 0
    train_epochs: int = 0
    train_batch_size: int = 0
    train_max_steps: int = 0


# The first-run demo: small enough that every step finishes in minutes on a 2-core CPU.
DEMO_DEFAULTS = RunDefaults(
    generate_per_chunk=0,
    generate_limit_chunks=0,
    train_epochs=0,
    train_batch_size=16,
    train_max_steps=20,
)


@dataclass
class StudioSettings:
    """Everything the Settings page edits. `device` "auto" = GPU when usable, else CPU.
    `general_dir`: a BEIR folder for the general-domain check ("" = $EMBSTUDIO_GENERAL_DIR,
    else SciFact from the cache or BEIR's downloader: core.evaluation.general_data)."""

    llm: LLMSettings = field(default_factory=LLMSettings)
    base_model: str = DEFAULT_BASE_MODEL
    device: Device = "auto"
    defaults: RunDefaults = field(default_factory=RunDefaults)
    general_dir: str = ""
    # Real questions with known answers about the workspace's documents (a BEIR folder):
    # when set, the one-click pipeline scores the final fit on them, per `questions_group`
    # (a corpus field, e.g. "document"), instead of on the held-out split. The demo sets it.
    questions_dir: str = ""
    questions_group: str = ""

    def validate(self) -> None:
        """What settings own; the writer choice (provider, its endpoint and model, the local
        model) is the generation layer's to check: `provider_registry.check_llm`."""
        if not self.base_model.strip():
            raise SettingsError("the base model name is empty")
        if self.device not in DEVICES:
            raise SettingsError(f"device must be one of {', '.join(DEVICES)}")
        if not self.llm.api_key_env.replace("_", "").isalnum():
            raise SettingsError("the key variable must be a name like OPENAI_API_KEY, not a key")
        for f in fields(self.defaults):
            if getattr(self.defaults, f.name) < 0:
                raise SettingsError(f"{f.name} must be 0 or more")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _pick(cls, data: Mapping[str, Any] | None):
    # Unknown keys (from a newer release) are ignored rather than failing the whole file.
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in (data or {}).items() if k in names})


def settings_path(ws: Workspace) -> Path:
    return ws.settings_file


def load_settings(ws: Workspace) -> StudioSettings:
    """The workspace's settings; defaults when none were saved or the file is unreadable."""
    path = settings_path(ws)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return StudioSettings()
    try:
        return StudioSettings(
            llm=_pick(LLMSettings, data.get("llm")),
            base_model=str(data.get("base_model") or DEFAULT_BASE_MODEL),
            device=data.get("device", "auto"),
            defaults=_pick(RunDefaults, data.get("defaults")),
            general_dir=str(data.get("general_dir") or ""),
            questions_dir=str(data.get("questions_dir") or ""),
            questions_group=str(data.get("questions_group") or ""),
        )
    except (TypeError, AttributeError):
        return StudioSettings()


def _contains_secret(data: Any, key: str = "") -> bool:
    if isinstance(data, Mapping):
        return any(_contains_secret(v, str(k)) for k, v in data.items())
    # A field named like a key with a non-empty value is refused; `api_key_env` is a name, fine.
    name = key.lower()
    return bool(data) and name != "api_key_env" and any(s == name for s in _SECRET_NAMES)


def save_settings(ws: Workspace, settings: StudioSettings) -> Path:
    """Validate and write `settings.json` (atomically). Never contains an API key. The
    Settings page checks the writer choice first (`provider_registry.check_llm`)."""
    settings.validate()
    data = settings.to_dict()
    if _contains_secret(data):
        raise SettingsError("settings must not contain API keys")
    path = settings_path(ws)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)
    return path


@dataclass(frozen=True)
class Defaults:
    """What a workspace's settings make of every page's and command's starting values.

    llm: the question writer. base_model: the model the Negatives, Train and Evaluate pages,
    `mine`, `train`, `evaluate`, `ingest` (token limit of chunks) and generation's filters
    start from. per_chunk/limit_chunks: generation's counts (None = the step's own default).
    train: TrainConfig fields a new run starts from (base model, device, and epochs, batch
    size and max steps when set). questions_dir / questions_group: the workspace's real
    question set (a BEIR folder) and its group field, None when there is none.
    """

    llm: LLMSettings
    base_model: str
    device: str
    per_chunk: int | None
    limit_chunks: int | None
    train: dict[str, Any]
    questions_dir: str | None = None
    questions_group: str | None = None


def defaults_for(ws: Workspace) -> Defaults:
    """The one reader of the saved settings for pages and commands (see `Defaults`)."""
    s = load_settings(ws)
    d = s.defaults
    train: dict[str, Any] = {"base_model": s.base_model, "device": s.device}
    if d.train_epochs:
        train["epochs"] = float(d.train_epochs)
    if d.train_batch_size:
        train["batch_size"] = int(d.train_batch_size)
    if d.train_max_steps:
        train["max_steps"] = int(d.train_max_steps)
    return Defaults(
        llm=s.llm,
        base_model=s.base_model,
        device=s.device,
        per_chunk=d.generate_per_chunk or None,
        limit_chunks=d.generate_limit_chunks or None,
        train=train,
        questions_dir=s.questions_dir or None,
        questions_group=s.questions_group or None,
    )


def api_key(llm: LLMSettings, secrets: Mapping[str, Any] | None = None) -> str | None:
    """The provider key: environment variable first, then Streamlit secrets; None when absent."""
    value = os.environ.get(llm.api_key_env)
    if not value and secrets is not None:
        try:
            value = secrets.get(llm.api_key_env)
        except Exception:  # st.secrets raises when no secrets file exists
            value = None
    return str(value) if value else None


def device_info() -> dict[str, Any]:
    """What this machine offers: detected device, GPU names and memory (GiB), CPU cores."""
    import torch

    gpus = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            gpus.append({"name": props.name, "memory_gib": round(props.total_memory / 2**30, 1)})
    return {
        "detected": resolve_device(),
        "gpus": gpus,
        "cpu_cores": os.cpu_count() or 1,
        "torch": torch.__version__,
    }


def option(args: Any, name: str) -> Any:
    """A command's parsed option `name`: None when it was not given, or when there are no
    options at all (`args` None: the one-click pipeline runs each step with no option). `args`
    may also be a mapping of the values a page's user chose (core/commands.py)."""
    if args is None:
        return None
    return args.get(name) if isinstance(args, Mapping) else getattr(args, name, None)
