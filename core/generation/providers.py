"""Question writers behind one interface: an OpenAI-compatible endpoint, or the bundled local LLM.

A `QuestionWriter` turns a list of chat conversations into a list of answers, one per
conversation, each either the answer text or the error that prevented it. It never raises for
one failed conversation, so a batch keeps its finished answers (the pipeline records per-chunk
errors). `parse_json_answer` reads a model's JSON answer defensively. Both writers register
themselves as providers at the bottom of this module (core.generation.provider_registry).
"""

from __future__ import annotations

import json
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from core.generation.bundled_llms import DEFAULT_LOCAL_LLM
from core.generation.provider_registry import DEFAULT_API_KEY_ENV as DEFAULT_API_KEY_ENV
from core.generation.provider_registry import Provider, WriterOptions, register_provider
from core.generation.provider_registry import make_writer as make_writer  # callers import it here

# The writer contract (core.generation.writer), re-exported: callers import it here.
from core.generation.writer import Answer as Answer
from core.generation.writer import Conversation as Conversation
from core.generation.writer import Message as Message
from core.generation.writer import QuestionWriter as QuestionWriter

DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
OPENAI_HOST = "api.openai.com"  # the one endpoint that always needs a key


class ProviderError(Exception):
    """A question writer cannot be built or its endpoint refuses every request."""


class AnswerFormatError(ValueError):
    """The model's answer is not the JSON the prompt asked for (the message says how)."""


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


def openai_client(
    base_url: str | None = None,
    api_key_env: str = DEFAULT_API_KEY_ENV,
    timeout_s: float = 60.0,
    max_retries: int = 4,
    api_key: str | None = None,
    http_client: Any = None,
) -> Any:
    """The official `openai.OpenAI` client, as every caller builds it (question writing, soft
    labels' embedding experts). The key is `api_key` or read from `api_key_env`, never stored;
    a local server (a `base_url`) needing none gets a placeholder. The client retries 429 (its
    Retry-After honoured), 408/409, 5xx, timeouts and connection errors `max_retries` times
    with its own exponential backoff."""
    from openai import OpenAI

    key = api_key or os.environ.get(api_key_env)
    if not key:
        if base_url is None or OPENAI_HOST in base_url:
            raise ProviderError(
                f"no API key: set the environment variable {api_key_env} "
                "(or pass --base-url for a local server that needs none)"
            )
        key = "not-needed"  # vLLM/Ollama accept any key
    return OpenAI(
        api_key=key,
        base_url=base_url,
        timeout=timeout_s,
        max_retries=max_retries,
        http_client=http_client,
    )


class OpenAIWriter:
    """Any OpenAI-compatible chat endpoint (OpenAI, vLLM, Ollama, NIM) via the official client.

    The API key is read from the environment variable `api_key_env` (default OPENAI_API_KEY)
    or passed in; it is never stored. Local servers that need no key get a placeholder.
    At most `concurrency` requests are in flight at once, also across overlapping `answer`
    calls (the pipeline writes the next batch while this one is filtered); each has
    `timeout_s` seconds, and the client retries it up to `max_retries` times (see
    `openai_client`).
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
        max_retries: int = 4,
        temperature: float = 0.7,
        json_mode: bool = False,
    ) -> None:
        import openai

        self.model = model
        self.name = f"openai:{model}"
        self.concurrency = max(1, int(concurrency))
        self._slots = threading.BoundedSemaphore(self.concurrency)
        self.temperature = temperature
        self.json_mode = json_mode
        # The client does not say how many attempts a failed request took; its transport's
        # request hook counts them per thread (one conversation per thread at a time).
        self._attempts = threading.local()
        counting = openai.DefaultHttpxClient(event_hooks={"request": [self._count_attempt]})
        self._client = openai_client(
            base_url, api_key_env, timeout_s, max_retries, api_key=api_key, http_client=counting
        )

    def _count_attempt(self, request: Any) -> None:
        self._attempts.n = getattr(self._attempts, "n", 0) + 1

    def answer(self, conversations: list[Conversation], max_tokens: int = 256) -> list[Answer]:
        if not conversations:
            return []
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(conversations))) as pool:
            return list(pool.map(lambda c: self._one(c, max_tokens), conversations))

    def _one(self, conversation: Conversation, max_tokens: int) -> Answer:
        import openai

        self._attempts.n = 0
        kwargs: dict[str, Any] = {}
        if self.json_mode:
            kwargs["response_format"] = {"type": "json_object"}
        try:
            with self._slots:
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
        except openai.RateLimitError:
            why = "rate limited (429)"
        except openai.APITimeoutError:
            why = "request timed out"
        except openai.APIConnectionError as exc:
            why = f"cannot connect: {exc.__cause__ or exc}"
        except openai.APIStatusError as exc:
            if exc.status_code < 500:
                return Answer(error=f"endpoint refused the request: HTTP {exc.status_code}")
            why = f"server error HTTP {exc.status_code}"
        except Exception as exc:  # a body the client cannot read, etc.
            return Answer(error=f"unreadable response: {exc.__class__.__name__}: {exc}")
        attempts = max(1, self._attempts.n)
        return Answer(error=f"{why}; gave up after {attempts} attempt{'s' * (attempts > 1)}")


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

        from core.devices import resolve_device

        device = self._device or resolve_device()
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


# --------------------------------------------------------------------------- registrations


def _local_writer(options: WriterOptions) -> LocalWriter:
    # Several questions per chunk from one prompt need a little sampling to differ.
    return LocalWriter(
        LocalSettings(
            model=options.model or DEFAULT_LOCAL_LLM,
            temperature=0.3 if options.sampling else 0.0,
        )
    )


def _openai_writer(options: WriterOptions) -> OpenAIWriter:
    return OpenAIWriter(
        model=options.model or DEFAULT_OPENAI_MODEL,
        base_url=options.base_url,
        api_key_env=options.api_key_env,
        concurrency=options.concurrency,
        timeout_s=options.timeout_s,
        max_retries=options.max_retries,
    )


register_provider(
    Provider(
        name="local",
        label="Local (a bundled model, offline, no key)",
        help="a bundled model (--model: core.generation.bundled_llms), offline; SmolLM2-135M "
        "writes ~0.35 questions/s on 2 CPU cores",
        factory=_local_writer,
        fields=("local_model",),
        model_setting="local_model",
        capped=True,
    )
)
register_provider(
    Provider(
        name="openai",
        label="OpenAI-compatible server",
        help="any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, NIM)",
        factory=_openai_writer,
        fields=("model", "base_url", "api_key_env"),
        needs_key=True,
        noun="an endpoint",
        served=True,
    )
)
