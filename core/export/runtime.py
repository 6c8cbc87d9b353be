"""Load an export (ONNX) or a sentence-transformers folder (PyTorch) behind one interface.

Both embedders return L2-normalised float32 embeddings, shape (n_texts, dim), in input order,
truncating each text to the model's `max_seq_length` tokens; `count_tokens` gives the untruncated
token counts (special tokens included) used for usage figures and input limits.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from core.export.manifest import MANIFEST, OnnxManifest

DEFAULT_BATCH = 32  # texts per forward pass


class Embedder(Protocol):
    name: str
    dim: int
    max_seq_length: int
    backend: str  # "onnx-fp32" | "onnx-int8" | "torch"

    def embed(self, texts: list[str], batch_size: int = DEFAULT_BATCH) -> np.ndarray: ...

    def count_tokens(self, texts: list[str]) -> list[int]: ...


def _length_order(lengths: list[int]) -> np.ndarray:
    # Longest first so each batch pads to similar lengths (as sentence-transformers does).
    return np.argsort([-n for n in lengths], kind="stable")


class OnnxEmbedder:
    """An ONNX export folder run with onnxruntime on CPU (or the providers given)."""

    def __init__(
        self,
        folder: str | Path,
        threads: int | None = None,
        providers: list[str] | None = None,
    ) -> None:
        """threads: intra-op threads of onnxruntime (None: one per core)."""
        import onnxruntime as ort
        from transformers import AutoTokenizer

        self.folder = Path(folder)
        self.manifest = OnnxManifest.read(self.folder)
        self.name = self.manifest.run_id or (
            self.folder.parent.name if self.folder.name.startswith("onnx") else self.folder.name
        )
        self.dim = self.manifest.dim
        self.max_seq_length = self.manifest.max_seq_length
        self.backend = f"onnx-{self.manifest.precision}"
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.folder), trust_remote_code=False)
        # Counting tokens of long inputs must not warn or truncate; embedding truncates itself.
        self.tokenizer.model_max_length = 1 << 30
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle worker threads sleep instead of spinning: on a few shared cores (a server beside
        # other work, or interleaved benchmarks) spinning threads steal the CPU others need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            str(self.folder / self.manifest.model_file),
            options,
            providers=providers or ["CPUExecutionProvider"],
        )
        self._tok_lock = threading.Lock()  # HF fast tokenizers are not safe across threads

    def count_tokens(self, texts: list[str]) -> list[int]:
        with self._tok_lock:
            enc = self.tokenizer(
                list(texts),
                add_special_tokens=True,
                return_attention_mask=False,
                return_token_type_ids=False,
            )
        return [len(ids) for ids in enc["input_ids"]]

    def embed(self, texts: list[str], batch_size: int = DEFAULT_BATCH) -> np.ndarray:
        texts = list(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        order = _length_order([len(t) for t in texts])
        names = self.manifest.input_names
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            with self._tok_lock:
                enc = self.tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.max_seq_length,
                    return_tensors="np",
                )
            feed = {n: enc[n].astype(np.int64) for n in names}
            out[idx] = self.session.run([self.manifest.output_name], feed)[0]
        return out


class TorchEmbedder:
    """A sentence-transformers model folder (or name) run with PyTorch."""

    def __init__(self, location: str | Path, device: str = "cpu") -> None:
        from core.export.onnx_export import load_torch_model

        self.model = load_torch_model(location, device=device).eval()
        path = Path(str(location))
        self.name = path.parent.name if path.name == "model" else path.name
        dim_of = (
            getattr(self.model, "get_embedding_dimension", None)
            or self.model.get_sentence_embedding_dimension
        )
        self.dim = int(dim_of())
        self.max_seq_length = int(self.model.max_seq_length)
        self.backend = "torch"
        self._lock = threading.Lock()

    def count_tokens(self, texts: list[str]) -> list[int]:
        with self._lock:
            enc = self.model.tokenizer(
                list(texts),
                add_special_tokens=True,
                return_attention_mask=False,
                return_token_type_ids=False,
                truncation=False,
                max_length=None,
            )
        return [len(ids) for ids in enc["input_ids"]]

    def embed(self, texts: list[str], batch_size: int = DEFAULT_BATCH) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vecs = self.model.encode(
                list(texts),
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vecs, dtype=np.float32)


def resolve_export_folder(path: str | Path) -> Path:
    """The folder to load for `path`: itself, or for a whole export its `onnx/` (fp32) part,
    else its `onnx-int8/` part."""
    path = Path(path)
    if (path / MANIFEST).is_file() or (path / "modules.json").is_file():
        return path
    for sub in ("onnx", "onnx-int8"):
        if (path / sub / MANIFEST).is_file():
            return path / sub
    raise FileNotFoundError(
        f"{path} is neither an ONNX export ({MANIFEST}) nor a sentence-transformers folder"
        " (modules.json)"
    )


def load_embedder(path: str | Path, threads: int | None = None, device: str = "cpu") -> Embedder:
    """An embedder for an ONNX export folder or a PyTorch sentence-transformers folder."""
    folder = resolve_export_folder(path)
    if (folder / MANIFEST).is_file():
        return OnnxEmbedder(folder, threads=threads)
    return TorchEmbedder(folder, device=device)
