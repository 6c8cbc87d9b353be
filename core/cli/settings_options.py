"""A step's CLI options made from its settings fields (core/step_settings.py): one option per
field, `--field-name`, with the field's type, its Literal choices, its help and default. Every
option defaults to None (= not given), so core/commands.py keeps the workspace's Settings and the
step's defaults for what was left out; a bool field is `--name/--no-name`, an optional one
accepts `off` (None), a tuple or list is comma-separated and a dict is JSON."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from core.step_settings import OFF, FieldSpec, field_specs


def _scalar(kind: Any) -> Callable[[str], Any]:
    return kind if kind in (int, float) else str


def _parser(spec: FieldSpec) -> Callable[[str], Any] | None:
    if spec.kind is bool:
        return None
    if spec.kind is dict:
        parse: Callable[[str], Any] = json.loads
    elif spec.many:
        item = _scalar(spec.item)

        def parse(raw: str) -> Any:
            values = [item(x.strip()) for x in raw.split(",") if x.strip()]
            return tuple(values) if spec.kind is tuple else values

    else:
        parse = _scalar(spec.kind)
    if not spec.optional:
        return parse

    def optional(raw: str) -> Any:
        return OFF if raw.strip().lower() in ("off", "none") else parse(raw)

    return optional


def _default_text(spec: FieldSpec) -> str:
    value = spec.default
    if value is None or value == "":
        return "empty"
    if isinstance(value, tuple | list):
        return ",".join(map(str, value)) or "empty"
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def add_settings_options(
    parser: argparse.ArgumentParser,
    cls: type,
    *,
    skip: Iterable[str] = (),
    flags: Mapping[str, str] = {},
    helps: Mapping[str, str] = {},
) -> None:
    """One option per field of settings class `cls` (not those in `skip`). `flags`: field ->
    the option's name where it differs from `--field-name`; `helps`: field -> a help text
    replacing the field's own (e.g. a default that comes from the workspace)."""
    left_out = set(skip)
    for spec in field_specs(cls):
        if spec.name in left_out:
            continue
        flag = flags.get(spec.name, "--" + spec.name.replace("_", "-"))
        text = f"{spec.help.rstrip('.')} (default {_default_text(spec)})"
        if spec.name in helps:
            text = helps[spec.name]
        elif spec.choices and spec.many:
            text += f"; comma-separated, from {','.join(map(str, spec.choices))}"
        elif spec.many:
            text += "; comma-separated"
        elif spec.kind is dict:
            text += "; JSON"
        if spec.optional and spec.kind is not bool and spec.name not in helps:
            text += "; 'off' = empty"
        kwargs: dict[str, Any] = {
            "dest": spec.name,
            "default": None,
            "help": text.replace("%", "%%"),
        }
        if spec.kind is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = _parser(spec)
            if spec.choices and not spec.many:
                kwargs["choices"] = spec.choices
                kwargs["metavar"] = "{" + ",".join(map(str, spec.choices)) + "}"
        parser.add_argument(flag, **kwargs)
