"""The query-kind registry: which kinds exist and what each asks of a run.

The kinds themselves (`WriterKind`, `PseudoKind`, the built-in ones and how each plans its
prompts or makes its pseudo-queries) are core.generation.kinds', which registers them here when
the package is imported (core/generation/__init__.py). Everything that only asks about kinds
(is this kind written by an LLM? is it a pseudo-query kind? its count per chunk?) reads this
module: the filters, a candidate, the run's settings and the training presets
(core/training/config.py), so a newly registered kind is known to all of them.
"""

from __future__ import annotations

from collections.abc import Container
from typing import Protocol

# What a writer kind's prompt may show besides its chunk (WriterKind.needs).
CONTEXT_NEEDS = {
    "related": "the chunk's nearest neighbours in its own split (all become positives); a "
    "chunk with none gets no question of this kind",
    "before": "the text of the preceding chunk of the same document",
}


class Kind(Protocol):
    """What the registry reads of a kind: its name, whether a question writer (LLM) answers
    for it (False: a pseudo-query kind, made from the text alone) and its count per chunk when
    none is chosen (None: it decides per chunk)."""

    @property
    def name(self) -> str: ...

    @property
    def needs_writer(self) -> bool: ...

    @property
    def default_per_chunk(self) -> int | None: ...


_KINDS: dict[str, Kind] = {}


def register_kind(kind: Kind) -> Kind:
    """Add (or replace) a kind under its name."""
    unknown = [n for n in getattr(kind, "needs", ()) if n not in CONTEXT_NEEDS]
    if unknown:
        known = ", ".join(CONTEXT_NEEDS)
        raise ValueError(f"kind {kind.name!r} needs unknown context {unknown} (known: {known})")
    _KINDS[kind.name] = kind
    return kind


def unregister_kind(name: str) -> None:
    """Remove a kind (tests that add one remove it again)."""
    _KINDS.pop(name, None)


def get_kind(name: str) -> Kind:
    if name not in _KINDS:
        raise KeyError(f"unknown kind {name!r}; choose from {', '.join(kind_names())}")
    return _KINDS[name]


def kind_names() -> tuple[str, ...]:
    """Every kind, writer kinds first, in registration order."""
    return (*writer_kinds(), *pseudo_kinds())


def writer_kinds() -> tuple[str, ...]:
    return tuple(k for k, v in _KINDS.items() if v.needs_writer)


def pseudo_kinds() -> tuple[str, ...]:
    return tuple(k for k, v in _KINDS.items() if not v.needs_writer)


def needs_writer(name: str) -> bool:
    """Whether questions of kind `name` come from a writer (unknown kinds: no)."""
    kind = _KINDS.get(name)
    return bool(kind and kind.needs_writer)


def is_pseudo(name: str) -> bool:
    """Whether `name` is a registered pseudo-query kind (made without an LLM; unknown: no)."""
    kind = _KINDS.get(name)
    return bool(kind and not kind.needs_writer)


class _PseudoKinds(Container[str]):
    """`kind in PSEUDO_KINDS`: asks the registry, so a kind registered later counts too."""

    def __contains__(self, kind: object) -> bool:
        return isinstance(kind, str) and is_pseudo(kind)

    def __repr__(self) -> str:
        return f"PSEUDO_KINDS{pseudo_kinds()}"


# The registered pseudo-query kinds, as a container (the training presets and the Train page
# count pseudo-queries with it).
PSEUDO_KINDS: Container[str] = _PseudoKinds()


def default_per_chunk() -> dict[str, int]:
    """Each kind's count per chunk when none is chosen (kinds that decide per chunk left out)."""
    return {k: v.default_per_chunk for k, v in _KINDS.items() if v.default_per_chunk is not None}
