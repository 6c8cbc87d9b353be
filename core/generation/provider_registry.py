"""The question-writer providers, one registry: what each is called, what it reads, how it is built.

The CLI's `--provider` choices, the Pairs and Settings pages, `GenerateSettings.validate`,
`check_llm` (a workspace's saved writer) and `make_writer` all read this registry. Adding a provider is one
module that calls `register_provider(Provider(...))` and one line importing that module in
core/generation/__init__.py (which registers the built-in ones, core.generation.providers, so
the registry is full whenever any module of the package is imported).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

# The provider used when none is named (a new workspace's, core.settings): a run on it with no
# LLM kind is the no-label default.
from core.settings import DEFAULT_API_KEY_ENV as DEFAULT_API_KEY_ENV
from core.settings import DEFAULT_PROVIDER as DEFAULT_PROVIDER
from core.settings import SettingsError

if TYPE_CHECKING:
    from core.generation.writer import QuestionWriter
    from core.settings import LLMSettings

# The settings a provider may read (names of `WriterOptions` / `core.settings.LLMSettings`).
SETTING_FIELDS = ("model", "base_url", "api_key_env", "local_model")


class UnknownProvider(ValueError):
    """A provider name that no module registered (the message lists the known ones)."""


@dataclass(frozen=True)
class WriterOptions:
    """What a factory may use to build its writer.

    model/base_url/api_key_env: the endpoint (None = the provider's default; the key itself is
    read from the variable `api_key_env`). concurrency: requests at once. timeout_s: seconds per
    request. max_retries: further attempts of a failed request. sampling: several questions are
    asked of one prompt, so decoding needs a little randomness for them to differ.
    """

    model: str | None = None
    base_url: str | None = None
    api_key_env: str = DEFAULT_API_KEY_ENV
    concurrency: int = 4
    timeout_s: float = 60.0
    max_retries: int = 4
    sampling: bool = False


@dataclass(frozen=True)
class Provider:
    """One way to get a question writer.

    name: the value of `--provider` and of the saved setting. label/help: what pages show.
    fields: the settings it reads, from SETTING_FIELDS (the pages show inputs for these only).
    needs_key: it sends an API key (the pages say whether one was found). noun: what the user
    names by choosing it, in a sentence ("an endpoint"). model_setting: the settings field
    (of SETTING_FIELDS) that names its model. capped: slow enough that
    `GenerateSettings.max_llm_chunks` bounds the chunks it writes for. served: it answers
    from a server, `concurrency` requests at once, so a batch holds a request per slot and
    the next batch is written while this one is filtered and stored.
    """

    name: str
    label: str
    help: str
    factory: Callable[[WriterOptions], QuestionWriter]
    fields: tuple[str, ...] = ()
    needs_key: bool = False
    noun: str = "a writer"
    model_setting: str = "model"
    capped: bool = False
    served: bool = False


_PROVIDERS: dict[str, Provider] = {}


def register_provider(provider: Provider) -> Provider:
    """Add (or replace) `provider` under its name."""
    unknown = [f for f in provider.fields if f not in SETTING_FIELDS]
    if unknown:
        raise ValueError(f"provider {provider.name!r}: unknown fields {unknown} ({SETTING_FIELDS})")
    _PROVIDERS[provider.name] = provider
    return provider


def unregister_provider(name: str) -> None:
    """Remove a provider (tests that add one remove it again)."""
    _PROVIDERS.pop(name, None)


def provider_names() -> tuple[str, ...]:
    """Every registered provider, the default first."""
    names = list(_PROVIDERS)
    return tuple(sorted(names, key=lambda n: n != DEFAULT_PROVIDER))


def get_provider(name: str) -> Provider:
    """The provider called `name` (UnknownProvider names the choices otherwise)."""
    if name not in _PROVIDERS:
        raise UnknownProvider(
            f"unknown provider {name!r} (choose from {', '.join(provider_names())})"
        )
    return _PROVIDERS[name]


def make_writer(provider: str, options: WriterOptions | None = None) -> QuestionWriter:
    """A question writer of `provider`, built from `options` (defaults when None)."""
    return get_provider(provider).factory(options or WriterOptions())


def check_llm(llm: LLMSettings) -> None:
    """A workspace's saved writer choice (core.settings.LLMSettings) against the registry and
    the bundled catalogue; SettingsError says what is wrong. The Settings page checks with it
    before saving."""
    from core.generation.bundled_llms import CATALOGUE

    try:
        reads = get_provider(llm.provider).fields
    except UnknownProvider as exc:
        raise SettingsError(str(exc)) from exc
    if "base_url" in reads and not llm.base_url.startswith(("http://", "https://")):
        raise SettingsError("the base URL must start with http:// or https://")
    if "model" in reads and not llm.model.strip():
        raise SettingsError("the LLM model name is empty")
    if llm.local_model not in CATALOGUE:
        raise SettingsError(f"local model must be one of {', '.join(CATALOGUE)}")
