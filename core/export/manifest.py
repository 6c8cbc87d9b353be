"""The manifest that marks a folder as an ONNX export and describes its graph (torch-free,
so reading exports and serving ONNX never imports torch)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

MANIFEST = "embstudio_onnx.json"  # marks a folder as an ONNX export and describes its graph
MODEL_FILE = "model.onnx"
OUTPUT_NAME = "sentence_embedding"
DEFAULT_OPSET = 17


class ExportError(RuntimeError):
    """A model cannot be exported (the message says why)."""


@dataclass
class OnnxManifest:
    """What `runtime.OnnxEmbedder` needs to run the graph: written as `embstudio_onnx.json`.

    precision: "fp32" or "int8"; input_names: graph inputs in tokenizer naming; dim: embedding
    size; max_seq_length: tokens per text the model was trained for (specials included);
    source: the model folder exported; base_model / run_id: provenance when known;
    retrieval: how to search with the model (core/export/hybrid.py `recommendation`: the
    fusion with keyword search, its weight and the table it was measured on).
    """

    precision: str
    input_names: list[str]
    dim: int
    max_seq_length: int
    opset: int = DEFAULT_OPSET
    output_name: str = OUTPUT_NAME
    model_file: str = MODEL_FILE
    source: str = ""
    base_model: str = ""
    run_id: str = ""
    created_at: float = field(default_factory=time.time)
    retrieval: dict = field(default_factory=dict)

    def write(self, folder: Path) -> None:
        (Path(folder) / MANIFEST).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def read(cls, folder: Path) -> OnnxManifest:
        path = Path(folder) / MANIFEST
        if not path.is_file():
            raise ExportError(f"{folder} is not an ONNX export (no {MANIFEST})")
        data = json.loads(path.read_text())
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)
