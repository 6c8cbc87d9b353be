"""Where the general-domain set (SciFact, a BEIR folder) comes from: nothing outside the product.

In order: a folder named by the caller; the workspace's Settings value (`general_dir`); the
environment variable EMBSTUDIO_GENERAL_DIR; SciFact already downloaded into the cache
(`core.models.cache_dir()/beir/scifact`); else BEIR's own downloader
(`beir.util.download_and_unzip`) fetches the public BEIR zip into that cache when the server
is reachable (a quick connection probe fails fast offline). When none of these gives a BEIR
folder, `GeneralSetMissing` says in one line how to get one.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path
from urllib.parse import urlparse

from core.store import Workspace

GENERAL_DIR_ENV = "EMBSTUDIO_GENERAL_DIR"
SCIFACT_URL = "https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets/scifact.zip"
PROBE_TIMEOUT_S = 3.0


class GeneralSetMissing(FileNotFoundError):
    """No general-domain set is available (the message says how to get one)."""


def cache_root() -> Path:
    """The folder BEIR downloads go to: `<model cache>/beir`."""
    from core.models import cache_dir

    return cache_dir() / "beir"


def cached_dir() -> Path:
    """Where the downloaded SciFact lives (it may not be there)."""
    return cache_root() / "scifact"


def _is_beir(folder: Path) -> bool:
    return (folder / "queries.jsonl").is_file() and (folder / "qrels").is_dir()


def configured_dir(ws: Workspace | None = None) -> str:
    """The folder the user named: the workspace setting, else $EMBSTUDIO_GENERAL_DIR ("")."""
    if ws is not None:
        from core.settings import load_settings

        named = load_settings(ws).general_dir.strip()
        if named:
            return named
    return os.environ.get(GENERAL_DIR_ENV, "").strip()


def how_to_get() -> str:
    return (
        f"name a BEIR folder holding SciFact in Settings (General-domain set) or with "
        f"{GENERAL_DIR_ENV}, or unzip {SCIFACT_URL} into {cache_root()}"
    )


def download_scifact(url: str | None = None) -> Path:
    """Fetch SciFact (`url`, default SCIFACT_URL) with BEIR's downloader into the cache;
    GeneralSetMissing when the server cannot be reached or the download is not a BEIR zip.
    A failed try leaves nothing behind."""
    url = url or SCIFACT_URL
    target = cached_dir()
    parsed = urlparse(url)
    try:
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        socket.create_connection((parsed.hostname or "", port), timeout=PROBE_TIMEOUT_S).close()
    except OSError as exc:
        raise GeneralSetMissing(
            f"no general-domain set: {parsed.hostname} is not reachable to download SciFact "
            f"({exc.strerror or exc}); {how_to_get()}"
        ) from exc
    from beir.util import download_and_unzip

    cache_root().mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".scifact-", dir=cache_root()))
    try:
        got = Path(download_and_unzip(url, str(staging)))
        if not _is_beir(got):
            raise GeneralSetMissing(f"no general-domain set: {url} is not a BEIR zip")
        if not target.exists():
            os.replace(got, target)
    except GeneralSetMissing:
        raise
    except Exception as exc:
        raise GeneralSetMissing(
            f"no general-domain set: downloading SciFact failed ({exc}); {how_to_get()}"
        ) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def general_source(named: str = "") -> str:
    """Where the general set would come from now, in words, without downloading anything
    (`named`: the Settings value)."""
    if named.strip():
        return f"the folder named here, {named.strip()}"
    if env := os.environ.get(GENERAL_DIR_ENV, "").strip():
        return f"{GENERAL_DIR_ENV}, {env}"
    if _is_beir(cached_dir()):
        return f"SciFact in the cache, {cached_dir()}"
    return (
        f"SciFact, downloaded into {cache_root()} on first use when the BEIR server is "
        "reachable (not downloaded yet)"
    )


def general_dir(
    folder: str | Path | None = None, ws: Workspace | None = None, download: bool = True
) -> Path:
    """The general-domain BEIR folder (see the module docstring); a folder the caller or the
    user named is returned as named (loading it says what is wrong with it)."""
    named = str(folder or "").strip() or configured_dir(ws)
    if named:
        return Path(named).expanduser()
    if _is_beir(cached_dir()):
        return cached_dir()
    if not download:
        raise GeneralSetMissing(f"no general-domain set: {how_to_get()}")
    return download_scifact()
