import io
import zipfile

import pytest

from core.chunking import ChunkingSettings
from core.documents import delete_document, list_chunks, list_documents
from core.ingest import ingest_files, safe_name
from tests.helpers import LOREM, make_docx, make_pdf


def _ingest(ws, *files, **kw):
    return ingest_files(ws, list(files), **kw)


def test_txt_md_html_pdf_docx_are_ingested_with_headings(ws):
    html = (
        b"<html><head><script>alert(1)</script></head><body><h1>Policy</h1><p>"
        + LOREM.encode()
        + b"</p><h2>Exams</h2><p>The written exam takes place in May and covers every lecture.</p></body></html>"
    )
    results = _ingest(
        ws,
        ("notes.txt", LOREM.encode()),
        ("guide.md", f"# Guide\n\n{LOREM}\n".encode()),
        ("page.html", html),
        ("syllabus.pdf", make_pdf([LOREM, "Attendance is mandatory in labs."])),
        (
            "handbook.docx",
            make_docx(
                [
                    ("Grading", LOREM),
                    ("Attendance", "Labs are mandatory for every student enrolled in this course."),
                ]
            ),
        ),
        settings=ChunkingSettings(mode="headings"),
    )
    assert [r.status for r in results] == ["ingested"] * 5, [r.error for r in results]
    assert all(r.chunks > 0 for r in results)
    by_name = {d.name: d for d in list_documents(ws)}
    page_chunks = list_chunks(ws, by_name["page.html"].id)
    assert "alert" not in " ".join(c["text"] for c in page_chunks)
    assert any(c["heading_path"] == "Policy > Exams" for c in page_chunks)
    docx_chunks = list_chunks(ws, by_name["handbook.docx"].id)
    assert [c["heading_path"] for c in docx_chunks] == ["Grading", "Attendance"]
    pdf_text = " ".join(c["text"] for c in list_chunks(ws, by_name["syllabus.pdf"].id))
    assert "Attendance is mandatory" in pdf_text
    # the originals are stored inside the workspace
    for d in by_name.values():
        assert (ws.root / d.stored_path).is_file()


def _encrypted_pdf() -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf([LOREM]))))
    writer.encrypt(user_password="secret", owner_password="owner")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def _image_only_pdf() -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.rect(10, 10, 100, 50, style="F")
    return bytes(pdf.output())


def _zip_bomb_docx() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("word/document.xml", b"<a>" + b"\0" * (250 * 1024 * 1024) + b"</a>")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.txt", b"", "empty"),
        ("blank.md", b"   \n\t\n", "empty"),
        ("binary.txt", bytes(range(256)) * 20, "binary"),
        ("fake.pdf", b"hello, not a pdf", "not a PDF"),
        ("broken.docx", b"PK not really a zip", "not a valid .docx"),
        ("truncated.pdf", None, "damaged"),
        ("locked.pdf", None, "encrypted"),
        ("scan.pdf", None, "no text layer"),
        ("bomb.docx", None, "zip bomb"),
        ("script.exe", b"MZ....", "unsupported file type"),
    ],
)
def test_bad_files_fail_alone_with_reason(ws, name, data, reason):
    makers = {
        "truncated.pdf": lambda: make_pdf([LOREM * 5])[:400],
        "locked.pdf": _encrypted_pdf,
        "scan.pdf": _image_only_pdf,
        "bomb.docx": _zip_bomb_docx,
    }
    data = makers[name]() if data is None else data
    results = _ingest(ws, (name, data), ("good.txt", LOREM.encode()))
    assert results[0].status == "error"
    assert reason.lower() in results[0].error.lower()
    assert results[1].status == "ingested"
    assert [d.name for d in list_documents(ws)] == ["good.txt"]
    assert sorted(p.name.split("-", 1)[1] for p in ws.files_dir.iterdir()) == ["good.txt"]


def test_encodings_are_decoded(ws):
    latin = "Résumé des règles: la note finale dépend des examens écrits et oraux.".encode("cp1252")
    utf16 = ("\ufeff" + "Über die Prüfung: " + LOREM).encode("utf-16")
    results = _ingest(ws, ("fr.txt", latin), ("de.txt", utf16))
    assert [r.status for r in results] == ["ingested", "ingested"]
    texts = [c["text"] for c in list_chunks(ws)]
    assert any("Résumé" in t for t in texts)
    assert any("Über die Prüfung" in t for t in texts)


def test_hostile_names_stay_inside_workspace(ws, tmp_path):
    results = _ingest(
        ws,
        ("../../escape.txt", b"escape attempt one " + LOREM.encode()),
        ("/etc/passwd.txt", b"escape attempt two " + LOREM.encode()),
        ("a\x00b.txt", b"nul byte name " + LOREM.encode()),
        ("x" * 300 + ".txt", b"very long name " + LOREM.encode()),
    )
    assert [r.status for r in results] == ["ingested"] * 4
    assert not (tmp_path / "escape.txt").exists()
    for p in ws.files_dir.iterdir():
        assert p.resolve().parent == ws.files_dir.resolve()
        assert len(p.name) < 160
    assert safe_name("../../a/b/c.md") == "c.md"


def test_duplicates_and_size_limit(ws):
    first = _ingest(ws, ("a.txt", LOREM.encode()))[0]
    again = _ingest(ws, ("copy.txt", LOREM.encode()), ("big.txt", b"x " * 700_000), max_file_mb=1)
    assert again[0].status == "duplicate" and again[0].document_id == first.document_id
    assert again[1].status == "error" and "limit" in again[1].error
    assert len(list_documents(ws)) == 1


def test_delete_document_removes_chunks_and_file(ws):
    r = _ingest(ws, ("a.txt", LOREM.encode()))[0]
    assert list_chunks(ws)
    assert delete_document(ws, r.document_id)
    assert list_chunks(ws) == [] and list(ws.files_dir.iterdir()) == []
