"""The command groups of `embstudio` (core/cli): every group is registered, none skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

import core.cli
from core.cli import build_parser


def test_every_command_module_is_listed():
    folder = Path(core.cli.__file__).parent
    on_disk = {f"core.cli.{p.stem}" for p in folder.glob("*_cmds.py")}
    assert set(core.cli.COMMAND_MODULES) == on_disk


def test_a_missing_command_module_is_an_error_not_missing_commands(monkeypatch):
    """A renamed command group must not quietly drop its commands from `embstudio --help`."""
    monkeypatch.setattr(core.cli, "COMMAND_MODULES", [*core.cli.COMMAND_MODULES, "core.cli.gone"])
    with pytest.raises(ModuleNotFoundError, match=r"core\.cli\.gone"):
        build_parser()
