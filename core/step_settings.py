"""One contract for every step's settings (docs/ARCHITECTURE.md, "Settings").

A step's settings are a dataclass that inherits `StepSettings`:

- every field has a default and `metadata={"help": "meaning and unit"}` (`setting(...)` writes
  both); a choice among fixed values is typed with a `Literal` (or a tuple of one), and an
  optional value with `| None`;
- `problems()` lists what is wrong, one sentence each naming the field; a subclass adds its own
  checks to `super().problems()` (which checks every `Literal` field's value); a class built
  from several settings classes (TrainConfig) asks each of them on its own;
- `validate()` raises ValueError listing every problem and returns the settings;
- `to_dict()` / `from_dict()` are the JSON a job receives as its params (unknown keys refused).

From these fields alone the CLI makes a step's options (core/cli/settings_options.py) and the
pages their widgets (ui/settings_form.py), and core/commands.py builds the settings from the
options or the widgets' values, so adding a setting to a step is adding one field.

This module is foundation: it imports nothing from core.
"""

from __future__ import annotations

import dataclasses
import types
import typing
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, get_args, get_origin

S = TypeVar("S", bound="StepSettings")

# What `from_dict` does with a key that is not a field: refuse it (a job's params, a config the
# user wrote) or drop it with a warning (a config.json an older release wrote).
Unknown = Literal["refuse", "warn"]


def setting(default: Any = dataclasses.MISSING, help: str = "", **metadata: Any) -> Any:
    """A settings field: its default (a list or dict default is copied per instance) and its
    meaning and unit. Extra metadata (e.g. `label="Search index"`, `advanced=True`) is read by
    the page widgets."""
    meta = {"help": help, **metadata}
    if isinstance(default, list | dict | set):
        value = default
        return dataclasses.field(default_factory=lambda: type(value)(value), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclass(frozen=True)
class FieldSpec:
    """What the CLI and the pages need to know of one settings field.

    kind: the value's type, None removed: bool, int, float, str, tuple, list, dict or a
    dataclass. item: for a tuple or list, its items' type. choices: the Literal's values (of
    the field, or of a tuple's items), else None. optional: None is a valid value.
    """

    name: str
    help: str
    default: Any
    kind: Any
    item: Any
    choices: tuple[Any, ...] | None
    optional: bool
    metadata: Mapping[str, Any]

    @property
    def label(self) -> str:
        """The widget's label: metadata `label`, else the name in words."""
        return str(self.metadata.get("label") or self.name.replace("_", " ").capitalize())

    @property
    def many(self) -> bool:
        """A tuple or list of values."""
        return self.kind in (tuple, list)


def _literal(hint: Any) -> tuple[Any, ...] | None:
    return tuple(get_args(hint)) if get_origin(hint) is Literal else None


def _spec(f: dataclasses.Field, hint: Any) -> FieldSpec:
    optional = False
    if get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        optional = len(args) < len(get_args(hint))
        hint = args[0] if len(args) == 1 else hint
    choices = _literal(hint)
    kind: Any = type(choices[0]) if choices else (get_origin(hint) or hint)
    item: Any = None
    if kind in (tuple, list):
        args = [a for a in get_args(hint) if a is not Ellipsis]
        item = args[0] if args else str
        if (inner := _literal(item)) is not None:
            choices, item = inner, type(inner[0])
    if f.default is not dataclasses.MISSING:
        default = f.default
    elif f.default_factory is not dataclasses.MISSING:
        default = f.default_factory()
    else:
        default = dataclasses.MISSING
    return FieldSpec(
        name=f.name,
        help=str(f.metadata.get("help", "")),
        default=default,
        kind=kind,
        item=item,
        choices=choices,
        optional=optional,
        metadata=f.metadata,
    )


_SPECS: dict[type, tuple[FieldSpec, ...]] = {}


def field_specs(cls: type) -> tuple[FieldSpec, ...]:
    """Every field of settings class `cls`, in order, with its resolved type."""
    if cls not in _SPECS:
        hints = typing.get_type_hints(cls)
        _SPECS[cls] = tuple(_spec(f, hints[f.name]) for f in dataclasses.fields(cls))
    return _SPECS[cls]


def field_spec(cls: type, name: str) -> FieldSpec:
    for spec in field_specs(cls):
        if spec.name == name:
            return spec
    raise KeyError(f"{cls.__name__} has no setting {name!r}")


def one_of(choices: tuple[Any, ...]) -> str:
    """ "'a', 'b' or 'c'"."""
    quoted = [repr(c) for c in choices]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def choice_problems(settings: Any) -> list[str]:
    """One sentence per `Literal` field (or tuple of Literal items) holding another value."""
    out = []
    for spec in field_specs(type(settings)):
        if spec.choices is None:
            continue
        value = getattr(settings, spec.name)
        if value is None and spec.optional:
            continue
        values = value if spec.many and isinstance(value, tuple | list) else [value]
        wrong = [v for v in values if v not in spec.choices]
        if wrong:
            got = value if not spec.many else ", ".join(map(repr, wrong))
            out.append(
                f"{spec.name} must be {one_of(spec.choices)}, not {got!r}"
                if not spec.many
                else f"{spec.name} may hold {one_of(spec.choices)}, not {got}"
            )
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value


class StepSettings:
    """The base of every step's settings dataclass (see the module's docstring)."""

    def problems(self) -> list[str]:
        """What is wrong with these settings, one sentence each naming the field (empty: all
        fine). Here: every Literal field's value; a subclass returns `super().problems()` plus
        its own checks."""
        return choice_problems(self)

    def validate(self: S) -> S:
        """Raise ValueError listing every problem; the settings themselves when there is none."""
        if problems := self.problems():
            raise ValueError("; ".join(problems))
        return self

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON-able values (tuples become lists), e.g. a job's params."""
        return _jsonable(dataclasses.asdict(self))  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[S], data: Mapping[str, Any], unknown: Unknown = "refuse") -> S:
        """The settings from `to_dict()`'s JSON. A key that is no field is refused (ValueError
        naming it), or with `unknown="warn"` dropped with a warning (a file an older release
        wrote); a missing key keeps its default."""
        specs = {s.name: s for s in field_specs(cls)}
        extra = sorted(set(data) - set(specs))
        if extra and unknown == "refuse":
            raise ValueError(
                f"{cls.__name__} has no setting {', '.join(map(repr, extra))}; its settings "
                f"are {', '.join(specs)}"
            )
        if extra:
            warnings.warn(
                f"ignoring unknown {cls.__name__} settings: {', '.join(extra)}", stacklevel=2
            )
        values = {}
        for name, value in data.items():
            if name not in specs:
                continue
            spec = specs[name]
            if spec.kind is tuple and isinstance(value, list):
                value = tuple(value)
            elif dataclasses.is_dataclass(spec.kind) and isinstance(value, Mapping):
                nested = spec.kind
                value = (
                    nested.from_dict(value)  # type: ignore[union-attr]
                    if issubclass(nested, StepSettings)  # type: ignore[arg-type]
                    else nested(**value)  # type: ignore[operator]
                )
            values[name] = value
        return cls(**values)

    @classmethod
    def help(cls) -> dict[str, str]:
        """Field name -> its meaning and unit (for the pages and the CLI)."""
        return {s.name: s.help for s in field_specs(cls)}

    @classmethod
    def specs(cls) -> tuple[FieldSpec, ...]:
        return field_specs(cls)


def missing_help(cls: type) -> list[str]:
    """Fields of `cls` without a help text (the contract wants one on every field)."""
    return [s.name for s in field_specs(cls) if not s.help.strip()]


class _Off:
    """An optional setting switched off on the command line ("off"): None once chosen."""

    def __repr__(self) -> str:
        return "OFF"


OFF: Any = _Off()


def chosen(args: Any, cls: type) -> dict[str, Any]:
    """The fields of settings class `cls` that `args` sets. A mapping (a page's widgets) sets
    every key that is a field, None included (an empty optional value: off, or the preset's);
    parsed options (an argparse Namespace) set each option given (not None; `OFF` = None);
    None (the one-click pipeline) sets nothing."""
    if args is None:
        return {}
    names = {s.name for s in field_specs(cls)}
    if isinstance(args, Mapping):
        return {k: v for k, v in args.items() if k in names}
    given = {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
    return {k: (None if v is OFF else v) for k, v in given.items()}
