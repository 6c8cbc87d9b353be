"""Question writers behind one interface: an OpenAI-compatible endpoint, or the bundled local LLM.

A `QuestionWriter` turns a list of chat conversations into a list of answers, one per
conversation, each either the answer text or the error that prevented it. It never raises for
one failed conversation, so a batch keeps its finished answers (the pipeline records per-chunk
errors). `parse_json_answer` reads a model's JSON answer defensively.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from core.generation.bundled_llms import DEFAULT_LOCAL_LLM

Message = dict[str, str]  # {"role": "system"|"user"|"assistant", "content": str}
Conversation = list[Message]

DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"


class ProviderError(Exception):
    """A question writer cannot be built or its endpoint refuses every request."""


class AnswerFormatError(ValueError):
    """The model's answer is not the JSON the prompt asked for (the message says how)."""


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


# --------------------------------------------------------------------------- JSON parsing

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)


def parse_json_answer(text: str) -> Any:
    """The first JSON object or array in `text`.

    Tolerates code fences, prose before or after, and trailing commas; raises
    AnswerFormatError when no JSON value can be read.
    """
    if not isinstance(text, str) or not text.strip():
        raise AnswerFormatError("empty answer")
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    for candidate in candidates:
        for start, ch in enumerate(candidate):
            if ch not in "[{":
                continue
            for attempt in (candidate[start:], re.sub(r",\s*([}\]])", r"\1", candidate[start:])):
                try:
                    value, _ = decoder.raw_decode(attempt)
                    return value
                except json.JSONDecodeError:
                    continue
            break  # only the first bracket of each candidate is tried: later ones are fragments
    snippet = " ".join(text.split())[:80]
    raise AnswerFormatError(f"answer is not JSON: {snippet!r}")


def questions_from_json(value: Any) -> list[str]:
    """Questions from the accepted shapes: {"questions": [...]}, [...], {"question": "..."};
    list items may be strings or {"question": "..."}. Raises AnswerFormatError otherwise."""
    if isinstance(value, dict):
        for key in ("questions", "queries", "items"):
            if isinstance(value.get(key), list):
                value = value[key]
                break
        else:
            for key in ("question", "query"):
                if isinstance(value.get(key), str):
                    return [value[key].strip()]
            raise AnswerFormatError(f"JSON has no 'questions' list (keys: {sorted(value)[:5]})")
    if not isinstance(value, list):
        raise AnswerFormatError(f"expected a list of questions, got {type(value).__name__}")
    out: list[str] = []
    for item in value:
        if isinstance(item, str):
            out.append(item.strip())
        elif isinstance(item, dict) and isinstance(item.get("question") or item.get("query"), str):
            out.append((item.get("question") or item.get("query")).strip())
    out = [q for q in out if q]
    if not out:
        raise AnswerFormatError("JSON holds no question strings")
    return out


_LINE_PREFIX = re.compile(r"^\s*(?:[-*•]|\d+[.)]|Q\d*[:.)]|Question\s*\d*:)\s*", re.I)


def questions_from_lines(text: str) -> list[str]:
    """Questions from a plain-text answer: one per line, list markers and quotes removed."""
    out = []
    for line in text.splitlines():
        line = _LINE_PREFIX.sub("", line).strip().strip('"“”').strip()
        if line:
            out.append(line)
    return out


# --------------------------------------------------------------------------- OpenAI-compatible


@dataclass
class RetryPolicy:
    """Retries of one request: `max_retries` further attempts after the first, waiting
    `base_delay_s * 2**attempt` seconds (capped at `max_delay_s`), or the server's Retry-After."""

    max_retries: int = 4
    base_delay_s: float = 1.0
    max_delay_s: float = 30.0


class OpenAIWriter:
    """Any OpenAI-compatible chat endpoint (OpenAI, vLLM, Ollama, NIM) via the official client.

    The API key is read from the environment variable `api_key_env` (default OPENAI_API_KEY)
    or passed in; it is never stored. Local servers that need no key get a placeholder.
    Requests run `concurrency` at a time; each has `timeout_s` seconds and is retried on 429
    (honouring Retry-After), 5xx, timeouts and connection errors.
    """

    structured = True

    def __init__(
        self,
        model: str = DEFAULT_OPENAI_MODEL,
        base_url: str | None = None,
        api_key: str | None = None,
        api_key_env: str = DEFAULT_API_KEY_ENV,
        concurrency: int = 4,
        timeout_s: float = 60.0,
        retry: RetryPolicy | None = None,
        temperature: float = 0.7,
        json_mode: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        from openai import OpenAI

        key = api_key or os.environ.get(api_key_env)
        if not key:
            if base_url is None:
                raise ProviderError(
                    f"no API key: set the environment variable {api_key_env} "
                    "(or pass --base-url for a local server that needs none)"
                )
            key = "not-needed"  # vLLM/Ollama accept any key
        self.model = model
        self.name = f"openai:{model}"
        self.concurrency = max(1, int(concurrency))
        self.retry = retry or RetryPolicy()
        self.temperature = temperature
        self.json_mode = json_mode
        self._sleep = sleep
        # Retries are ours (max_retries=0) so that every kind of failure follows one policy.
        self._client = OpenAI(api_key=key, base_url=base_url, timeout=timeout_s, max_retries=0)

    def answer(self, conversations: list[Conversation], max_tokens: int = 256) -> list[Answer]:
        if not conversations:
            return []
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(conversations))) as pool:
            return list(pool.map(lambda c: self._one(c, max_tokens), conversations))

    def _one(self, conversation: Conversation, max_tokens: int) -> Answer:
        import openai

        attempt = 0
        while True:
            try:
                kwargs: dict[str, Any] = {}
                if self.json_mode:
                    kwargs["response_format"] = {"type": "json_object"}
                resp = self._client.chat.completions.create(
                    model=self.model,
                    messages=conversation,  # type: ignore[arg-type]
                    max_tokens=max_tokens,
                    temperature=self.temperature,
                    **kwargs,
                )
                if not resp.choices:
                    return Answer(error="endpoint answered with no choices")
                return Answer(text=resp.choices[0].message.content or "")
            except openai.RateLimitError as exc:
                why, wait = "rate limited (429)", _retry_after(exc)
            except openai.APITimeoutError:
                why, wait = "request timed out", None
            except openai.APIConnectionError as exc:
                why, wait = f"cannot connect: {exc.__cause__ or exc}", None
            except openai.APIStatusError as exc:
                if exc.status_code < 500:
                    return Answer(error=f"endpoint refused the request: HTTP {exc.status_code}")
                why, wait = f"server error HTTP {exc.status_code}", None
            except Exception as exc:  # a body the client cannot read, etc.
                return Answer(error=f"unreadable response: {exc.__class__.__name__}: {exc}")
            if attempt >= self.retry.max_retries:
                return Answer(error=f"{why}; gave up after {attempt + 1} attempts")
            if wait is None:
                wait = min(self.retry.max_delay_s, self.retry.base_delay_s * 2**attempt)
            self._sleep(min(wait, self.retry.max_delay_s))
            attempt += 1


def _retry_after(exc: Exception) -> float | None:
    """Seconds from the Retry-After (or retry-after-ms) header of a 429, if given."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    try:
        if "retry-after-ms" in headers:
            return float(headers["retry-after-ms"]) / 1000.0
        if "retry-after" in headers:
            return float(headers["retry-after"])
    except (TypeError, ValueError):
        return None
    return None


# --------------------------------------------------------------------------- local LLM


@dataclass(frozen=True)
class LocalSettings:
    """Decoding of the local model. `model`: which bundled writer (a key of
    core.generation.bundled_llms.CATALOGUE); `temperature` 0 means greedy; `max_new_tokens`
    bounds the answer length in tokens (questions are short); `batch_size` conversations per
    `generate` call (left-padded)."""

    max_new_tokens: int = 48
    temperature: float = 0.0
    batch_size: int = 8
    repetition_penalty: float = 1.1
    model: str = DEFAULT_LOCAL_LLM


def load_local_llm(model: str | None = None, device: str | None = None) -> tuple[Any, Any]:
    """(model, tokenizer) of a bundled writer (default SmolLM2), loaded once per process;
    ProviderError with a one-line reason when it is not installed or its file is damaged."""
    from core.generation.bundled_llms import LocalModelError, bundled_llm, load_bundled

    try:
        return load_bundled(bundled_llm(model).key, device)
    except LocalModelError as exc:
        raise ProviderError(str(exc)) from exc


class LocalWriter:
    """A bundled local model (core.generation.bundled_llms), offline, on the GPU when there is
    one. SmolLM2-135M writes about 0.35 questions/s on 2 idle CPU cores; its output needs the
    junk filters (core.generation.filters). Refuses at construction, with the install command,
    when the model's packages are missing."""

    structured = False

    def __init__(self, settings: LocalSettings | None = None, device: str | None = None) -> None:
        from core.generation.bundled_llms import LocalModelError, bundled_llm, unavailable_reason

        self.settings = settings or LocalSettings()
        try:
            self.model = bundled_llm(self.settings.model)
        except LocalModelError as exc:
            raise ProviderError(str(exc)) from exc
        if why := unavailable_reason(self.model):
            raise ProviderError(why)
        self.name = f"local:{self.model.display}"
        self._device = device

    def answer(self, conversations: list[Conversation], max_tokens: int = 256) -> list[Answer]:
        import torch

        from core.models import best_device

        device = self._device or best_device()
        model, tok = load_local_llm(self.model.key, device)
        out: list[Answer] = []
        bs = max(1, self.settings.batch_size)
        new_tokens = min(max_tokens, self.settings.max_new_tokens)
        for i in range(0, len(conversations), bs):
            batch = conversations[i : i + bs]
            prompts = [
                tok.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
                for c in batch
            ]
            enc = tok(prompts, return_tensors="pt", padding=True).to(device)
            sampling = self.settings.temperature > 0
            try:
                with torch.no_grad():
                    gen = model.generate(
                        **enc,
                        max_new_tokens=new_tokens,
                        do_sample=sampling,
                        temperature=self.settings.temperature if sampling else None,
                        top_p=0.95 if sampling else None,
                        top_k=None,
                        repetition_penalty=self.settings.repetition_penalty,
                        pad_token_id=tok.pad_token_id,
                    )
            except RuntimeError as exc:  # out of memory and the like: fail this batch only
                out += [Answer(error=f"local model failed: {exc}")] * len(batch)
                continue
            prompt_len = enc["input_ids"].shape[1]
            for row in gen:
                out.append(Answer(text=tok.decode(row[prompt_len:], skip_special_tokens=True)))
        return out


def make_writer(
    provider: str,
    model: str | None = None,
    base_url: str | None = None,
    api_key_env: str = DEFAULT_API_KEY_ENV,
    **kwargs: Any,
) -> QuestionWriter:
    """A question writer for `provider` 'local' (`model`: a bundled writer's key) or
    'openai' (`model`: the endpoint's model name)."""
    if provider == "local":
        return LocalWriter(LocalSettings(model=model or DEFAULT_LOCAL_LLM))
    if provider == "openai":
        return OpenAIWriter(
            model=model or DEFAULT_OPENAI_MODEL,
            base_url=base_url,
            api_key_env=api_key_env,
            **kwargs,
        )
    raise ProviderError(f"unknown provider {provider!r} (use local or openai)")
