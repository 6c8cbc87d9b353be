"""The plain record passed between generation steps: a candidate pair before it is stored."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.generation.kind_registry import needs_writer


@dataclass
class Candidate:
    """A generated (query, positives) pair on its way through the filters.

    `chunk_id` is the source chunk (the one the query was written for); `positives` lists every
    supporting chunk, source first. `positive_text` overrides the source chunk's text as the
    positive (inverse cloze with the sentence removed); None means the chunk text.
    `status` becomes 'dropped' with `reason` "<filter>: detail" when a filter rejects it,
    otherwise it stays 'pending' and `reason` says why it was kept.
    """

    query: str
    kind: str
    chunk_id: int
    positives: list[int]
    origin: str
    positive_text: str | None = None
    status: str = "pending"
    reason: str = ""
    judge: dict[str, float] | None = None  # relevance, accuracy, clarity (1-5)
    roundtrip_rank: int | None = None
    notes: list[str] = field(default_factory=list)  # reasons the filters passed it

    @property
    def dropped(self) -> bool:
        return self.status == "dropped"

    def drop(self, filter_name: str, detail: str) -> None:
        """Mark dropped by `filter_name` (the reason's key, counted per filter)."""
        if not self.dropped:
            self.status = "dropped"
            self.reason = f"{filter_name}: {detail}"

    @property
    def judge_score(self) -> float | None:
        if not self.judge:
            return None
        return round(sum(self.judge.values()) / len(self.judge), 3)

    @property
    def is_llm(self) -> bool:
        return needs_writer(self.kind)
