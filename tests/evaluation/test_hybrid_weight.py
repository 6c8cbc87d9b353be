"""The fusion weight's rule and the recipe a run stores and an export ships."""

from __future__ import annotations

import json

from core.evaluation.datasets import EvalSet
from core.evaluation.hybrid_weight import (
    best_weight,
    cut_query_sentences,
    ensure_recipe,
    questions_only,
)
from core.export.hybrid import card_section, stack_settings
from core.retrieval.recipe import Recipe, run_recipe, write_recipe
from tests.evaluation_helpers import make_tiny_workspace, save_base_as_run


def test_an_inverse_cloze_query_is_cut_out_of_its_passage_before_weights_are_scored():
    evalset = EvalSet(
        name="v",
        corpus={
            "c1": {"title": "", "text": "Bread rises.  Yeast makes gas. Ovens are hot."},
            "c2": {"title": "", "text": "Rust has borrowing."},
        },
        queries={"q1": "Yeast makes gas.", "q2": "What does Rust have?"},
        qrels={"q1": {"c1": 1}, "q2": {"c2": 1}},
    )
    cut, n = cut_query_sentences(evalset)
    assert n == 1
    assert cut.corpus["c1"]["text"] == "Bread rises. Ovens are hot."
    assert cut.corpus["c2"] == evalset.corpus["c2"]  # a real question is not in its passage
    assert evalset.corpus["c1"]["text"].startswith("Bread rises.  Yeast")  # the set is untouched
    # Only real or LLM questions choose a weight: the inverse-cloze query is left out.
    assert list(questions_only(evalset).queries) == ["q2"]


def test_ties_go_to_the_even_mix():
    assert best_weight({0.3: 0.8, 0.5: 0.8, 0.9: 0.7}) == 0.5
    assert best_weight({0.3: 0.81, 0.5: 0.8}) == 0.3


def test_a_run_without_validation_questions_keeps_the_even_mix_and_a_final_fit_inherits(ws):
    make_tiny_workspace(ws)
    save_base_as_run(ws, "run-a")
    recipe = ensure_recipe(ws, "run-a")
    assert (recipe.method, recipe.weight) == ("minmax", 0.5)
    assert recipe.rule.startswith("fixed")
    assert json.loads((ws.run_dir("run-a") / "retrieval.json").read_text())["weight"] == 0.5
    # A final fit of run-a reads run-a's recipe.
    save_base_as_run(ws, "run-a-all")
    config = ws.run_dir("run-a-all") / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "final_of": "run-a"}))
    write_recipe(ws, "run-a", Recipe(weight=0.7, rule="validation: test"))
    assert run_recipe(ws, "run-a-all").weight == 0.7


def test_the_card_recommends_the_hybrid_or_says_the_model_alone_is_best():
    table = {
        "base": {"NDCG@10": 0.70, "Recall@3": 0.68},
        "run-a": {"NDCG@10": 0.78, "Recall@3": 0.79},
        "bm25": {"NDCG@10": 0.785, "Recall@3": 0.776},
        "base+bm25": {"NDCG@10": 0.79, "Recall@3": 0.79},
        "run-a+bm25": {"NDCG@10": 0.82, "Recall@3": 0.81},
    }
    advice = {
        "method": "minmax",
        "weight": 0.5,
        "normalization": "min-max",
        "rule": "fixed",
        "measured_on": "beir:dev",
        "table": table,
        "best": "run-a+bm25",
        "use": "hybrid",
    }
    text = "\n".join(card_section(advice, "run-a"))
    assert "| run-a+bm25 (best) | 0.820 | 0.810 |" in text
    assert "weight **0.5**" in text and "alpha=0.5" in text
    assert "weights=[0.5, 0.5]" in stack_settings(0.5)["LangChain"]
    alone = "\n".join(card_section({**advice, "best": "run-a", "use": "model alone"}, "run-a"))
    assert "The served model alone retrieved best" in alone and "alpha" not in alone
