"""Question logs without answers (core/question_log.py): each question's positive is the chunk
the base model fused with BM25 finds first, kept only where the retrievers agree; the pairs go
to review. A real workspace (the sample Rust chapter in ~14 chunks) and the real base model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.pairs import PairError, list_pairs
from core.question_log import choose_positives, import_log, read_log
from core.splits import chunk_splits
from core.store import Workspace

DATA_RACE = "What three behaviors cause a data race?"
LENGTH = "How do I get the length of a string without taking ownership?"
SLICE = "what is a slice"  # BM25 ranks the dangle chunk first, the base model the slices one


def write_log(folder: Path, *lines: str, name: str = "support-questions.txt") -> Path:
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def chunk_text(ws: Workspace, chunk_id: int | None) -> str:
    with ws.connect() as conn:
        return conn.execute("SELECT text FROM chunks WHERE id = ?", (chunk_id,)).fetchone()[0]


def test_a_log_is_read_stripped_without_blank_lines_and_repeats(tmp_path):
    path = write_log(tmp_path, "  What is a  slice? ", "", "   ", "Why borrow?", "What is a slice?")
    assert read_log(path) == (["What is a slice?", "Why borrow?"], 3, 1)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\n  \n\n", "holds no question"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "not a text file"),
        ("What is a slice?".encode("utf-16"), "not a text file"),
    ],
)
def test_an_empty_or_binary_file_is_refused_with_a_clear_error(tmp_path, content, message):
    path = tmp_path / "log.txt"
    path.write_bytes(content)
    with pytest.raises(PairError, match=message):
        read_log(path)


def test_a_question_naming_a_chunks_content_gets_that_chunk_as_a_pending_pair(sample_ws, tmp_path):
    out = import_log(sample_ws, write_log(tmp_path, DATA_RACE, LENGTH))
    assert (out["questions"], out["kept"], out["dropped"], out["status"]) == (2, 2, 0, "pending")
    pairs = {p["query"]: p for p in list_pairs(sample_ws)}
    race = pairs[DATA_RACE]["chunk_id"]
    assert "Two or more pointers access the same data at the same time" in chunk_text(
        sample_ws, race
    )
    assert pairs[DATA_RACE]["n_positives"] == 1
    with sample_ws.connect() as conn:
        split = chunk_splits(conn)[race]
    got = pairs[DATA_RACE]
    assert (got["status"], got["kind"], got["origin"], got["split"], got["source"]) == (
        "pending",
        "log",
        "log:support-questions.txt",
        split,
        None,
    )


def test_the_filter_drops_a_question_whose_retrievers_disagree(sample_ws, tmp_path):
    (pick,) = choose_positives(sample_ws, [SLICE])
    assert "a different kind of reference: slices" in chunk_text(sample_ws, pick.dense_id)
    assert "a different kind of reference: slices" not in chunk_text(sample_ws, pick.bm25_id)
    out = import_log(sample_ws, write_log(tmp_path, SLICE, DATA_RACE))
    assert (out["kept"], out["dropped"]) == (1, 1)
    assert [p["query"] for p in list_pairs(sample_ws)] == [DATA_RACE]


def test_a_log_imported_again_adds_no_pair(sample_ws, tmp_path):
    path = write_log(tmp_path, DATA_RACE, LENGTH)
    import_log(sample_ws, path)
    out = import_log(sample_ws, path, accept=True)
    assert (out["already"], out["kept"]) == (2, 0)
    assert len(list_pairs(sample_ws)) == 2


def test_the_cli_imports_a_log_and_accepts_its_pairs(sample_ws, tmp_path, capsys):
    from core.cli import main

    path = write_log(tmp_path, DATA_RACE, DATA_RACE, "", SLICE)
    code = main(["pairs", str(sample_ws.root), "--import-log", str(path), "--accept", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert {k: out["import_log"][k] for k in ("lines", "duplicates", "kept", "dropped")} == {
        "lines": 3,
        "duplicates": 1,
        "kept": 1,
        "dropped": 1,
    }
    assert out["counts"]["accepted"] == 1
    assert [p["query"] for p in list_pairs(sample_ws, status="accepted")] == [DATA_RACE]


def test_a_log_about_one_document_finds_its_chunk_in_that_document(sample_ws, tmp_path):
    from tests.gen_helpers import SAMPLE, ingest_sample

    ingest_sample(sample_ws, SAMPLE.parent / "rust-rc-reference-counting.md")
    question = "When is a value cleaned up?"  # the rc chapter's chunks win, but not clearly
    path = write_log(tmp_path, question)
    assert import_log(sample_ws, path)["kept"] == 0
    out = import_log(sample_ws, path, document=SAMPLE.name)
    assert (out["kept"], out["document"]) == (1, SAMPLE.name)
    assert [(p["query"], p["document"]) for p in list_pairs(sample_ws)] == [(question, SAMPLE.name)]
    with pytest.raises(PairError, match="no document named 'other"):
        import_log(sample_ws, path, document="other.md")


def test_the_cli_refuses_a_binary_log_in_one_line(sample_ws, tmp_path, capsys):
    from core.cli import main

    path = tmp_path / "export.txt"
    path.write_bytes(b"PK\x03\x04\x14\x00\x00\x00\x08\x00" * 20)
    assert main(["pairs", str(sample_ws.root), "--import-log", str(path)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "export.txt is not a text file" in err[0], err
    assert list_pairs(sample_ws) == []
