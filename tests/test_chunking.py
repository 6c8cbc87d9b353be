import random

import pytest

from core.chunking import ChunkingSettings, TokenCounter, chunk_text
from core.models import DEFAULT_BASE_MODEL


@pytest.fixture(scope="module")
def counter():
    return TokenCounter.for_model(DEFAULT_BASE_MODEL)


def _random_text(seed: int, n_words: int) -> str:
    rng = random.Random(seed)
    vocab = [
        "photosynthesis",
        "the",
        "of",
        "electroencephalography",
        "a",
        "grading",
        "x7Q#z",
        "policy",
        "syllabus",
        "无监督",
        "co-operation",
        "midterm",
        "3.14159",
        "(see §2)",
    ]
    words = [rng.choice(vocab) for _ in range(n_words)]
    lines, i = [], 0
    while i < len(words):
        step = rng.randint(5, 40)
        lines.append(" ".join(words[i : i + step]))
        i += step
    return "\n".join(lines)


@pytest.mark.parametrize("mode", ["fixed", "headings"])
@pytest.mark.parametrize("seed", range(4))
def test_no_chunk_exceeds_token_limit_and_offsets_match(counter, mode, seed):
    text = _random_text(seed, 3000)
    if mode == "headings":
        text = "# Title\n" + text.replace("\n", "\n## Part\n", 3)
    chunks = chunk_text(text, ChunkingSettings(mode=mode, chunk_words=300), counter)
    assert chunks
    for c in chunks:
        assert counter.count(c.text) <= counter.max_tokens
        assert c.n_tokens == counter.count(c.text)
        assert text[c.start_char : c.end_char] == c.text
    assert [c.ord for c in chunks] == list(range(len(chunks)))


def test_fixed_windows_respect_words_and_overlap(counter):
    words = [f"w{i}" for i in range(100)]
    text = " ".join(words)
    chunks = chunk_text(text, ChunkingSettings(chunk_words=30, overlap_words=10), counter)
    first, second = chunks[0].text.split(), chunks[1].text.split()
    assert len(first) == 30
    assert first[-10:] == second[:10]
    assert chunks[-1].text.split()[-1] == "w99"


def test_single_huge_word_is_split(counter):
    text = "a-" * 2500  # one whitespace-free "word" of 5,000 tokens
    chunks = chunk_text(text, ChunkingSettings(), counter)
    assert len(chunks) > 1
    assert all(counter.count(c.text) <= counter.max_tokens for c in chunks)


def test_headings_give_paths_and_merge_bare_headings(counter):
    text = (
        "# Course\nIntro words here for the course overview and goals of the term.\n"
        "## Grading\n### Exams\nThe midterm counts thirty percent and the final counts forty.\n"
        "2.1 Late Work\nLate work loses ten percent per day unless an extension was agreed.\n"
    )
    chunks = chunk_text(text, ChunkingSettings(mode="headings"), counter)
    paths = [c.heading_path for c in chunks]
    assert paths[0] == "Course"
    assert "Course > Grading > Exams" in paths
    assert any(p.endswith("2.1 Late Work") for p in paths)
    exams = next(c for c in chunks if c.heading_path == "Course > Grading > Exams")
    assert exams.text.startswith("## Grading")  # the bare "## Grading" merged into its child


def test_invalid_settings_rejected():
    with pytest.raises(ValueError, match="overlap"):
        ChunkingSettings(chunk_words=50, overlap_words=50).validate()
    with pytest.raises(ValueError, match="mode"):
        ChunkingSettings(mode="pages").validate()  # type: ignore[arg-type]
