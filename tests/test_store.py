import sqlite3

import pytest

from core.store import SCHEMA_VERSION, Workspace, WorkspaceError


def test_create_makes_layout_and_schema(tmp_path):
    ws = Workspace.create(tmp_path / "w")
    for sub in ("files", "runs", "exports"):
        assert (ws.root / sub).is_dir()
    with ws.connect() as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"documents", "chunks", "pairs", "pair_positives", "jobs", "runs"} <= tables


def test_open_refuses_non_workspace_and_file(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(WorkspaceError, match="not a folder"):
        Workspace.create(tmp_path / "afile")
    with pytest.raises(WorkspaceError, match="not a workspace"):
        Workspace.open(tmp_path)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "other.txt").write_text("x")
    with pytest.raises(WorkspaceError, match="non-empty folder"):
        Workspace.create(tmp_path / "full")


def test_open_refuses_newer_schema(tmp_path):
    ws = Workspace.create(tmp_path / "w")
    conn = sqlite3.connect(ws.db_path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(WorkspaceError, match="newer"):
        Workspace.open(ws.root)


def test_transaction_rolls_back(ws):
    with pytest.raises(RuntimeError), ws.transaction() as conn:
        conn.execute(
            "INSERT INTO documents (name, stored_path, sha256, format, size_bytes, text,"
            " created_at) VALUES ('a', 'files/a', 'h', 'txt', 1, 't', 'now')"
        )
        raise RuntimeError("boom")
    assert ws.counts()["documents"] == 0


def test_a_v2_workspace_migrates_its_generation_log_to_per_writer_rows(tmp_path):
    from core.store import MIGRATIONS, _split_sql, migrate

    db = tmp_path / "studio.db"
    conn = sqlite3.connect(db)
    for version in (0, 1):
        for statement in _split_sql(MIGRATIONS[version]):
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 2")
    conn.execute(
        "INSERT INTO documents (id, name, stored_path, sha256, format, size_bytes, text,"
        " created_at) VALUES (1, 'a.txt', 'files/a.txt', 'h', 'txt', 1, 'x', 't')"
    )
    conn.execute(
        "INSERT INTO chunks (id, document_id, ord, text, start_char, end_char, n_tokens)"
        " VALUES (1, 1, 0, 'x', 0, 1, 3)"
    )
    conn.executemany(
        "INSERT INTO generation_log (chunk_id, kind, status, at) VALUES (1, ?, 'done', 't')",
        [("ict",), ("simple",)],
    )
    conn.commit()
    conn.row_factory = sqlite3.Row
    assert migrate(conn) == SCHEMA_VERSION
    rows = {r["kind"]: r["writer"] for r in conn.execute("SELECT kind, writer FROM generation_log")}
    assert rows == {"ict": "pseudo", "simple": ""}
    conn.close()
