"""Export one training run: ONNX fp32 (+ int8), parity checks, model card, zip.

`export_run` is what the CLI, the export job and the tests call. It builds the export in a
hidden `.partial` folder and renames it only when every parity check passed, so a folder under
`exports/` is always a complete, verified export.
"""

from __future__ import annotations

import json
import shutil
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core import runs
from core.export.hybrid import recommendation
from core.export.manifest import OnnxManifest
from core.export.model_card import build_model_card
from core.export.parity import DEFAULT_N_TEXTS, check_parity, sample_texts
from core.store import Workspace, now_iso

EXPORT_INFO = "export.json"
FORMAT_DIRS = {"onnx-fp32": "onnx", "onnx-int8": "onnx-int8"}

Progress = Callable[[int, int, str], None]


def exportable_runs(ws: Workspace) -> list[dict[str, Any]]:
    """Runs with a saved model, newest first: id, created_at, base_model, loss, status."""
    keep = ("id", "created_at", "base_model", "loss", "status")
    return [{k: row[k] for k in keep} for row in runs.list_runs(ws, status=runs.SUCCEEDED)]


def export_run(
    ws: Workspace,
    run_id: str,
    int8: bool = True,
    n_texts: int = DEFAULT_N_TEXTS,
    on_progress: Progress | None = None,
    make_zip: bool = True,
) -> dict[str, Any]:
    """Export run `run_id` to `WS/exports/<run>-<time>/`; returns the export.json contents.

    int8: also write the dynamic-int8 graph; n_texts: texts for the parity check and the speed
    figures (real chunks of the workspace). Raises ParityError when a format misses its threshold.
    """
    from core.export.onnx_export import export_onnx
    from core.export.runtime import TorchEmbedder

    def step(i: int, msg: str) -> None:
        if on_progress:
            on_progress(i, total, msg)

    total = 7 if int8 else 5
    model_dir = runs.model_dir(ws, run_id)
    row = runs.get_run(ws, run_id)
    base_model = (row or {}).get("base_model") or _base_from_config(model_dir) or "unknown"
    name = f"{run_id}-{time.strftime('%Y%m%d-%H%M%S')}"
    final = ws.exports_dir / name
    partial = ws.exports_dir / f".{name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        step(0, "embedding the parity texts with the PyTorch model")
        texts = sample_texts(ws, n_texts)
        torch_model = TorchEmbedder(model_dir)
        torch_model.embed(texts[:2])  # warm-up
        t0 = time.perf_counter()
        reference = torch_model.embed(texts)
        speed = {"torch": len(texts) / max(time.perf_counter() - t0, 1e-9)}
        del torch_model

        step(1, "exporting ONNX fp32")
        manifest = export_onnx(
            model_dir, partial / FORMAT_DIRS["onnx-fp32"], base_model=base_model, run_id=run_id
        )
        step(2, "checking fp32 parity")
        parity = {"onnx-fp32": check_parity(reference, partial / "onnx", texts).to_dict()}
        int8_note = None
        if int8:
            step(3, "quantizing to int8")
            result, int8_note = _quantize_until_parity(partial, reference, texts)
            step(4, f"int8: {int8_note}")
            if result is not None:
                parity["onnx-int8"] = result
        for fmt, p in parity.items():
            speed[fmt] = p["texts_per_s"]

        step(total - 2, "writing the model card")
        advice = recommendation(ws, run_id)
        for fmt in parity:
            fmt_manifest = OnnxManifest.read(partial / FORMAT_DIRS[fmt])
            fmt_manifest.retrieval = advice
            fmt_manifest.write(partial / FORMAT_DIRS[fmt])
        card = build_model_card(
            run_id=run_id,
            base_model=base_model,
            run_dir=ws.run_dir(run_id),
            ws=ws,
            formats=list(parity),
            parity=parity,
            run_row=row,
            dim=manifest.dim,
            max_seq_length=manifest.max_seq_length,
            retrieval=advice,
        )
        (partial / "README.md").write_text(card)
        for fmt in parity:
            (partial / FORMAT_DIRS[fmt] / "README.md").write_text(card)
        info: dict[str, Any] = {
            "id": name,
            "run_id": run_id,
            "base_model": base_model,
            "source": str(model_dir),
            "created_at": now_iso(),
            "n_texts": len(texts),
            "dim": manifest.dim,
            "max_seq_length": manifest.max_seq_length,
            "formats": {
                fmt: {
                    "path": FORMAT_DIRS[fmt],
                    "size_mb": round(_size_mb(partial / FORMAT_DIRS[fmt]), 1),
                    "parity": parity[fmt],
                }
                for fmt in parity
            },
            "speed_texts_per_s": {k: round(v, 2) for k, v in speed.items()},
            "speed_vs_torch": {k: round(v / speed["torch"], 2) for k, v in speed.items()},
            "int8": int8_note,
            "retrieval": advice,
        }
        (partial / EXPORT_INFO).write_text(json.dumps(info, indent=2) + "\n")
        partial.rename(final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    info["path"] = str(final)
    if make_zip:
        step(total - 1, "zipping")
        info["zip"] = str(zip_export(final))
    step(total, "done")
    return info


def _quantize_until_parity(
    partial: Path, reference: Any, texts: list[str]
) -> tuple[dict[str, Any] | None, str]:
    """Try each int8 plan until one passes parity; (its parity, what was done). When none
    passes, no int8 graph is kept: (None, why), and the other formats still land."""
    from core.export.quantize import INT8_PLANS, quantize_int8

    target = partial / FORMAT_DIRS["onnx-int8"]
    tried = []
    for plan, keep in INT8_PLANS.items():
        shutil.rmtree(target, ignore_errors=True)
        quantize_int8(partial / "onnx", target, keep_fp32=keep, plan=plan)
        result = check_parity(reference, target, texts, raise_on_fail=False)
        if result.passed:
            return {**result.to_dict(), "plan": plan}, f"{plan} (mean cosine {result.mean:.4f})"
        tried.append(f"{plan}: mean cosine {result.mean:.4f}")
    shutil.rmtree(target, ignore_errors=True)
    why = "; ".join(tried)
    return None, f"not written, fp32 only: no int8 plan reached the parity threshold ({why})"


def zip_export(folder: Path) -> Path:
    """`<folder>.zip` holding the folder; graphs stored (they barely compress), text deflated."""
    target = folder.with_suffix(".zip")
    tmp = folder.parent / f".{folder.name}.zip.partial"
    with zipfile.ZipFile(tmp, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                method = zipfile.ZIP_STORED if path.suffix == ".onnx" else zipfile.ZIP_DEFLATED
                zf.write(path, Path(folder.name) / path.relative_to(folder), compress_type=method)
    tmp.rename(target)
    return target


def list_exports(ws: Workspace) -> list[dict[str, Any]]:
    """Finished exports (their export.json plus `path` and `zip` when present), newest first."""
    out = []
    if not ws.exports_dir.is_dir():
        return out
    for folder in ws.exports_dir.iterdir():
        info_path = folder / EXPORT_INFO
        if folder.name.startswith(".") or not info_path.is_file():
            continue
        try:
            info = json.loads(info_path.read_text())
        except ValueError:
            continue
        info["path"] = str(folder)
        zip_path = folder.with_suffix(".zip")
        info["zip"] = str(zip_path) if zip_path.is_file() else None
        out.append(info)
    return sorted(out, key=lambda i: i.get("created_at", ""), reverse=True)


def _size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def _base_from_config(model_dir: Path) -> str:
    try:
        data = json.loads((model_dir / "config.json").read_text())
    except (OSError, ValueError):
        return ""
    return str(data.get("_name_or_path") or "")
