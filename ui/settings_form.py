"""A step's widgets made from its settings fields (core/step_settings.py): one widget per field,
labelled with the field's label, its help as the tooltip, its choices in a select box, starting
from the given settings' values. What the user chose goes, as a mapping, to core/commands.py,
which builds the settings exactly as for the CLI; so a field added to a step's settings shows up
on its page with no page edit."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import streamlit as st

from core.step_settings import FieldSpec, field_specs


def field_widget(spec: FieldSpec, value: Any, key: str, where: Any = st, disabled: bool = False):
    """One widget for one field, starting at `value`; returns the value chosen (an empty
    optional field: None)."""
    common = {"key": key, "help": spec.help or None, "disabled": disabled}
    label = spec.label
    if spec.choices and spec.many:
        return tuple(where.multiselect(label, list(spec.choices), list(value or ()), **common))
    if spec.choices:
        options = list(spec.choices)
        return where.selectbox(
            label, options, index=options.index(value) if value in options else 0, **common
        )
    if spec.kind is bool:
        return bool(where.checkbox(label, bool(value), **common))
    if spec.optional and spec.kind in (int, float):
        # Switched on and off by a box (a number input cannot be emptied once it holds a
        # number); when off, the number offered is metadata `offered` (else 0).
        on = where.checkbox(
            label, value is not None, key=f"{key}_on", help=common["help"], disabled=disabled
        )
        start = value if value is not None else spec.kind(spec.metadata.get("offered", 0))
        got = where.number_input(
            label,
            value=start,
            step=1 if spec.kind is int else None,
            format=None if spec.kind is int else "%g",
            label_visibility="collapsed",
            key=key,
            disabled=disabled or not on,
        )
        return spec.kind(got) if on else None
    if spec.kind is int:
        got = where.number_input(label, value=value, step=1, **common)
        return None if got is None else int(got)
    if spec.kind is float:
        got = where.number_input(label, value=value, format="%g", **common)
        return None if got is None else float(got)
    if spec.kind is dict:
        raw = where.text_input(label, json.dumps(value or {}), **common)
        return json.loads(raw) if raw.strip() else {}
    if spec.many:
        raw = where.text_input(label, ", ".join(map(str, value or ())), **common)
        items = [x.strip() for x in raw.split(",") if x.strip()]
        if spec.item is int:
            return [int(x) for x in items]
        return tuple(items) if spec.kind is tuple else items
    raw = where.text_input(label, "" if value is None else str(value), **common)
    return None if spec.optional and not raw.strip() else raw


def settings_widgets(
    settings: Any,
    prefix: str,
    *,
    names: Iterable[str] | None = None,
    skip: Iterable[str] = (),
    columns: int = 1,
    disabled: Iterable[str] = (),
) -> dict[str, Any]:
    """Widgets for the fields of `settings` (a settings dataclass instance: the starting
    values), keyed `<prefix>_<field>`: those in `names` (default every field), less `skip`,
    `columns` per row. Returns field -> the value chosen."""
    specs = {s.name: s for s in field_specs(type(settings))}
    chosen_names = [n for n in (names if names is not None else specs) if n not in set(skip)]
    off = set(disabled)
    out: dict[str, Any] = {}
    for start in range(0, len(chosen_names), columns):
        row = chosen_names[start : start + columns]
        places = st.columns(columns) if columns > 1 else [st]
        for name, where in zip(row, places, strict=False):
            spec = specs[name]
            out[name] = field_widget(
                spec, getattr(settings, name), f"{prefix}_{name}", where, disabled=name in off
            )
    return out
