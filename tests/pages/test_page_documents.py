"""AppTest of the Documents page: upload a file, see its result, its chunks, delete it."""

from streamlit.testing.v1 import AppTest

from core.documents import list_documents
from core.store import now_iso
from tests.helpers import LOREM, page_app, seed_two_documents


def _app(ws) -> AppTest:
    return page_app(ws, "1_Documents.py")


def test_upload_shows_result_and_chunks(ws):
    at = _app(ws).run()
    md = f"# Syllabus\n\n{LOREM}\n\n## Exams\n\n{LOREM}\n".encode()
    at.file_uploader(key="docs_uploader").set_value(
        [("syllabus.md", md, "text/markdown"), ("empty.txt", b"", "text/plain")]
    ).run()
    at.button(key="docs_ingest").click().run()
    assert not at.exception
    assert any("syllabus.md" in s.value and "chunks" in s.value for s in at.success)
    assert any("empty.txt" in e.value and "empty" in e.value for e in at.error)
    # The progress bar ends on a summary, not on the last (refused) file's name.
    assert at.get("progress")[0].proto.text == "Ingested 1 of 2 files; 1 refused"
    docs = list_documents(ws)
    assert [d.name for d in docs] == ["syllabus.md"]
    chunk_table = at.dataframe[-1].value  # the chunk preview is the last table
    assert len(chunk_table) == docs[0].n_chunks > 0
    assert "Students must submit" in " ".join(chunk_table["text"])

    at.button(key="docs_delete").click().run()
    assert not at.exception
    assert [d.name for d in list_documents(ws)] == ["syllabus.md"]  # nothing gone yet


def test_staged_files_are_named_until_ingested(ws):
    at = _app(ws).run()
    at.file_uploader(key="docs_uploader").set_value(
        [("a.md", f"# A\n\n{LOREM}\n".encode(), "text/markdown"), ("b.txt", b"", "text/plain")]
    ).run()
    assert not at.exception
    assert not any("No documents yet" in i.value for i in at.info)
    assert any("2 file(s) staged" in i.value and "Ingest 2 file(s)" in i.value for i in at.info)
    at.button(key="docs_ingest").click().run()
    assert not any("staged" in i.value for i in at.info)


def test_delete_asks_first_and_says_what_goes(ws):
    chunk_ids = seed_two_documents(ws)
    with ws.transaction() as conn:
        now = now_iso()
        for chunk in chunk_ids[:2]:  # two pairs on doc0.md's chunks
            cur = conn.execute(
                "INSERT INTO pairs (query, original_query, kind, created_at, updated_at)"
                " VALUES ('q?', 'q?', 'simple', ?, ?)",
                (now, now),
            )
            conn.execute("INSERT INTO pair_positives VALUES (?, ?)", (cur.lastrowid, chunk))
    at = _app(ws).run()
    assert at.selectbox(key="docs_preview_doc").value == list_documents(ws)[0].id
    at.button(key="docs_delete").click().run()
    assert not at.exception
    warning = at.warning[0].value
    assert "doc0.md" in warning and "2 chunks, 2 pairs, 0 mined negatives" in warning
    assert len(list_documents(ws)) == 2  # asked, not done

    at.button(key="docs_delete_cancel").click().run()
    assert not at.warning and len(list_documents(ws)) == 2

    at.button(key="docs_delete").click().run()
    at.button(key="docs_delete_confirm").click().run()
    assert not at.exception
    assert [d.name for d in list_documents(ws)] == ["doc1.md"]
    assert any("Deleted doc0.md" in s.value and "2 pairs" in s.value for s in at.success)
    with ws.connect() as conn:
        assert conn.execute("SELECT COUNT(*) FROM pairs").fetchone()[0] == 0
