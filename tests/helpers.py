"""Real small documents, seeded workspace rows, a free local port and a fresh Python process,
made on the fly for tests."""

from __future__ import annotations

import io
import socket
import subprocess
import sys

from core.chunking import Chunk
from core.documents import insert_chunks, insert_document
from core.store import Workspace, now_iso


def make_pdf(paragraphs: list[str], headings: bool = True) -> bytes:
    """A real text-layer PDF made with fpdf2."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    for i, para in enumerate(paragraphs):
        if headings:
            pdf.set_font("helvetica", "B", 14)
            pdf.multi_cell(0, 8, f"{i + 1} Section {i + 1}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("helvetica", size=11)
        pdf.multi_cell(0, 6, para, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def make_docx(sections: list[tuple[str, str]]) -> bytes:
    """A real .docx with Heading 1 styles, made with python-docx."""
    import docx

    document = docx.Document()
    for heading, body in sections:
        document.add_heading(heading, level=1)
        document.add_paragraph(body)
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


LOREM = (
    "Students must submit the weekly laboratory report before Friday noon. Late reports lose "
    "ten percent of the grade per day. The final project is worth forty percent of the course "
    "grade and is presented in the last week of term. Office hours are held on Tuesdays."
)


def page_app(ws, page_file: str, timeout_s: float = 60):
    """An AppTest of `pages/<page_file>` bound to the workspace `ws` (not yet run)."""
    from streamlit.testing.v1 import AppTest

    from tests.conftest import REPO

    at = AppTest.from_file(str(REPO / "pages" / page_file), default_timeout=timeout_s)
    at.session_state["workspace_path"] = str(ws.root)
    return at


def tiny_documents(folder, words: int = 250) -> list:
    """Three small real documents (the opening paragraphs, about `words` words each, of three
    demo chapters) written as .md files into `folder`: the smallest workspace that holds out a
    test document, so the whole pipeline runs in a minute or two on a CPU."""
    from pathlib import Path

    from core.demo import demo_paths

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for src in demo_paths()[1:]:
        kept: list[str] = []
        for line in src.read_text().splitlines():
            kept.append(line)
            if sum(len(x.split()) for x in kept) >= words:
                break
        path = folder / src.name
        path.write_text("\n".join(kept) + "\n")
        out.append(path)
    return out


def seed_two_documents(ws: Workspace) -> list[int]:
    """Two documents (doc0.md, doc1.md) with two chunks each; returns the chunk ids in order."""
    return seed_documents(ws, 2, 2)


def seed_documents(ws: Workspace, n_docs: int, chunks_per_doc: int) -> list[int]:
    """`n_docs` documents (doc0.md, doc1.md, ...) with `chunks_per_doc` chunks each; returns
    the chunk ids in order."""
    with ws.transaction() as conn:
        for d in range(n_docs):
            doc = insert_document(
                conn,
                name=f"doc{d}.md",
                stored_path="",
                sha256=f"h{d}",
                fmt="md",
                size_bytes=10,
                text="text",
            )
            insert_chunks(
                conn,
                doc,
                [Chunk(i, f"chunk {d}-{i} text", "", 0, 5, 4) for i in range(chunks_per_doc)],
            )
        return [r[0] for r in conn.execute("SELECT id FROM chunks ORDER BY id")]


def seed_pending_pairs(ws: Workspace) -> list[int]:
    """`seed_two_documents`, then four pending pairs with judge scores and one dropped pair."""
    chunk_ids = seed_two_documents(ws)
    with ws.transaction() as conn:
        now = now_iso()
        for i, score in enumerate([4.5, 3.2, 2.0, None]):
            cur = conn.execute(
                "INSERT INTO pairs (query, original_query, kind, origin, status, reason,"
                " judge_score, created_at, updated_at) VALUES (?, ?, ?, 'test', ?, 'kept', ?, ?, ?)",
                (
                    f"question {i}?",
                    f"question {i}?",
                    "simple" if i < 3 else "ict",
                    "pending",
                    score,
                    now,
                    now,
                ),
            )
            conn.execute("INSERT INTO pair_positives VALUES (?, ?)", (cur.lastrowid, chunk_ids[i]))
        cur = conn.execute(
            "INSERT INTO pairs (query, original_query, kind, origin, status, reason, created_at,"
            " updated_at) VALUES ('junk?', 'junk?', 'simple', 'test', 'dropped',"
            " 'junk: refusal', ?, ?)",
            (now, now),
        )
        conn.execute("INSERT INTO pair_positives VALUES (?, ?)", (cur.lastrowid, chunk_ids[0]))
    return chunk_ids


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_python(code: str, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
    """`python -c CODE ARGS` in a fresh process from the repository root, output captured as
    text (a stand-in for another process of the app, or a process to kill)."""
    from tests.conftest import REPO

    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def evaluation_payload(ndcg: dict[str, float], n: int = 60, base_recall10: float = 0.9) -> dict:
    """An evaluation report payload (`core.evaluation.report.build_payload`'s shape) scoring
    the retrievers `ndcg` names: "base", "bm25", "base+bm25", a run id, "RUN+bm25"."""
    models = []
    for label, score in ndcg.items():
        run_id = None if label in ("base", "bm25", "base+bm25") else label.split("+")[0]
        kind = "bm25" if label == "bm25" else ("hybrid" if label.endswith("+bm25") else "dense")
        recall10 = base_recall10 if label == "base" else min(1.0, score + 0.2)
        metrics = {"NDCG@10": score, "Recall@3": score + 0.01, "Recall@10": recall10}
        models.append(
            {
                "label": label,
                "kind": kind,
                "run_id": run_id,
                "model": label,
                "weight": 0.5 if kind == "hybrid" else None,
                "seconds": 1.0,
                "metrics": {**metrics, "MRR@10": score},
            }
        )
    return {
        "id": "eval-20261205-000000-abcdef",
        "created_at": now_iso(),
        "dataset": {"name": "beir:questions:test", "queries": n, "documents": 43},
        "config": {"k_values": [1, 3, 5, 10]},
        "models": models,
        "comparison": None,
        "reference_comparison": None,
    }
