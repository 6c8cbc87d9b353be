"""The model card (README.md) of a run's model folder, written by sentence-transformers' own
card machinery: its trainer fills the card data (datasets, loss, hyperparameters, training logs,
evaluator metrics, versions) and `model.save` renders it. `RunCardData` extends that data with
what ST cannot know: the exact call that loads this folder (MoE needs trust_remote_code=True)
and the run's Domain Embedding Studio facts (data, objective, every setting, validation before
and after).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sentence_transformers import SentenceTransformerModelCardData

if TYPE_CHECKING:
    from core.training.config import TrainConfig
    from core.training.data import TrainingData

PATH_PLACEHOLDER = "PATH/TO/THIS/FOLDER"


def load_snippet(config: TrainConfig, path: str = PATH_PLACEHOLDER) -> list[str]:
    """The Python lines that load a run's model folder, exactly as its card shows them."""
    extra = ", trust_remote_code=True" if config.moe else ""
    return [
        "from sentence_transformers import SentenceTransformer",
        f"model = SentenceTransformer('{path}'{extra})",
    ]


@dataclass
class RunCardData(SentenceTransformerModelCardData):
    """ST's card data plus `load_lines` (the card's Python usage block, run as written by the
    card tests) and `run_section` (markdown placed right after it)."""

    load_lines: list[str] = field(default_factory=list)
    run_section: str = ""

    def try_to_set_base_model(self) -> None:
        # The studio works offline: ST would ask the Hub which model the base is; the run's
        # section names it instead.
        return None

    def generate_usage_snippet(self) -> str:
        code = [*self.load_lines, "embeddings = model.encode(['a question', 'a passage'])"]
        return "```python\n" + "\n".join(code) + "\n```\n\n" + self.run_section


def run_section(
    config: TrainConfig, data: TrainingData, metrics: dict[str, Any], run_id: str
) -> str:
    """Markdown: base model, data, objective and settings, validation base vs tuned."""
    counts = data.counts()
    # A final fit continuing its split run carries the questions that run imported.
    earlier = metrics.get("continued_from", {})
    imported = counts.get("imported_by_source") or earlier.get("data", {}).get("imported_by_source")
    where = f" (trained in run `{earlier['run_id']}`)" if earlier and imported else ""
    lines = [
        f"## Domain Embedding Studio run {run_id}",
        "",
        "Made with Domain Embedding Studio: sentence-transformers fine-tuning on curated",
        "(query, passage) pairs of the workspace, with mined hard negatives.",
        "",
        f"- Base model: `{config.base_model}`",
        f"- Objective: `{config.loss}`",
        f"- Training records: {counts['train_records']} "
        f"({counts['train_queries']} queries; {counts['records_with_negatives']} with mined "
        f"negatives; mining {counts['mining_id']})",
        *(
            [
                "- Imported real questions (related collections, with their own passages; "
                "never validated or evaluated): "
                + ", ".join(f"{n} records from `{s}`" for s, n in imported.items())
                + where
            ]
            if imported
            else []
        ),
        f"- Validation: {counts['validation_queries']} queries over "
        f"{counts['validation_corpus']} chunks",
        f"- Steps: {metrics.get('steps')}, {metrics.get('train_seconds')} s",
    ]
    if config.moe:
        lines += [
            "",
            "The mixture-of-experts layers are custom model code shipped in this folder "
            "(`modeling_bert_moe.py`), hence `trust_remote_code=True`.",
        ]
    if config.final_of:
        lines += [
            "",
            f"This is the final fit of run `{config.final_of}`: "
            + (
                "that run's model, trained on with the same settings on the pairs it held out"
                if config.init_from
                else "the same settings trained on the pairs of every document"
            )
            + ". Its evaluation figures are those of that run.",
        ]
    lines += ["", "### Settings", "", "| setting | value | meaning |", "|---|---|---|"]
    helps = type(config).help()
    for key, value in config.to_dict().items():
        lines.append(f"| {key} | `{value}` | {helps.get(key, '')} |")
    for title, key in (
        ("Validation, base model", "validation_base"),
        ("Validation, tuned", "validation"),
    ):
        if metrics.get(key):
            lines += ["", f"### {title}", "", "| metric | value |", "|---|---|"]
            for m, v in sorted(metrics[key].items()):
                if m.startswith("cosine_"):
                    lines.append(f"| {m.removeprefix('cosine_')} | {v:.4f} |")
    return "\n".join(lines) + "\n"


def fill_card(
    model, config: TrainConfig, data: TrainingData, metrics: dict[str, Any], run_id: str
) -> None:
    """Put the run's facts into `model`'s card data (a `RunCardData`); `model.save` writes it."""
    card = model.model_card_data
    if not isinstance(card, RunCardData):
        raise TypeError("load the model with model_card_data=RunCardData() (core.training.card)")
    card.model_name = f"Fine-tuned embedding model (run {run_id})"
    card.load_lines = load_snippet(config)
    card.run_section = run_section(config, data, metrics, run_id)
