"""A sentence-transformers model folder → one ONNX graph whose output is the final embedding.

The graph takes the tokenizer's tensors (`input_ids`, `attention_mask` and, for BERT-like
models, `token_type_ids`; int64, shape (batch, sequence), both axes dynamic) and returns
`sentence_embedding` (float32, shape (batch, dim)): the model's own modules (Transformer,
Pooling, optional Dense/Normalize or custom ones such as the MoE encoder) run in order, then an
L2 normalisation, so a client needs no pooling code and cosine similarity is a dot product.

The legacy TorchScript exporter (`torch.onnx.export(..., dynamo=False)`) is used: it works
offline with torch alone, while the dynamo exporter needs `onnxscript`. The trace is taken on a
padded batch of two texts of different lengths so the padding path of the attention mask is
the one recorded.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from core.export.manifest import (
    DEFAULT_OPSET,
    MODEL_FILE,
    OUTPUT_NAME,
    ExportError,
    OnnxManifest,
)

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

# Model files copied next to the graph so the folder documents where it came from.
# modules.json is left out on purpose: it would make the folder look like a PyTorch model.
_CONFIG_FILES = ("config.json", "sentence_bert_config.json", "config_sentence_transformers.json")
_TRACE_TEXTS = ("a short text", "a somewhat longer second text so that the batch has padding")


class EmbeddingGraph(nn.Module):
    """The model's modules in order, then L2 normalisation: tokens in, final embedding out."""

    def __init__(self, model: SentenceTransformer, input_names: list[str]) -> None:
        super().__init__()
        self.stages = nn.ModuleList(list(model))
        self.input_names = list(input_names)

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        features: dict[str, Any] = dict(zip(self.input_names, tensors, strict=True))
        for stage in self.stages:
            features = stage(features)
        embedding = features["sentence_embedding"]  # (batch, dim)
        return nn.functional.normalize(embedding, p=2, dim=-1)


def load_torch_model(model_dir: str | Path, device: str = "cpu") -> SentenceTransformer:
    """Load a sentence-transformers folder, MoE models included (core.models.open_model)."""
    from core.models import open_model

    return open_model(str(model_dir), device=device)


def _use_eager_attention(model: SentenceTransformer) -> None:
    """Trace attention as plain MatMul/Softmax rather than through SDPA: the SDPA trace carries
    extra mask arithmetic, and onnxruntime ran the plain graph faster here (about 1.3× on
    MiniLM, 2 CPU threads). The maths, hence the embeddings, are the same."""
    hf = getattr(model[0], "auto_model", None)
    setter = getattr(hf, "set_attn_implementation", None)
    if setter is not None:
        with contextlib.suppress(ValueError, ImportError, NotImplementedError):
            setter("eager")


def _config_target(path: Path) -> str:
    """Name of a copied config file: a config.json pointing at custom modelling code (auto_map,
    e.g. the MoE model) is kept as source_config.json, so that loading the tokenizer from the
    export never asks to run that code; the graph does not need it."""
    if path.name == "config.json":
        try:
            if "auto_map" in json.loads(path.read_text()):
                return "source_config.json"
        except ValueError:
            return "source_config.json"
    return path.name


def graph_input_names(model: SentenceTransformer) -> list[str]:
    """The tokenizer outputs the first module consumes, in a fixed order."""
    names = list(getattr(model.tokenizer, "model_input_names", ["input_ids", "attention_mask"]))
    order = ["input_ids", "attention_mask", "token_type_ids"]
    picked = [n for n in order if n in names]
    if "input_ids" not in picked or "attention_mask" not in picked:
        raise ExportError(
            f"unsupported tokenizer inputs {names}: need input_ids and attention_mask"
        )
    return picked


def export_onnx(
    model_dir: str | Path,
    out_dir: str | Path,
    opset: int = DEFAULT_OPSET,
    base_model: str = "",
    run_id: str = "",
) -> OnnxManifest:
    """Export the model folder `model_dir` to `out_dir/model.onnx` (fp32) with its tokenizer.

    Returns the manifest written beside the graph. `out_dir` is created (and must not hold an
    earlier export). Takes a few seconds for MiniLM on CPU.
    """
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    if not (model_dir / "modules.json").is_file():
        raise ExportError(f"{model_dir} is not a sentence-transformers model folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    if (out_dir / MODEL_FILE).exists():
        raise ExportError(f"{out_dir} already holds an export")
    model = load_torch_model(model_dir).eval()
    _use_eager_attention(model)
    names = graph_input_names(model)
    graph = EmbeddingGraph(model, names).eval()
    batch = model.tokenizer(list(_TRACE_TEXTS), padding=True, return_tensors="pt")
    args = tuple(batch[n].to(torch.int64) for n in names)
    axes = {n: {0: "batch", 1: "sequence"} for n in names} | {OUTPUT_NAME: {0: "batch"}}
    with torch.no_grad(), warnings.catch_warnings():
        # The tracer warns about Python-level checks on shapes in transformers' masking code;
        # they hold for every padded batch, and the parity check verifies the result.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph,
            args,
            str(out_dir / MODEL_FILE),
            dynamo=False,
            input_names=names,
            output_names=[OUTPUT_NAME],
            dynamic_axes=axes,
            opset_version=opset,
            do_constant_folding=True,
        )
    model.tokenizer.save_pretrained(str(out_dir))
    for name in _CONFIG_FILES:
        if (model_dir / name).is_file():
            shutil.copy2(model_dir / name, out_dir / _config_target(model_dir / name))
    with torch.no_grad():
        dim = int(graph(*args).shape[-1])
    manifest = OnnxManifest(
        precision="fp32",
        input_names=names,
        dim=dim,
        max_seq_length=int(model.max_seq_length or 512),
        opset=opset,
        source=str(model_dir),
        base_model=base_model,
        run_id=run_id,
    )
    manifest.write(out_dir)
    return manifest
