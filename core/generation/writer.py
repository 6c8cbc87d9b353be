"""The question-writer contract: conversations in, one `Answer` each out.

Every writer (core.generation.providers: an OpenAI-compatible endpoint, the bundled local LLM;
any provider registered in core.generation.provider_registry) is a `QuestionWriter`; the
pipeline, the filters' LLM judge and the registry's factories only know this contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

Message = dict[str, str]  # {"role": "system"|"user"|"assistant", "content": str}
Conversation = list[Message]


@dataclass(frozen=True)
class Answer:
    """One conversation's outcome: `text` when it succeeded, else `error` (one line)."""

    text: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.text is not None


class QuestionWriter(Protocol):
    """Anything that answers chat conversations.

    `name` is stored as each pair's origin ("openai:MODEL", "local:SmolLM2-135M-Instruct").
    `structured` says whether it can be asked for JSON (the local 135M model cannot: its prompts
    ask for plain lines instead).
    """

    name: str
    structured: bool

    def answer(self, conversations: list[Conversation], max_tokens: int = 256) -> list[Answer]: ...
