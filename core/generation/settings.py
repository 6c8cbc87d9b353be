"""The settings of one generation run (`GenerateSettings`), its default kinds and its error.

The run itself (plan → write → filter → store) is core.generation.pipeline's; the CLI, the
Pairs page, the one-click pipeline and the generate job build a run from these settings
(through core/commands.py) and pass them to the job as JSON (`to_dict`/`from_dict`, also
named `to_params`/`from_params`), as every step's settings do (core/step_settings.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.generation import kind_registry
from core.generation.bundled_llms import LocalModelError, bundled_llm
from core.generation.examples import ExamplesError, clean_examples
from core.generation.filters import FilterSettings, Judge
from core.generation.provider_registry import (
    DEFAULT_API_KEY_ENV,
    DEFAULT_PROVIDER,
    UnknownProvider,
    WriterOptions,
    get_provider,
)
from core.models import DEFAULT_BASE_MODEL
from core.step_settings import StepSettings, setting

# The kinds `embstudio generate` uses when none are named: inverse cloze, no LLM needed. It
# beat the bundled 135M writer's questions on real syllabus questions and is the no-label
# default measured in README "No-label default" (bench/bench_domain.py). LLM kinds stay one
# option away: worth it with a capable endpoint.
DEFAULT_KINDS: tuple[str, ...] = ("ict",)
# Kinds added to the default when a question writer (provider, model or endpoint) is named
# but no kinds are: naming a writer means wanting its questions.
WRITER_KINDS: tuple[str, ...] = ("simple",)


def default_kinds(writer_named: bool = False) -> tuple[str, ...]:
    """The kinds a run uses when none are chosen (with the writer's kinds when one is named)."""
    return (*WRITER_KINDS, *DEFAULT_KINDS) if writer_named else DEFAULT_KINDS


class GenerationError(ValueError):
    """The run cannot go on (bad settings, or an endpoint that fails every request)."""


@dataclass
class GenerateSettings(StepSettings):
    """One generation run (the settings contract: core/step_settings.py). Pseudo-queries are
    not judged (they carry no judge score). `validate()` raises GenerationError (a ValueError)
    listing every problem."""

    provider: str = setting(
        DEFAULT_PROVIDER,
        "Question writer, a name from core.generation.provider_registry ('local': bundled "
        "SmolLM2, offline; 'openai': any OpenAI-compatible endpoint).",
    )
    model: str | None = setting(
        None,
        "For 'local' the bundled writer (core.generation.bundled_llms; empty = SmolLM2), for "
        "'openai' the endpoint's model.",
    )
    base_url: str | None = setting(None, "The endpoint's URL, e.g. http://localhost:8000/v1.")
    api_key_env: str = setting(
        DEFAULT_API_KEY_ENV,
        "Environment variable holding the endpoint's key (the key itself is never stored).",
    )
    kinds: tuple[str, ...] = setting(
        DEFAULT_KINDS, "Query kinds to write (core.generation.kinds registers them)."
    )
    per_chunk: dict[str, int] = setting(
        {}, "Queries per chunk for each kind (a kind left out: its own default)."
    )
    limit_chunks: int | None = setting(
        None, "Only the first N chunks, in document order (empty = all)."
    )
    chunk_ids: tuple[int, ...] | None = setting(
        None, "Only these chunks (applied before limit_chunks; empty = all)."
    )
    judge: Judge = setting(
        "auto",
        "Who judges LLM questions: 'auto' (the LLM judge for a writer that answers JSON, "
        "heuristic otherwise), 'llm', 'heuristic' or 'none'.",
    )
    ict_remove_sentence: bool = setting(
        False, "Inverse cloze positives without the query sentence."
    )
    base_model: str = setting(
        DEFAULT_BASE_MODEL, "The embedding model of the round-trip and duplicate filters."
    )
    filters: FilterSettings = field(
        default_factory=FilterSettings,
        metadata={"help": "Filter thresholds (core.generation.filters.FilterSettings)."},
    )
    batch_chunks: int = setting(
        8,
        "Chunks per committed batch (a served writer's batches hold at least `concurrency` "
        "chunks, so that one batch fills every request slot).",
    )
    concurrency: int = setting(4, "Endpoint requests at once.")
    timeout_s: float = setting(60.0, "Seconds per endpoint request.")
    max_retries: int = setting(4, "The client's further attempts of a failed request.")
    fail_fast: int = setting(6, "Consecutive failures (with no success yet) that stop the run.")
    max_llm_chunks: int | None = setting(
        300,
        "Cap on chunks a slow (capped) provider writes for (the local LLM writes ~0.35 "
        "questions/s on 2 CPU cores, so 300 chunks take ~15 min); empty = no cap.",
    )
    prompts_dir: str | None = setting(
        None, "A folder of prompt templates replacing the bundled ones (empty = bundled)."
    )
    write_again: bool = setting(
        False,
        "Write for every selected chunk and kind, also those this writer has done (a rerun "
        "otherwise resumes: it skips each (chunk, kind) its writer already wrote).",
    )
    examples: tuple[str, ...] | None = setting(
        None,
        "Example questions for every LLM prompt (core.generation.examples); empty = the "
        "workspace's stored ones.",
    )

    def problems(self) -> list[str]:
        errors = super().problems()
        known = kind_registry.kind_names()
        unknown = [k for k in self.kinds if k not in known]
        if unknown:
            errors.append(f"unknown kind(s) {', '.join(unknown)}; choose from {', '.join(known)}")
        if not self.kinds:
            errors.append("no kinds selected")
        try:
            provider = get_provider(self.provider)
        except UnknownProvider as exc:
            errors.append(str(exc))
        else:
            if self.provider != DEFAULT_PROVIDER and self.kinds and not self.writer_kinds:
                writer_kinds = ", ".join(kind_registry.writer_kinds())
                errors.append(
                    f"{provider.noun} writes LLM kinds only, and {', '.join(self.kinds)} needs "
                    f"none: add one of {writer_kinds} to the kinds, or leave the "
                    f"{provider.noun.split()[-1]} out"
                )
        if self.provider == "local" and self.model:
            try:
                bundled_llm(self.model)
            except LocalModelError as exc:
                errors.append(str(exc))
        if any(n < 1 for n in self.per_chunk.values()):
            errors.append("--per-chunk must be at least 1")
        if not self.timeout_s > 0:
            errors.append(f"timeout must be positive seconds (got {self.timeout_s})")
        if self.max_retries < 0 or self.fail_fast < 1:
            errors.append("max_retries must be >= 0 and fail_fast >= 1")
        if self.batch_chunks < 1 or self.concurrency < 1:
            errors.append("batch_chunks and concurrency must be at least 1")
        if self.limit_chunks is not None and self.limit_chunks < 1:
            errors.append("--limit-chunks must be at least 1 (or left out for all)")
        if self.examples is not None:
            try:
                clean_examples(self.examples)
            except ExamplesError as exc:
                errors.append(str(exc))
        return errors

    def validate(self) -> GenerateSettings:
        """Raise GenerationError (a ValueError) listing every problem; self when none."""
        if problems := self.problems():
            raise GenerationError("; ".join(problems))
        return self

    @property
    def writer_kinds(self) -> list[str]:
        """The selected kinds a question writer answers."""
        return [k for k in self.kinds if kind_registry.needs_writer(k)]

    def count_for(self, kind: str) -> int | None:
        """Queries per chunk of `kind`: chosen, else the kind's default (None = it decides
        per chunk, e.g. inverse cloze by chunk length)."""
        return self.per_chunk.get(kind, kind_registry.get_kind(kind).default_per_chunk)

    def count(self, kind: str) -> int:
        return int(self.count_for(kind) or 1)

    def writer_options(self) -> WriterOptions:
        return WriterOptions(
            model=self.model,
            base_url=self.base_url,
            api_key_env=self.api_key_env,
            concurrency=self.concurrency,
            timeout_s=self.timeout_s,
            max_retries=self.max_retries,
            sampling=any(self.count(k) > 1 for k in self.writer_kinds),
        )

    def to_params(self) -> dict[str, Any]:
        """JSON-able settings (for job params; `to_dict()`); holds no secret."""
        return self.to_dict()

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> GenerateSettings:
        """The settings a generate job's params hold (`to_params()`; a resumed job's also
        `resume`)."""
        return cls.from_dict({k: v for k, v in params.items() if k != "resume"})
