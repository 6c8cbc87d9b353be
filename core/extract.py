"""Text extraction from uploaded bytes: txt, md, pdf, docx, html → clean text.

Headings are kept as markdown heading lines ("## Title") so that heading-aware chunking works
the same for every format. Every failure raises `ExtractionError` with a reason a user can act on.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import PurePath

SUPPORTED_FORMATS = ("txt", "md", "pdf", "docx", "html")
_EXTENSIONS = {
    ".txt": "txt",
    ".text": "txt",
    ".md": "md",
    ".markdown": "md",
    ".pdf": "pdf",
    ".docx": "docx",
    ".html": "html",
    ".htm": "html",
}
# A docx whose parts would inflate beyond this (bytes) is refused: a zip bomb guard.
MAX_DOCX_UNCOMPRESSED = 200 * 1024 * 1024
# HTML nested deeper than this (elements) is refused. It is libxml2's own limit, so real pages
# never reach it; BeautifulSoup's tree edits cost time quadratic in depth (10 MB of <div>s
# would take hours), so the depth is checked first with lxml's C parser, in milliseconds.
MAX_HTML_DEPTH = 256


class ExtractionError(Exception):
    """The file's text could not be extracted; the message is shown to the user."""


def detect_format(name: str) -> str:
    ext = PurePath(name).suffix.lower()
    if ext not in _EXTENSIONS:
        raise ExtractionError(
            f"unsupported file type {ext or '(none)'}; use one of: .txt .md .pdf .docx .html"
        )
    return _EXTENSIONS[ext]


def extract_text(name: str, data: bytes) -> tuple[str, str]:
    """(format, text) for a file's bytes; raises ExtractionError with the reason."""
    fmt = detect_format(name)
    if not data or not data.strip():
        raise ExtractionError("the file is empty")
    try:
        if fmt == "pdf":
            text = _pdf_text(data)
        elif fmt == "docx":
            text = _docx_text(data)
        else:
            decoded = decode_bytes(data)
            text = _html_text(decoded) if fmt == "html" else decoded
    except ExtractionError:
        raise
    except RecursionError as exc:
        raise ExtractionError("the document is nested too deeply to parse") from exc
    except MemoryError as exc:
        raise ExtractionError("the document is too large to parse") from exc
    text = normalize_text(text)
    if not text.strip():
        raise ExtractionError("no text found in the file")
    return fmt, text


def decode_bytes(data: bytes) -> str:
    """Decode text: BOMs first, then UTF-8, then the detected encoding; refuse binary data."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if _looks_binary(data):
        raise ExtractionError("the file looks binary, not text (wrong extension?)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if _UTF8_MULTIBYTE.search(data):
        # Valid multi-byte UTF-8 with a few broken bytes is UTF-8 with damage, not a legacy
        # encoding: guessing cp1252 would garble every accent. Broken bytes become U+FFFD.
        return data.decode("utf-8", errors="replace")
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise ExtractionError("the text encoding could not be detected (not UTF-8)")
    return str(best)


# A well-formed 2-, 3- or 4-byte UTF-8 sequence (legacy 8-bit encodings rarely form one).
_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)


def _looks_binary(data: bytes) -> bool:
    sample = data[:8192]
    if b"\x00" in sample:
        return True
    control = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13, 27))
    return control / max(1, len(sample)) > 0.05


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def normalize_text(text: str) -> str:
    """Unify newlines, drop control characters and trailing spaces, squeeze blank lines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n")
    text = _CONTROL.sub("", text)
    text = text.replace("\u00a0", " ").replace("\u00ad", "")
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _pdf_text(data: bytes) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    if not data.lstrip().startswith(b"%PDF"):
        raise ExtractionError("not a PDF file (no %PDF header)")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                # Many "encrypted" PDFs only restrict printing and open with an empty password.
                if not reader.decrypt(""):
                    raise ExtractionError("the PDF is encrypted with a password")
            except ExtractionError:
                raise
            except Exception as exc:
                raise ExtractionError("the PDF is encrypted with a password") from exc
        pages = [page.extract_text() or "" for page in reader.pages]
    except ExtractionError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise ExtractionError(
            f"the PDF is damaged or truncated ({exc.__class__.__name__})"
        ) from exc
    text = "\n\n".join(pages)
    if not text.strip():
        raise ExtractionError(
            "no text layer found in the PDF (scanned or image-only?); run OCR first"
        )
    return text


def _docx_text(data: bytes) -> str:
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise ExtractionError("not a valid .docx file (it is not a zip archive)")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        total = sum(info.file_size for info in zf.infolist())
        if total > MAX_DOCX_UNCOMPRESSED:
            raise ExtractionError(
                f"the .docx would expand to {total // 2**20} MB (limit "
                f"{MAX_DOCX_UNCOMPRESSED // 2**20} MB); refusing a possible zip bomb"
            )
        if "word/document.xml" not in zf.namelist():
            raise ExtractionError("not a valid .docx file (no word/document.xml)")
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:
        raise ExtractionError(f"malformed .docx file ({exc.__class__.__name__})") from exc
    lines: list[str] = []
    for para in document.paragraphs:
        text = para.text.strip()
        if not text:
            continue
        style = (para.style.name if para.style is not None else "") or ""
        level = _docx_heading_level(style)
        lines.append(f"{'#' * level} {text}" if level else text)
    for table in document.tables:
        for row in table.rows:
            cells = [c.text.strip() for c in row.cells if c.text.strip()]
            if cells:
                lines.append(" | ".join(cells))
    return "\n\n".join(lines)


def _docx_heading_level(style: str) -> int:
    if style.lower() == "title":
        return 1
    m = re.match(r"heading\s*(\d)", style, flags=re.IGNORECASE)
    return min(6, int(m.group(1))) if m else 0


_BLOCKS = {"p", "li", "div", "section", "article", "tr", "br", "pre", "blockquote", "dd", "dt"}


def _check_html_depth(html: str) -> None:
    """Raise ExtractionError when the markup nests deeper than MAX_HTML_DEPTH elements."""
    import lxml.etree
    import lxml.html

    parser = lxml.html.HTMLParser(huge_tree=False)
    try:
        lxml.html.document_fromstring(html.encode("utf-8", "surrogatepass"), parser=parser)
    except (lxml.etree.ParserError, ValueError):
        return  # an empty or odd document: the main parser decides what it holds
    if any(e.type_name == "ERR_RESOURCE_LIMIT" for e in parser.error_log):
        raise ExtractionError(
            f"the HTML is nested more than {MAX_HTML_DEPTH} levels deep; refusing to parse it"
        )


def _html_text(html: str) -> str:
    from bs4 import BeautifulSoup

    _check_html_depth(html)
    soup = BeautifulSoup(html, "lxml")
    for tag in soup(["script", "style", "noscript", "template", "svg", "head", "iframe"]):
        tag.decompose()
    for level in range(1, 7):
        for tag in soup.find_all(f"h{level}"):
            title = " ".join(tag.get_text(" ").split())
            tag.replace_with(f"\n\n{'#' * level} {title}\n\n" if title else "")
    for tag in soup.find_all(_BLOCKS):
        tag.insert_before("\n")
        tag.insert_after("\n")
    return soup.get_text()
