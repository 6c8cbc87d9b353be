"""Prompt templates, read from user-editable files in `assets/prompts/` (see its README.md).

Templates use `str.format` placeholders; an unknown placeholder is left as written instead of
failing, so a user's edited template never crashes a run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

PROMPTS_DIR = Path(__file__).resolve().parents[2] / "assets" / "prompts"


class _Keep(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def load_template(name: str, prompts_dir: Path | None = None) -> str:
    """The text of `<name>.txt` in the prompts folder (FileNotFoundError names the file)."""
    path = (prompts_dir or PROMPTS_DIR) / f"{name}.txt"
    if not path.is_file():
        raise FileNotFoundError(f"prompt template {path} is missing")
    return path.read_text(encoding="utf-8").strip()


def render(name: str, prompts_dir: Path | None = None, **values: object) -> str:
    """Template `name` with its placeholders filled from `values`."""
    return load_template(name, prompts_dir).format_map(_Keep(values))


def conversation(
    kind: str,
    structured: bool,
    prompts_dir: Path | None = None,
    examples: Sequence[str] = (),
    **values: object,
) -> list[dict[str, str]]:
    """The chat messages asking for questions of `kind`: JSON prompts for capable endpoints,
    the plain `local_` prompts for the small local model; `examples` (the user's example
    questions, core.generation.examples) go into the request's own prompt."""
    if structured:
        return [
            {"role": "system", "content": load_template("system", prompts_dir)},
            {"role": "user", "content": with_examples(kind, prompts_dir, examples, values)},
        ]
    messages = [{"role": "system", "content": load_template("local_system", prompts_dir)}]
    example = local_example(prompts_dir)
    if example is not None:
        # One worked example: the 135M model otherwise answers "What is the next question?".
        shown = {**values, "passage": example[0], "passages": f"Passage 1:\n{example[0]}"}
        messages += [
            {"role": "user", "content": with_examples(f"local_{kind}", prompts_dir, (), shown)},
            {"role": "assistant", "content": example[1]},
        ]
    content = with_examples(f"local_{kind}", prompts_dir, examples, values)
    messages.append({"role": "user", "content": content})
    return messages


def with_examples(
    name: str, prompts_dir: Path | None, examples: Sequence[str], values: dict[str, object]
) -> str:
    """Template `name` rendered with the example block in its {examples} placeholder, or at
    its end for a template written without one; no trace of it when there are none."""
    from core.generation.examples import examples_block

    block = examples_block(examples)
    text = render(name, prompts_dir, **{**values, "examples": block})
    if not block:
        return text.replace("\n\n\n", "\n\n")
    return text if block in text else f"{text}\n\n{block}"


def local_example(prompts_dir: Path | None = None) -> tuple[str, str] | None:
    """(passage, question) from `local_example.txt` (passage, a line `---`, question)."""
    try:
        text = load_template("local_example", prompts_dir)
    except FileNotFoundError:
        return None
    passage, sep, question = text.partition("\n---\n")
    return (passage.strip(), question.strip()) if sep and question.strip() else None


def template_phrases(prompts_dir: Path | None = None) -> list[str]:
    """Instruction sentences of every template, lower-cased: a question repeating one of them
    echoes the prompt (a junk rule in core.generation.filters)."""
    folder = prompts_dir or PROMPTS_DIR
    phrases: list[str] = []
    for path in sorted(folder.glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip().lower()
            if len(line.split()) >= 4 and "{" not in line:
                phrases.append(line)
    return phrases
