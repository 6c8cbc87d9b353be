"""The settings of hard-negative mining (`MiningSettings`): what `embstudio mine`, the Negatives
page and the one-click pipeline choose (through core/commands.py) and the "mine" job receives
as JSON. Mining itself is core/mining.py's. Every field is a CLI option and a widget of the
Negatives page (core/step_settings.py): adding a setting is adding a field here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from core.models import DEFAULT_BASE_MODEL
from core.step_settings import StepSettings, setting

# The search index of a mining ("auto": exact below `approximate_from` chunks, else ivf).
IndexChoice = Literal["auto", "exact", "ivf", "hnsw"]
INDEX_KINDS: tuple[str, ...] = get_args(IndexChoice)
# The pair splits whose queries can be mined (core/splits.py's).
SplitName = Literal["train", "validation", "test"]


@dataclass
class MiningSettings(StepSettings):
    """How negatives are chosen. Scores are cosine similarities in [-1, 1]. Fields marked
    `advanced` sit in the page's "More settings"."""

    model: str = setting(
        DEFAULT_BASE_MODEL,
        "Embedding model: a name, a folder, or run:<RUN> (ANCE-style re-mining with a fine-tuned "
        "run's model).",
        label="Model",
    )
    negatives: int = setting(4, "K: negatives kept per query.", label="Negatives per query (K)")
    relative_margin: float | None = setting(
        0.05,
        "m: keep candidates scoring < min_pos - m*|min_pos|, below the weakest positive "
        "(fraction, 0 to 1; empty = off).",
        label="Relative margin m",
    )
    absolute_margin: float | None = setting(
        None,
        "a: keep candidates scoring < min_pos - a (cosine units, 0 to 2; empty = off).",
        label="Absolute margin a",
        offered=0.1,  # the value the page offers when it is switched on
    )
    skip_top: int = setting(
        0,
        "Skip this many best non-positive candidates (ranks; they are often unlabelled positives).",
        label="Skip top ranks",
    )
    exclude_same_document: bool = setting(
        False,
        "Never take a chunk of a positive's own document (chunks of one document often share "
        "the answer).",
        label="Exclude the positive's own document",
    )
    splits: tuple[SplitName, ...] = setting(
        ("train", "validation"), "Pair splits whose queries are mined.", label="Splits"
    )
    index: IndexChoice = setting(
        "auto",
        "Search index: auto (exact below approximate_from chunks, else ivf), exact (faiss "
        "flat), ivf (inverted lists) or hnsw (graph, CPU only); exact and ivf run on the GPUs "
        "when faiss-gpu is installed.",
        label="Search index",
    )
    depth: int = setting(0, "Candidates retrieved per query (0 = automatic).", advanced=True)
    query_block: int = setting(1024, "Queries searched at once (bounds memory).", advanced=True)
    approximate_from: int = setting(
        250_000, "Chunks from which the auto index is approximate (ivf).", advanced=True
    )
    nprobe: int = setting(
        64, "IVF: clusters scanned per query (more = slower, higher recall).", advanced=True
    )
    ef_search: int = setting(
        256, "HNSW: candidate list per query (more = slower, higher recall).", advanced=True
    )
    batch_size: int = setting(64, "Texts embedded at once.", advanced=True)

    def problems(self) -> list[str]:
        errors = super().problems()
        if self.negatives < 1:
            errors.append("negatives (K) must be at least 1")
        if self.relative_margin is not None and not 0 <= self.relative_margin < 1:
            errors.append("relative_margin must be in [0, 1)")
        if self.absolute_margin is not None and not 0 <= self.absolute_margin <= 2:
            errors.append("absolute_margin must be in [0, 2]")
        if self.skip_top < 0 or self.depth < 0 or self.query_block < 1 or self.batch_size < 1:
            errors.append("skip_top and depth must be >= 0, query_block and batch_size >= 1")
        if self.approximate_from < 1 or self.nprobe < 1 or self.ef_search < 1:
            errors.append("approximate_from, nprobe and ef_search must be at least 1")
        return errors
