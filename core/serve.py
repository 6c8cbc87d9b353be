"""An OpenAI-compatible embeddings service over an ONNX export or a PyTorch model folder.

Routes: `POST /v1/embeddings`, `GET /v1/models`, `GET /health`. Request and response bodies
follow the OpenAI embeddings API, so the official `openai` client works against
`base_url="http://HOST:PORT/v1"`; `encoding_format="base64"` returns little-endian float32
bytes, base64-encoded, as OpenAI does (and as that client asks by default).

Limits (`ServeSettings`) bound the work one request can cause; anything oversize, malformed or
of the wrong type is answered 4xx with OpenAI's error body
`{"error": {"message", "type", "param", "code"}}` and the service keeps running. With an API
key set, every request must carry `Authorization: Bearer <key>` (compared in constant time);
the key is never logged. The model runs one request at a time (a lock): on CPU, concurrent
forward passes would only compete for the same cores.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.export.runtime import Embedder

API_KEY_ENV = "EMBSTUDIO_API_KEY"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
OPENAI_MAX_INPUTS = 2048  # inputs per embeddings request the OpenAI API accepts


@dataclass(frozen=True)
class ServeSettings:
    """max_batch: inputs per request (OpenAI's own limit, 2,048, so clients that batch up to
    it work); max_input_tokens: tokens per input, specials included (None: the model's
    max_seq_length); max_input_chars: characters per input, checked before tokenizing;
    max_body_bytes: request body size; batch_size: texts per forward pass, the micro-batch
    that bounds memory however many inputs a request holds."""

    max_batch: int = OPENAI_MAX_INPUTS
    max_input_tokens: int | None = None
    max_input_chars: int = 20_000
    max_body_bytes: int = 8 * 1024 * 1024
    batch_size: int = 32


class ApiError(Exception):
    """An error answered with OpenAI's error body."""

    def __init__(
        self,
        status: int,
        message: str,
        param: str | None = None,
        code: str | None = None,
        type_: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.type = (
            status,
            message,
            param,
            code,
            type_,
        )

    def response(self) -> JSONResponse:
        body = {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else None
        return JSONResponse(body, status_code=self.status, headers=headers)


@dataclass(frozen=True)
class EmbeddingsRequest:
    texts: list[str]
    base64: bool


def parse_request(
    payload: Any, model_id: str, settings: ServeSettings, dim: int | None = None
) -> EmbeddingsRequest:
    """Validate an embeddings request body (already JSON-decoded); raises ApiError (400/404)."""
    if not isinstance(payload, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    if "input" not in payload:
        raise ApiError(
            400, "Missing required parameter: 'input'.", "input", "missing_required_parameter"
        )
    model = payload.get("model")
    if model is None:
        raise ApiError(
            400, "Missing required parameter: 'model'.", "model", "missing_required_parameter"
        )
    if not isinstance(model, str):
        raise ApiError(400, "'model' must be a string.", "model", "invalid_type")
    if model != model_id:
        raise ApiError(
            404,
            f"The model '{model}' does not exist; this server serves '{model_id}'.",
            "model",
            "model_not_found",
        )
    raw = payload["input"]
    if isinstance(raw, str):
        texts = [raw]
    elif isinstance(raw, list) and all(isinstance(t, str) for t in raw):
        texts = list(raw)
    elif isinstance(raw, list) and all(isinstance(t, int | list) for t in raw):
        raise ApiError(
            400,
            "Token arrays are not supported; send strings. LangChain's OpenAIEmbeddings "
            "sends token ids unless created with check_embedding_ctx_length=False.",
            "input",
            "invalid_type",
        )
    else:
        raise ApiError(
            400, "'input' must be a string or a list of strings.", "input", "invalid_type"
        )
    if not texts:
        raise ApiError(400, "'input' must not be empty.", "input", "invalid_value")
    if len(texts) > settings.max_batch:
        raise ApiError(
            400,
            f"Too many inputs: {len(texts)} > {settings.max_batch} per request.",
            "input",
            "too_many_inputs",
        )
    for i, text in enumerate(texts):
        if not text:
            raise ApiError(400, f"input[{i}] is an empty string.", "input", "invalid_value")
        try:
            text.encode("utf-8")  # JSON may carry lone surrogates ("\ud800") the tokenizer refuses
        except UnicodeEncodeError:
            raise ApiError(
                400, f"input[{i}] is not valid Unicode text.", "input", "invalid_value"
            ) from None
        if len(text) > settings.max_input_chars:
            raise ApiError(
                400,
                f"input[{i}] has {len(text)} characters; the limit is {settings.max_input_chars}.",
                "input",
                "context_length_exceeded",
            )
    fmt = payload.get("encoding_format", "float")
    if fmt not in ("float", "base64"):
        raise ApiError(
            400,
            "'encoding_format' must be 'float' or 'base64'.",
            "encoding_format",
            "invalid_value",
        )
    dims = payload.get("dimensions")
    if dims is not None and (not isinstance(dims, int) or isinstance(dims, bool)):
        raise ApiError(400, "'dimensions' must be an integer.", "dimensions", "invalid_type")
    if dims is not None and dim is not None and dims != dim:
        # Truncating would need a Matryoshka-trained model; say so rather than return junk.
        raise ApiError(
            400, f"This model returns {dim} dimensions only.", "dimensions", "invalid_value"
        )
    return EmbeddingsRequest(texts=texts, base64=fmt == "base64")


def encode_base64(vector: np.ndarray) -> str:
    """Little-endian float32 bytes, base64-encoded (OpenAI's `encoding_format="base64"`)."""
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


def create_app(
    embedder: Embedder,
    settings: ServeSettings | None = None,
    api_key: str | None = None,
    model_id: str | None = None,
) -> FastAPI:
    """The ASGI app serving `embedder` under `model_id` (default: the embedder's name)."""
    settings = settings or ServeSettings()
    model_id = model_id or embedder.name
    max_tokens = settings.max_input_tokens or embedder.max_seq_length
    key_bytes = api_key.encode() if api_key else None
    model_lock = threading.Lock()
    created = int(time.time())
    app = FastAPI(title="Domain Embedding Studio", docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def authenticate(request: Request, call_next):
        if key_bytes is not None:
            header = request.headers.get("authorization", "")
            scheme, _, token = header.partition(" ")
            # compare_digest on bytes: constant time whatever the supplied length or content.
            ok = scheme.lower() == "bearer" and hmac.compare_digest(
                token.strip().encode(), key_bytes
            )
            if not ok:
                return ApiError(
                    401,
                    "Incorrect or missing API key: send 'Authorization: Bearer <key>'.",
                    code="invalid_api_key",
                ).response()
        return await call_next(request)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        return ApiError(exc.status_code, str(exc.detail), code=code).response()

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> JSONResponse:
        return ApiError(500, "Internal error while embedding.", type_="server_error").response()

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "model": model_id, "backend": embedder.backend, "dim": embedder.dim}

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        card = {"id": model_id, "object": "model", "created": created, "owned_by": "embstudio"}
        return {"object": "list", "data": [card]}

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> JSONResponse:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > settings.max_body_bytes:
            raise ApiError(
                413, f"Request body over {settings.max_body_bytes} bytes.", code="request_too_large"
            )
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > settings.max_body_bytes:
                raise ApiError(
                    413,
                    f"Request body over {settings.max_body_bytes} bytes.",
                    code="request_too_large",
                )
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(
                400, "The request body is not valid JSON.", code="invalid_json"
            ) from None
        except RecursionError:  # e.g. [[[[...]]]] a few kilobytes deep
            raise ApiError(
                400, "The request body is nested too deeply.", code="invalid_json"
            ) from None
        req = parse_request(payload, model_id, settings, embedder.dim)
        # Tokenizing and the forward pass are blocking: run them off the event loop.
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(_embed, req)

    def _embed(req: EmbeddingsRequest) -> JSONResponse:
        counts = embedder.count_tokens(req.texts)
        for i, n in enumerate(counts):
            if n > max_tokens:
                raise ApiError(
                    400,
                    f"input[{i}] has {n} tokens; the limit is {max_tokens}.",
                    "input",
                    "context_length_exceeded",
                )
        with model_lock:
            vectors = embedder.embed(req.texts, batch_size=settings.batch_size)
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": encode_base64(v) if req.base64 else v.astype(float).tolist(),
            }
            for i, v in enumerate(vectors)
        ]
        tokens = int(sum(counts))
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return JSONResponse({"object": "list", "data": data, "model": model_id, "usage": usage})

    return app


def resolve_api_key(cli_value: str | None) -> str | None:
    """The key from --api-key, else $EMBSTUDIO_API_KEY, else None (no authentication)."""
    value = cli_value or os.environ.get(API_KEY_ENV) or None
    return value.strip() if value else None


def serve(
    model_dir: str,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    api_key: str | None = None,
    settings: ServeSettings | None = None,
    model_id: str | None = None,
) -> None:
    """Load the model folder and serve it with uvicorn until interrupted."""
    import uvicorn

    from core.export.runtime import load_embedder

    embedder = load_embedder(model_dir)
    app = create_app(embedder, settings, api_key=api_key, model_id=model_id)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=True)
