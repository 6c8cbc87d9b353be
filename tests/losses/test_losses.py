"""The loss maths of core/losses (and ST's CosineSimilarityLoss as the dual objective uses it)
against hand computations, the MoE model change, and one real training step per objective
(the objectives' rows: tests/training/test_objectives.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from core.losses._contrastive import info_nce_rows
from core.losses.clp import clp_loss
from core.losses.soft import soft_label_loss
from core.modeling.bert_moe import (
    BertMoEConfig,
    MoEFeedForward,
    _AddAuxiliaryLoss,
    load_balancing_term,
)
from core.training.data import TrainingData, TrainRecord
from tests.helpers import run_python

T = torch.tensor


def lse(*xs: float) -> float:
    return math.log(sum(math.exp(x) for x in xs))


# ------------------------------------------------------------------------------ dual
def test_dual_cosine_part_is_mean_squared_label_error_by_hand() -> None:
    """Part B of the dual loss is ST's CosineSimilarityLoss: mean_i (y_i - cos(u_i, v_i))²,
    scaled by the dual weight."""
    from sentence_transformers.losses import CosineSimilarityLoss

    from core.losses.dual import WeightedLoss

    loss = CosineSimilarityLoss(torch.nn.Identity())
    u = T([[1.0, 0.0], [1.0, 0.0]])
    v = T([[2.0, 0.0], [0.0, 3.0]])  # cos = 1, 0

    def part_b(labels: torch.Tensor) -> float:
        return loss.compute_loss_from_embeddings([u, v], labels).item()

    assert part_b(T([1.0, 1.0])) == pytest.approx(0.5)  # (0² + 1²)/2
    assert part_b(T([1.0, 0.0])) == pytest.approx(0.0)
    assert part_b(T([0.0, 1.0])) == pytest.approx(1.0)

    class Embed(torch.nn.Module):  # the features are the embeddings themselves
        def forward(self, features):
            return {"sentence_embedding": features["x"]}

    weighted = WeightedLoss(CosineSimilarityLoss(Embed()), weight=3.0)
    got = weighted([{"x": u}, {"x": v}], T([1.0, 1.0])).item()
    assert got == pytest.approx(1.5)


# ------------------------------------------------------------------------------ InfoNCE / CLP
def test_info_nce_masks_absent_negatives() -> None:
    q = T([[1.0, 0.0], [0.0, 1.0]])
    p = T([[1.0, 0.0], [0.0, 1.0]])
    negs = T([[[0.0, 1.0]], [[-1.0, 0.0]]])
    full = info_nce_rows(q, p, negs, T([[True], [True]]), scale=1.0)
    # row 0: cos to p0, p1, n0, n1 = 1, 0, 0, -1; row 1: 0, 1, 1, 0
    assert full[0].item() == pytest.approx(-1 + lse(1, 0, 0, -1), abs=1e-6)
    assert full[1].item() == pytest.approx(-1 + lse(0, 1, 1, 0), abs=1e-6)
    masked = info_nce_rows(q, p, negs, T([[True], [False]]), scale=1.0)
    assert masked[0].item() == pytest.approx(-1 + lse(1, 0, 0), abs=1e-6)
    assert masked[1].item() == pytest.approx(-1 + lse(0, 1, 1), abs=1e-6)


def test_clp_batch_size_one_matches_paper_formula() -> None:
    q, p = T([[1.0, 0.0]]), T([[1.0, 0.0]])
    n = T([[[0.0, 1.0]]])
    nce = -1 + lse(1, 0)  # scale 1
    on = T([[True]])
    got = clp_loss(q, p, n, T([[[0.0, 2.0]]]), on, on, scale=1.0, lam=0.1)
    assert got.item() == pytest.approx(0.9 * nce + 0.1 * 0.0, abs=1e-6)  # q* = n: no pull
    got = clp_loss(q, p, n, T([[[1.0, 0.0]]]), on, on, scale=1.0, lam=0.1)
    assert got.item() == pytest.approx(0.9 * nce + 0.1 * 1.0, abs=1e-6)  # q* ⟂ n
    off = T([[False]])
    got = clp_loss(q, p, n, T([[[1.0, 0.0]]]), on, off, scale=1.0, lam=0.1)
    assert got.item() == pytest.approx(0.9 * nce, abs=1e-6)  # missing q*: term skipped


def test_clp_batch_of_two_with_missing_qstar() -> None:
    q = T([[1.0, 0.0], [0.0, 1.0]])
    p = T([[1.0, 0.0], [0.0, 1.0]])
    negs = T([[[0.0, 1.0], [1.0, 1.0]], [[-1.0, 0.0], [0.0, 0.0]]])
    qstar = T([[[1.0, 1.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 0.0]]])
    neg_mask = T([[True, True], [True, False]])  # row 1 has one negative
    q_mask = T([[True, False], [False, False]])  # only row 0, negative 0 has a q*
    got = clp_loss(q, p, negs, qstar, neg_mask, q_mask, scale=1.0, lam=0.1)
    r = 1 / math.sqrt(2)
    # candidates p0, p1, n00, n01, n10 (n11 absent)
    nce0 = -1 + lse(1, 0, 0, r, -1)
    nce1 = -1 + lse(0, 1, 1, r, 0)
    pen0 = 1 - r  # 1 - cos((1,1), (0,1))
    want = ((0.9 * nce0 + 0.1 * pen0) + 0.9 * nce1) / 2
    assert got.item() == pytest.approx(want, abs=1e-6)


# ------------------------------------------------------------------------------ soft
def test_soft_label_loss_by_hand() -> None:
    q = T([[1.0, 0.0]])
    cands = T([[[1.0, 0.0], [0.0, 1.0]]])  # cos 1, 0
    targets, mask = T([[0.5, 0.5]]), T([[1.0, 1.0]])
    mse = ((1 - 0.5) ** 2 + (0 - 0.5) ** 2) / 2
    assert soft_label_loss(q, cands, targets, mask, 1.0, 0.0).item() == pytest.approx(mse)
    got = soft_label_loss(q, cands, targets, mask, 1.0, 2.0).item()
    assert got == pytest.approx(mse + 2 * (-1 + lse(1, 0)), abs=1e-6)
    # an absent negative leaves both terms
    got = soft_label_loss(q, cands, targets, T([[1.0, 0.0]]), 1.0, 1.0).item()
    assert got == pytest.approx(0.25 + 0.0, abs=1e-6)


# ------------------------------------------------------------------------------ MoE
def test_load_balancing_term_by_hand() -> None:
    probs = T([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    # f = (2/3, 1/3), P = (1.7/3, 1.3/3): aux = 2 (2/3·1.7/3 + 1/3·1.3/3)
    want = 2 * (2 / 3 * 1.7 / 3 + 1 / 3 * 1.3 / 3)
    assert load_balancing_term(probs, None).item() == pytest.approx(want)
    mask = T([True, True, False])  # f = (1/2, 1/2), P = (0.55, 0.45)
    assert load_balancing_term(probs, mask).item() == pytest.approx(1.0)
    one_sided = T([[0.7, 0.3], [0.6, 0.4]])
    assert load_balancing_term(one_sided, None).item() == pytest.approx(2 * 0.65)


def test_auxiliary_term_joins_the_gradient() -> None:
    x = torch.ones(3, requires_grad=True)
    aux = T(2.0, requires_grad=True)
    y = _AddAuxiliaryLoss.apply(x, aux * 0.5)
    assert torch.equal(y, x)
    (3 * y.sum()).backward()
    assert aux.grad.item() == pytest.approx(0.5)  # d(loss + 0.5·aux)/d aux
    assert torch.equal(x.grad, torch.full((3,), 3.0))


def test_moe_block_routes_top1_and_exports_to_onnx(tmp_path) -> None:
    import onnxruntime as ort

    cfg = BertMoEConfig(hidden_size=8, intermediate_size=16, num_attention_heads=2, moe_layers=[0])
    torch.manual_seed(0)
    block = MoEFeedForward(cfg).eval()
    with torch.no_grad():
        block.experts[1].intermediate.dense.weight.mul_(-1)  # experts now differ
    h = torch.randn(3, 7, 8) * 3
    with torch.no_grad():
        out = block(h, h)
        top = block.router(h).argmax(-1)
        e0, e1 = block.experts[0](h), block.experts[1](h)
    want = torch.where((top == 0).unsqueeze(-1), e0, e1)
    assert 0 < top.float().mean() < 1  # both experts used
    torch.testing.assert_close(out, want)

    class Wrap(torch.nn.Module):
        def __init__(self, b):
            super().__init__()
            self.b = b

        def forward(self, x):
            return self.b(x, x)

    path = tmp_path / "block.onnx"
    torch.onnx.export(
        Wrap(block).eval(),
        (torch.randn(2, 5, 8),),
        str(path),
        input_names=["h"],
        output_names=["y"],
        dynamic_axes={"h": {0: "b", 1: "s"}},
        opset_version=17,
        dynamo=False,
    )
    got = ort.InferenceSession(str(path)).run(None, {"h": h.numpy()})[0]
    np.testing.assert_allclose(got, want.numpy(), atol=1e-5)


@pytest.fixture(scope="module")
def minilm():
    from sentence_transformers import SentenceTransformer

    from core.models import DEFAULT_BASE_MODEL, resolve_model

    return lambda: SentenceTransformer(resolve_model(DEFAULT_BASE_MODEL), device="cpu")


def test_moe_conversion_keeps_outputs_and_reloads_in_fresh_process(minilm, tmp_path) -> None:
    from core.modeling.moe import convert_to_moe, moe_blocks

    model = minilm()
    texts = ["protein folding in cells", "a short one", "the weekly laboratory report is due"]
    before = model.encode(texts, convert_to_tensor=True)
    convert_to_moe(model, seed=0)
    assert len(moe_blocks(model)) == 2  # layers 2 and 3 of 6
    after = model.encode(texts, convert_to_tensor=True)
    torch.testing.assert_close(after, before, atol=1e-6, rtol=0)

    # training-mode forward records the balance term; backward reaches the router
    model.train()
    feats = model.preprocess(texts)
    model(feats)["sentence_embedding"].sum().backward()
    block = moe_blocks(model)[0]
    assert block.last_aux is not None and 1.0 <= block.last_aux <= 2.0
    assert block.router.weight.grad is not None and block.router.weight.grad.abs().sum() > 0
    model.eval()

    # make the experts differ so a reload that dropped them would show
    with torch.no_grad():
        moe_blocks(model)[0].experts[1].output.dense.weight.mul_(0.5)
    ref = model.encode(texts)
    folder = tmp_path / "moe_model"
    model.save(str(folder))
    out = tmp_path / "emb.npy"
    code = (
        "import numpy as np; from core.models import open_model;"
        f"m = open_model({str(folder)!r}, device='cpu');"
        "assert type(m[0].auto_model).__name__ == 'BertMoEModel';"
        f"np.save({str(out)!r}, m.encode({texts!r}))"
    )
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr[-2000:]
    np.testing.assert_allclose(np.load(out), ref, atol=1e-5)
    assert (folder / "modeling_bert_moe.py").is_file()


# ------------------------------------------------------------------------------ real steps
def _tiny_data() -> TrainingData:
    topics = ["rust ownership", "borrow checker", "cargo builds", "trait objects", "lifetimes"]
    chunks = {i + 1: f"A passage explaining {t} in some detail." for i, t in enumerate(topics)}
    train = []
    for i, t in enumerate(topics):
        negs = tuple(c for c in chunks if c != i + 1)[:2]
        train.append(TrainRecord(100 + i, f"how do {t} work?", i + 1, (i + 1,), negs))
    by_pos = {r.positive_id: [r.query] for r in train}
    return TrainingData(train=train, chunk_text=chunks, queries_by_positive_chunk=by_pos)


@pytest.mark.parametrize(
    ("loss", "extra"),
    [
        pytest.param("dual", {}, marks=pytest.mark.slow),
        ("clp", {}),
        pytest.param("soft", {"soft_experts": ["all-MiniLM-L6-v2"]}, marks=pytest.mark.slow),
        ("mnrl", {"moe": True}),
    ],
)
def test_one_training_step_through_the_trainer(loss, extra, minilm, tmp_path) -> None:
    from core.modeling.moe import moe_blocks
    from core.training.config import TrainConfig
    from core.training.trainer import build_trainer

    config = TrainConfig(
        loss=loss, batch_size=3, max_steps=2, negatives_per_query=2, seed=1, **extra
    )
    model = minilm()
    before = model[0].auto_model.encoder.layer[0].attention.self.query.weight.detach().clone()
    trainer, build = build_trainer(model, config, _tiny_data(), tmp_path / "ck")
    result = trainer.train()
    assert result.global_step == 2 and math.isfinite(result.training_loss)
    after = model[0].auto_model.encoder.layer[0].attention.self.query.weight
    assert not torch.equal(before, after)  # the step changed the weights
    assert bool(moe_blocks(model)) == (config.moe is True)
    if loss == "soft":
        assert build.info["scored_pairs"] == 5 + 10
