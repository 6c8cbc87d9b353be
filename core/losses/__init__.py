"""Training objectives beyond MNRL (DESIGN.md section 5, "Losses"), one module each:
dual (dual.py), clp (clp.py), soft (soft.py), and the MoE option (moe.py) usable with all.

Importing this package registers "dual", "clp" and "soft" with the trainer's objective registry
and the `bert_moe` model type with transformers (so saved MoE models load with a plain
`SentenceTransformer(path)`). It also wraps the built-in "mnrl" and "cached-mnrl" builders so
that `TrainConfig.moe` works with them too (the conversion is idempotent).
"""

from __future__ import annotations

from core.losses import moe_modeling as _moe_modeling  # noqa: F401  (registers bert_moe)
from core.losses.clp import build_clp
from core.losses.dual import build_dual
from core.losses.moe import moe_prepare_hook
from core.losses.soft import build_soft
from core.training import objectives as _objectives

__all__ = ["build_clp", "build_dual", "build_soft", "moe_prepare_hook"]


def _with_moe(builder: _objectives.Builder) -> _objectives.Builder:
    def build(model, config, data):  # type: ignore[no-untyped-def]
        result = builder(model, config, data)
        if moe_prepare_hook not in result.prepare_model:
            result.prepare_model.append(moe_prepare_hook)
        return result

    build.__doc__ = builder.__doc__
    build.__wrapped__ = builder  # type: ignore[attr-defined]
    return build


_objectives.register_objective(
    "dual",
    build_dual,
    "Dual: MNRL on positive pairs + (y - cos)^2 on pairs labelled 1/0, batches alternated.",
)
_objectives.register_objective(
    "clp",
    build_clp,
    "CLP: InfoNCE + lambda * (1 - cos(q*, n)): pull each negative toward its own query.",
)
_objectives.register_objective(
    "soft",
    build_soft,
    "Soft labels: expert models score the pairs; MSE of cosine to those scores (+ MNRL).",
)
for _name in ("mnrl", "cached-mnrl"):
    _builder = _objectives._REGISTRY.get(_name)
    if _builder is not None and not hasattr(_builder, "__wrapped__"):
        _objectives.register_objective(
            _name, _with_moe(_builder), _objectives._DESCRIPTIONS.get(_name, "")
        )
