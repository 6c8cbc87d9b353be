"""No-LLM pseudo-queries (inverse cloze, keywords, headings), prompts and document splits."""

from __future__ import annotations

from core.generation.kinds import build_conversation, related_chunks
from core.generation.pseudo import (
    heading_candidates,
    ict_candidates,
    ict_reject_reason,
    keyword_candidates,
    sentences,
)
from core.splits import assign_splits, plan_splits
from tests.helpers import seed_documents

TEXT_A = (
    "# Borrowing\n\nA reference is like a pointer that is guaranteed to be valid. Unlike a "
    "pointer, a reference always points to a valid value of a particular type. We call the "
    "action of creating a reference borrowing in the Rust language. The scope of a reference "
    "starts where it is introduced and ends at its last use."
)
TEXT_B = (
    "A panic prints a failure message, unwinds the stack and quits the program. Rust programs "
    "can abort on panic instead of unwinding to make the binary smaller. Use a Result when "
    "failure is expected and a panic when continuing would be unsafe for the process."
)
CHUNKS = [
    {
        "id": 1,
        "document_id": 1,
        "document": "a.md",
        "text": TEXT_A,
        "heading_path": "Rust book > References and Borrowing",
    },
    {
        "id": 2,
        "document_id": 1,
        "document": "a.md",
        "text": TEXT_A.replace("pointer", "address"),
        "heading_path": "Rust book > References and Borrowing",
    },
    {"id": 3, "document_id": 2, "document": "b.md", "text": TEXT_B, "heading_path": ""},
]


def test_ict_uses_sentences_of_the_chunk_and_can_remove_them():
    cands = ict_candidates(CHUNKS[:1], per_chunk=2)
    assert len(cands) == 2 and len({c.query for c in cands}) == 2
    assert all(c.query in TEXT_A and c.positives == [1] and c.positive_text is None for c in cands)
    assert ict_candidates(CHUNKS[:1], per_chunk=2) == cands  # deterministic
    removed = ict_candidates(CHUNKS[:1], per_chunk=1, remove_from_positive=True)[0]
    assert removed.query not in removed.positive_text
    assert "borrowing" in removed.positive_text or "pointer" in removed.positive_text
    assert "# Borrowing" not in sentences(TEXT_A)[0]  # headings are not sentences


def test_ict_skips_sentences_that_are_no_content():
    toc = "ILC N151 Contents Course Description:......... 3 Grading Policy ....... 4."
    pointer = "See Listing 4-6 for the whole program and its output."
    dates = "Week 1 9/1 9/3 9/5 10/1 10/3 10/5 11/2."
    content = "Students who miss the midterm must email the instructor within two days."
    assert ict_reject_reason(toc) == "table of contents line"
    assert ict_reject_reason(pointer) == "pointer to another place"
    assert ict_reject_reason(dates) == "mostly numbers or symbols"
    assert ict_reject_reason("and the rest of the sentence cut by the window") == "fragment"
    assert ict_reject_reason(content) is None
    assert ict_reject_reason(content, chunk_words=14) == "most of its chunk"
    chunk = {
        "id": 9,
        "document_id": 1,
        "document": "s.txt",
        "text": f"{toc} {pointer} {dates} {content}",
        "heading_path": "",
    }
    assert [c.query for c in ict_candidates([chunk], per_chunk=4)] == [content]
    title_only = {**chunk, "id": 10, "text": "Course Syllabus for Chemistry One Hundred."}
    assert ict_candidates([title_only], per_chunk=2) == []  # a title block is its own query


def test_keywords_are_salient_phrases_of_the_chunk():
    cands = keyword_candidates(CHUNKS, per_chunk=1)
    by_chunk = {c.chunk_id: c.query for c in cands}
    assert set(by_chunk) == {1, 2, 3}
    for chunk in CHUNKS:
        words = by_chunk[chunk["id"]].split()
        assert 2 <= len(words) <= 9
        assert all(w in chunk["text"].lower() for w in words)
        assert words[0] not in {"the", "a", "of", "and"}  # phrases never start or end
        assert words[-1] not in {"the", "a", "of", "and"}  # with a stopword
    # Terms shared by chunks 1 and 2 are less salient than the one word that differs.
    assert "address" in by_chunk[2] and "pointer" in by_chunk[1]


def test_heading_queries_have_every_chunk_of_the_section_as_positive():
    cands = heading_candidates(CHUNKS, per_chunk=2)
    assert {c.query for c in cands} == {
        "References and Borrowing",
        "Rust book — References and Borrowing",
    }
    assert all(c.positives == [1, 2] for c in cands)  # chunk 3 has no heading


def test_multi_hop_neighbours_and_local_prompt_example():
    import numpy as np

    emb = np.array([[1, 0, 0], [0.8, 0.6, 0], [0.6, 0.8, 0], [0, 0, 1]], dtype=np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    assert related_chunks(0, emb, [10, 11, 12, 13]) == [11, 12]  # not the orthogonal one
    assert related_chunks(0, emb, [10, 11, 12, 13], allowed=lambda c: c != 11) == [12]
    conv = build_conversation("simple", CHUNKS[0], 1, structured=False)
    assert [m["role"] for m in conv] == ["system", "user", "assistant", "user"]
    assert "aspirin" in conv[2]["content"] and "guaranteed to be valid" in conv[3]["content"]
    structured = build_conversation("simple", CHUNKS[0], 3, structured=True)
    assert "Write 3 different" in structured[-1]["content"]


def test_plan_splits_small_and_large():
    assert set(plan_splits([(1, "a"), (2, "b")]).values()) == {"train"}
    plan = plan_splits([(i, f"h{i}") for i in range(20)])
    counts = {s: list(plan.values()).count(s) for s in ("train", "validation", "test")}
    assert counts == {"train": 16, "validation": 2, "test": 2}
    assert plan == plan_splits([(i, f"h{i}") for i in reversed(range(20))])  # deterministic


def test_assign_splits_in_a_workspace(ws):
    seed_documents(ws, 4, 1)
    counts = assign_splits(ws)
    assert counts["test"] == 1 and counts["train"] == 3
    with ws.connect() as conn:
        before = dict(conn.execute("SELECT id, split FROM documents").fetchall())
    assign_splits(ws)  # stable on a rerun
    with ws.connect() as conn:
        assert dict(conn.execute("SELECT id, split FROM documents").fetchall()) == before


def test_a_single_document_holds_out_chunk_windows(ws):
    from core import pairs
    from core.chunking import Chunk
    from core.documents import insert_chunks, insert_document
    from core.evaluation.datasets import workspace_set
    from core.splits import WINDOWS, split_mode

    assert split_mode(ws)["mode"] == "none"
    with ws.transaction() as conn:
        doc = insert_document(
            conn, name="manual.txt", stored_path="", sha256="m", fmt="txt", size_bytes=1, text="x"
        )
        insert_chunks(conn, doc, [Chunk(i, f"part {i}", "", i, i + 1, 3) for i in range(40)])
    assign_splits(ws)
    with ws.connect() as conn:
        rows = conn.execute("SELECT ord, split FROM chunks ORDER BY ord").fetchall()
    splits = [r["split"] for r in rows]
    per_window = 40 // WINDOWS
    assert splits.count("test") == splits.count("validation") == per_window
    first_test = splits.index("test")  # one contiguous window
    assert splits[first_test : first_test + per_window] == ["test"] * per_window
    held = split_mode(ws)
    assert held == {"mode": "chunk windows", "test_documents": 0, "test_chunks": 4, "chunks": 40}
    # Pairs follow their chunk's split, so the Evaluate page has held-out questions.
    test_chunk = next(r["ord"] for r in rows if r["split"] == "test") + 1  # ids start at 1
    pid = pairs.add_manual_pair(ws, "What is in the held-out part?", [test_chunk])
    assert pairs.get_pair(ws, pid)["split"] == "test"
    assert len(workspace_set(ws, "test").queries) == 1
    assign_splits(ws)  # fixed once assigned
    with ws.connect() as conn:
        assert [r[0] for r in conn.execute("SELECT split FROM chunks ORDER BY ord")] == splits


def test_ict_writes_one_query_per_fifty_words_by_default():
    from core.generation.pseudo import ICT_WORDS_PER_QUERY, ict_queries_for

    sentence = "Each weekly quiz counts for two percent of the final course grade."  # 12 words
    long_chunk = {
        **CHUNKS[2],
        "id": 7,
        "text": " ".join(
            [
                sentence.replace("two", w)
                for w in (
                    "one",
                    "two",
                    "three",
                    "four",
                    "five",
                    "six",
                    "seven",
                    "eight",
                    "nine",
                    "ten",
                    "eleven",
                    "twelve",
                    "thirteen",
                    "fourteen",
                    "fifteen",
                    "sixteen",
                    "seventeen",
                )
            ]
        ),
    }
    n_words = len(long_chunk["text"].split())
    assert ICT_WORDS_PER_QUERY == 50 and ict_queries_for(n_words) == round(n_words / 50) == 4
    assert len(ict_candidates([long_chunk])) == 4
    assert len(ict_candidates([long_chunk], per_chunk=2)) == 2  # an explicit count wins
    assert ict_queries_for(10) == 1  # a short chunk still gets one
