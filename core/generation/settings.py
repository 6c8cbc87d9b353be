"""The settings of one generation run (`GenerateSettings`), its default kinds and its error.

The run itself (plan → write → filter → store) is core.generation.pipeline's; the CLI, the
Pairs page, the one-click pipeline and the generate job build a run from these settings
(through core/commands.py) and pass them to the job as JSON (`to_params`/`from_params`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from core.generation import kind_registry
from core.generation.bundled_llms import LocalModelError, bundled_llm
from core.generation.examples import ExamplesError, clean_examples
from core.generation.filters import JUDGES, FilterSettings
from core.generation.provider_registry import (
    DEFAULT_API_KEY_ENV,
    DEFAULT_PROVIDER,
    UnknownProvider,
    WriterOptions,
    get_provider,
)
from core.models import DEFAULT_BASE_MODEL

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


class GenerationError(Exception):
    """The run cannot go on (bad settings, or an endpoint that fails every request)."""


@dataclass
class GenerateSettings:
    """One generation run.

    provider: a name from core.generation.provider_registry ('local': bundled SmolLM2,
    offline; 'openai': any OpenAI-compatible endpoint).
    model: for 'local' the bundled writer (core.generation.bundled_llms; None = SmolLM2), for
    'openai' the endpoint's model. base_url/api_key_env: the endpoint (the key itself is read
    from that env variable).
    kinds: query kinds (core.generation.kinds); per_chunk: count per chunk for each kind
    (missing = the kind's default).
    limit_chunks: only the first N chunks (document order); None = all.
    chunk_ids: only these chunks (applied before limit_chunks); None = all.
    judge: 'auto' (LLM judge for a writer that answers JSON, heuristic otherwise), 'llm',
    'heuristic' or 'none'. Pseudo-queries are not judged (they carry no judge score).
    ict_remove_sentence: inverse cloze positives without the query sentence.
    base_model: the embedding model of the round-trip and duplicate filters.
    batch_chunks: chunks per committed batch (a served writer's batches hold at least
    `concurrency` chunks, so that one batch fills every request slot); concurrency/timeout_s:
    endpoint requests at once and seconds per request; max_retries: the client's further attempts of a failed
    request; fail_fast: consecutive failures (with no success yet) that stop the run;
    max_llm_chunks: cap on chunks a slow (capped) provider writes for (the local LLM writes
    ~0.35 questions/s on 2 CPU cores, so 300 chunks take ~15 min), None = no cap.
    write_again: write for every selected chunk and kind, also those this writer has done
    (a rerun otherwise resumes: it skips each (chunk, kind) its writer already wrote).
    examples: example questions for every LLM prompt (core.generation.examples); None = the
    workspace's stored ones.
    """

    provider: str = DEFAULT_PROVIDER
    model: str | None = None
    base_url: str | None = None
    api_key_env: str = DEFAULT_API_KEY_ENV
    kinds: tuple[str, ...] = DEFAULT_KINDS
    per_chunk: dict[str, int] = field(default_factory=dict)
    limit_chunks: int | None = None
    chunk_ids: tuple[int, ...] | None = None
    judge: str = "auto"
    ict_remove_sentence: bool = False
    base_model: str = DEFAULT_BASE_MODEL
    filters: FilterSettings = field(default_factory=FilterSettings)
    batch_chunks: int = 8
    concurrency: int = 4
    timeout_s: float = 60.0
    max_retries: int = 4
    fail_fast: int = 6
    max_llm_chunks: int | None = 300
    prompts_dir: str | None = None
    write_again: bool = False
    examples: tuple[str, ...] | None = None

    def validate(self) -> None:
        known = kind_registry.kind_names()
        unknown = [k for k in self.kinds if k not in known]
        if unknown:
            raise GenerationError(
                f"unknown kind(s) {', '.join(unknown)}; choose from {', '.join(known)}"
            )
        if not self.kinds:
            raise GenerationError("no kinds selected")
        try:
            provider = get_provider(self.provider)
        except UnknownProvider as exc:
            raise GenerationError(str(exc)) from exc
        if self.provider != DEFAULT_PROVIDER and not self.writer_kinds:
            writer_kinds = ", ".join(kind_registry.writer_kinds())
            raise GenerationError(
                f"{provider.noun} writes LLM kinds only, and {', '.join(self.kinds)} needs "
                f"none: add one of {writer_kinds} to the kinds, or leave the "
                f"{provider.noun.split()[-1]} out"
            )
        if self.provider == "local" and self.model:
            try:
                bundled_llm(self.model)
            except LocalModelError as exc:
                raise GenerationError(str(exc)) from exc
        if self.judge not in JUDGES:
            raise GenerationError(f"unknown judge {self.judge!r}")
        if any(n < 1 for n in self.per_chunk.values()):
            raise GenerationError("--per-chunk must be at least 1")
        if not self.timeout_s > 0:
            raise GenerationError(f"timeout must be positive seconds (got {self.timeout_s})")
        if self.max_retries < 0 or self.fail_fast < 1:
            raise GenerationError("max_retries must be >= 0 and fail_fast >= 1")
        if self.batch_chunks < 1 or self.concurrency < 1:
            raise GenerationError("batch_chunks and concurrency must be at least 1")
        if self.limit_chunks is not None and self.limit_chunks < 1:
            raise GenerationError("--limit-chunks must be at least 1 (or left out for all)")
        if self.examples is not None:
            try:
                clean_examples(self.examples)
            except ExamplesError as exc:
                raise GenerationError(str(exc)) from exc

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
        """JSON-able settings (for job params); holds no secret."""
        out = asdict(self)
        out["kinds"] = list(self.kinds)
        if self.examples is not None:
            out["examples"] = list(self.examples)
        if self.chunk_ids is not None:
            out["chunk_ids"] = list(self.chunk_ids)
        return out

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> GenerateSettings:
        p = dict(params)
        p.pop("resume", None)
        if isinstance(p.get("filters"), dict):
            p["filters"] = FilterSettings(**p["filters"])
        if "kinds" in p:
            p["kinds"] = tuple(p["kinds"])
        if p.get("examples") is not None:
            p["examples"] = tuple(p["examples"])
        if p.get("chunk_ids") is not None:
            p["chunk_ids"] = tuple(p["chunk_ids"])
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in p.items() if k in known})
