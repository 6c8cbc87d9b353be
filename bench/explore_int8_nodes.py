"""Which MatMuls of a tuned model lose the most under dynamic int8 (issue 16, item 1).

Quantizes one export's fp32 graph several ways, each keeping one group of MatMuls in fp32 (a
role in every layer, or every MatMul of one layer) or changing one quantizer option, and
prints the mean / min cosine against PyTorch on the export's own parity texts:

    python bench/explore_int8_nodes.py WS RUN [--export DIR] [--n-texts 64]

DIR defaults to the newest export of RUN (`embstudio export WS --run RUN` first).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

from common import offline_env

offline_env()

# role -> the MatMul name suffix it has in every BERT layer of the traced graph
ROLES = {
    "query": "/attention/self/query/MatMul",
    "key": "/attention/self/key/MatMul",
    "value": "/attention/self/value/MatMul",
    "attention output": "/attention/output/dense/MatMul",
    "intermediate": "/intermediate/dense/MatMul",
    "feed-forward output": "/layer.{i}/output/dense/MatMul",
}


def matmuls(model: Path) -> list[str]:
    import onnx

    graph = onnx.load(str(model), load_external_data=False).graph
    return [n.name for n in graph.node if n.op_type == "MatMul"]


def variants(names: list[str], n_layers: int) -> dict[str, dict]:
    """label -> quantize_dynamic keyword arguments."""
    out: dict[str, dict] = {"all int8": {}}
    for role, suffix in ROLES.items():
        ends = tuple({suffix.format(i=i) for i in range(n_layers)})
        keep = [n for n in names if n.endswith(ends)]
        out[f"fp32: {role} (x{len(keep)})"] = {"nodes_to_exclude": keep}
    for i in range(n_layers):
        keep = [n for n in names if f"/layer.{i}/" in n]
        out[f"fp32: layer {i}"] = {"nodes_to_exclude": keep}
    out["per-tensor weights"] = {"per_channel": False}
    out["reduce_range"] = {"reduce_range": True}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("workspace", type=Path)
    ap.add_argument("run")
    ap.add_argument("--export", type=Path, default=None)
    ap.add_argument("--n-texts", type=int, default=64)
    ap.add_argument("--only", default="", help="comma list of label prefixes to run")
    args = ap.parse_args()

    import shutil

    from onnxruntime.quantization import QuantType, quantize_dynamic

    from core.export.manifest import MANIFEST, MODEL_FILE, OnnxManifest
    from core.export.parity import check_parity, sample_texts
    from core.export.pipeline import list_exports, run_model_dir
    from core.export.runtime import TorchEmbedder
    from core.store import Workspace

    logging.getLogger().setLevel(logging.ERROR)
    ws = Workspace.open(args.workspace)
    export = args.export or Path(
        next(e for e in list_exports(ws) if e["run_id"] == args.run)["path"]
    )
    src = export / "onnx"
    texts = sample_texts(ws, args.n_texts)
    reference = TorchEmbedder(run_model_dir(ws, args.run)[0]).embed(texts)
    names = matmuls(src / MODEL_FILE)
    n_layers = sum(1 for n in names if n.endswith("/attention/self/query/MatMul"))
    todo = variants(names, n_layers)
    if args.only:
        todo = {k: v for k, v in todo.items() if k.startswith(tuple(args.only.split(",")))}
    print(f"{'variant':<34} {'mean':>7} {'min':>7}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for label, options in todo.items():
            dst = Path(tmp) / "q"
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns(MODEL_FILE))
            kwargs = {"per_channel": True, **options}
            quantize_dynamic(
                str(src / MODEL_FILE),
                str(dst / MODEL_FILE),
                weight_type=QuantType.QInt8,
                extra_options={"DefaultTensorType": 1, "MatMulConstBOnly": True},
                **kwargs,
            )
            manifest = OnnxManifest.read(src)
            manifest.precision = "int8"
            (dst / MANIFEST).unlink()
            manifest.write(dst)
            r = check_parity(reference, dst, texts, raise_on_fail=False)
            print(f"{label:<34} {r.mean:7.4f} {r.min:7.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
