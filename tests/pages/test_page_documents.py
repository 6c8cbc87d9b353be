"""AppTest of the Documents page: upload a file, see its result, its chunks, delete it."""

from streamlit.testing.v1 import AppTest

from core.documents import list_documents
from tests.helpers import LOREM, page_app


def _app(ws) -> AppTest:
    return page_app(ws, "1_Documents.py")


def test_empty_workspace_says_what_to_do(ws):
    at = _app(ws).run()
    assert not at.exception
    assert any("No documents yet" in i.value for i in at.info)


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
    docs = list_documents(ws)
    assert [d.name for d in docs] == ["syllabus.md"]
    chunk_table = at.dataframe[-1].value  # the chunk preview is the last table
    assert len(chunk_table) == docs[0].n_chunks > 0
    assert "Students must submit" in " ".join(chunk_table["text"])

    at.button(key="docs_delete").click().run()
    assert not at.exception
    assert list_documents(ws) == []
