"""Shared fixtures: a fresh workspace, real small documents made on the fly, SciFact paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tests open workspaces in temporary folders: the app's workspace root is widened to the whole
# machine here, and tests of the root itself narrow it again (tests/test_access.py).
os.environ.setdefault("EMBSTUDIO_WORKSPACES_ROOT", "/")

from core.store import Workspace

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
SCIFACT_DIR = SHARED_DATA / "scifact"
# The product never reads ../shared; tests name it: the general-domain set and the folders a
# page may read evaluation data from.
os.environ.setdefault("EMBSTUDIO_GENERAL_DIR", str(SCIFACT_DIR))
os.environ.setdefault("EMBSTUDIO_DATA_ROOTS", str(SHARED_DATA))


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.create(tmp_path / "ws")


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """The sample chapter ingested with chunk embeddings cached, made once per test module."""
    from tests.gen_helpers import prepared_workspace

    return prepared_workspace(tmp_path_factory.mktemp("tpl") / "ws")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(workspace, export info) of the session's one export of the base model."""
    from tests.export_helpers import shared_export

    return shared_export(tmp_path_factory)


@pytest.fixture(scope="module")
def torch_model(exported):
    """The exported run's model in PyTorch (the reference the ONNX graphs must match)."""
    from core.export.runtime import TorchEmbedder
    from tests.export_helpers import RUN_ID

    ws, _ = exported
    return TorchEmbedder(ws.run_dir(RUN_ID) / "model")


@pytest.fixture
def sample_ws(template: Path, tmp_path: Path) -> Workspace:
    """A private copy of the module's prepared generation workspace."""
    from tests.gen_helpers import copy_workspace

    return copy_workspace(template, tmp_path / "ws")
