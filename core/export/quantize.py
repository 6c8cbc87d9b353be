"""Dynamic int8 quantization of an fp32 ONNX export with onnxruntime.

Weights of every MatMul with a constant right-hand side (the linear layers) are stored as int8
with one scale per output channel; activations are quantized to uint8 at run time, per tensor.
Per-channel scales matter here: with one scale per tensor MiniLM falls to a mean cosine of about
0.93 against PyTorch, per channel it keeps about 0.994 (measured on SciFact passages).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from core.export.manifest import MANIFEST, MODEL_FILE, ExportError, OnnxManifest

BLOCKWISE_PLAN = "int8 weights in blocks of 32"
BLOCK_SIZE = 32  # weights (and, at run time, activations) per quantization scale

# Quantization plans, tried in order until one passes the parity check (core.export.pipeline):
# everything int8, then the feed-forward down-projections kept in fp32. Their input is the GELU
# output, whose long tail one per-tensor uint8 activation scale fits worst; on a tuned MiniLM
# keeping those 6 of 48 MatMuls raised the mean cosine from 0.9897 to 0.9939 (README, Export).
# Last, int8 weights in blocks of 32 (MatMulNBits): activations are quantized per block of 32
# values instead of per tensor, which keeps tuned models within 0.9995 of PyTorch
# (bench/RESULTS_int8.md); the embedding table stays fp32, so the graph is larger.
INT8_PLANS: dict[str, tuple[str, ...]] = {
    "int8": (),
    "int8, feed-forward output in fp32": ("/output/dense/MatMul",),
    BLOCKWISE_PLAN: (),
}


def fp32_nodes(model_path: Path, patterns: tuple[str, ...]) -> list[str]:
    """MatMul nodes to keep in fp32: names containing a pattern, attention's own excluded."""
    import onnx

    graph = onnx.load(str(model_path), load_external_data=False).graph
    return [
        n.name
        for n in graph.node
        if n.op_type == "MatMul"
        and "attention" not in n.name
        and any(p in n.name for p in patterns)
    ]


def quantize_int8(
    src_dir: str | Path,
    dst_dir: str | Path,
    per_channel: bool = True,
    keep_fp32: tuple[str, ...] = (),
    plan: str = "",
) -> OnnxManifest:
    """Write an int8 copy of the fp32 export in `src_dir` to `dst_dir` (tokenizer included).

    per_channel: one weight scale per output channel (True) or per tensor (False, less exact).
    keep_fp32: name patterns of MatMuls left in fp32 (an INT8_PLANS entry).
    plan: an INT8_PLANS name; BLOCKWISE_PLAN writes block-quantized MatMulNBits instead of
    dynamic int8 (per_channel and keep_fp32 then do not apply).
    """
    src_dir, dst_dir = Path(src_dir), Path(dst_dir)
    manifest = OnnxManifest.read(src_dir)
    if manifest.precision != "fp32":
        raise ExportError(f"{src_dir} holds a {manifest.precision} graph; quantize the fp32 one")
    dst_dir.mkdir(parents=True, exist_ok=True)
    for item in src_dir.iterdir():
        if item.is_file() and item.name not in (MODEL_FILE, MANIFEST):
            shutil.copy2(item, dst_dir / item.name)
    # onnxruntime logs a "consider pre-processing" hint through the root logger on every call.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        if plan == BLOCKWISE_PLAN:
            _quantize_blockwise(src_dir / manifest.model_file, dst_dir / MODEL_FILE)
        else:
            _quantize_dynamic(
                src_dir / manifest.model_file, dst_dir / MODEL_FILE, per_channel, keep_fp32
            )
    finally:
        root.setLevel(level)
    manifest.precision = "int8"
    manifest.model_file = MODEL_FILE
    manifest.write(dst_dir)
    return manifest


def _quantize_dynamic(src: Path, dst: Path, per_channel: bool, keep_fp32: tuple[str, ...]) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(src),
        str(dst),
        weight_type=QuantType.QInt8,
        per_channel=per_channel,
        nodes_to_exclude=fp32_nodes(src, keep_fp32),
        # Tensors whose type shape inference cannot tell are float32 in these graphs.
        extra_options={"DefaultTensorType": 1, "MatMulConstBOnly": True},
    )


def _quantize_blockwise(src: Path, dst: Path) -> None:
    """Symmetric 8-bit weights, one scale per BLOCK_SIZE inputs; accuracy level 4 runs the
    product in int8 with the activations quantized per block as well."""
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    quantizer = MatMulNBitsQuantizer(
        onnx.load(str(src)), bits=8, block_size=BLOCK_SIZE, is_symmetric=True, accuracy_level=4
    )
    quantizer.process()
    quantizer.model.save_model_to_file(str(dst))
