"""The workspace: a folder holding `studio.db` (SQLite), `files/` (uploaded originals),
`runs/<run-id>/` and `exports/` (docs/ARCHITECTURE.md, "Workspace layout").

The schema is versioned with SQLite's `user_version`; `MIGRATIONS[i]` upgrades a database
from version i to i+1, so a workspace made by an older release is upgraded on open.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

DB_NAME = "studio.db"

SCHEMA_V1 = """
CREATE TABLE documents (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,            -- sanitised original file name
    stored_path TEXT NOT NULL,            -- relative to the workspace folder
    sha256      TEXT NOT NULL UNIQUE,     -- of the original bytes: de-duplication key
    format      TEXT NOT NULL,            -- txt | md | pdf | docx | html
    size_bytes  INTEGER NOT NULL,
    text        TEXT NOT NULL,            -- extracted clean text, headings kept as markdown
    split       TEXT,                     -- train | validation | test (assigned by generation)
    created_at  TEXT NOT NULL
);
CREATE TABLE chunks (
    id            INTEGER PRIMARY KEY,
    document_id   INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ord           INTEGER NOT NULL,        -- position within the document, from 0
    text          TEXT NOT NULL,
    heading_path  TEXT NOT NULL DEFAULT '', -- "Part > Section > Subsection"
    start_char    INTEGER NOT NULL,        -- offsets into documents.text, end exclusive
    end_char      INTEGER NOT NULL,
    n_tokens      INTEGER NOT NULL,        -- under the chunking model's tokenizer, specials included
    UNIQUE (document_id, ord)
);
CREATE INDEX chunks_document ON chunks(document_id);

CREATE TABLE pairs (
    id              INTEGER PRIMARY KEY,
    query           TEXT NOT NULL,
    original_query  TEXT NOT NULL,         -- as generated or imported, before edits
    kind            TEXT NOT NULL,         -- simple | multi-hop | structural | contextual | ict | ...
    origin          TEXT NOT NULL DEFAULT '', -- provider/model, "manual", "import:<file>"
    status          TEXT NOT NULL DEFAULT 'pending', -- pending|accepted|rejected|edited|dropped
    reason          TEXT NOT NULL DEFAULT '', -- why kept or dropped by the filters
    judge_relevance REAL, judge_accuracy REAL, judge_clarity REAL,
    judge_score     REAL,                  -- mean of the three, 1-5 scale
    roundtrip_rank  INTEGER,               -- rank of the best positive for the query, from 1
    split           TEXT NOT NULL DEFAULT 'train',
    version         INTEGER NOT NULL DEFAULT 1, -- optimistic concurrency for edits
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX pairs_status ON pairs(status);
CREATE TABLE pair_positives (
    pair_id  INTEGER NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    chunk_id INTEGER NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
    PRIMARY KEY (pair_id, chunk_id)
);
CREATE INDEX pair_positives_chunk ON pair_positives(chunk_id);
CREATE TABLE pair_edits (
    id       INTEGER PRIMARY KEY,
    pair_id  INTEGER NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    field    TEXT NOT NULL,
    old      TEXT,
    new      TEXT,
    at       TEXT NOT NULL
);
CREATE TABLE generation_log (
    chunk_id  INTEGER NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
    kind      TEXT NOT NULL,
    status    TEXT NOT NULL,               -- done | error
    error     TEXT NOT NULL DEFAULT '',
    at        TEXT NOT NULL,
    PRIMARY KEY (chunk_id, kind)
);

CREATE TABLE minings (
    id          INTEGER PRIMARY KEY,
    created_at  TEXT NOT NULL,
    config      TEXT NOT NULL,             -- JSON
    stats       TEXT NOT NULL DEFAULT '{}' -- JSON
);
CREATE TABLE negatives (
    mining_id INTEGER NOT NULL REFERENCES minings(id) ON DELETE CASCADE,
    pair_id   INTEGER NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    chunk_id  INTEGER NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
    score     REAL NOT NULL,               -- cosine under the mining model
    rank      INTEGER NOT NULL,            -- rank among all chunks for the query, from 1
    PRIMARY KEY (mining_id, pair_id, chunk_id)
);
CREATE TABLE false_negatives (
    pair_id  INTEGER NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    chunk_id INTEGER NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
    action   TEXT NOT NULL,                -- positive | exclude
    at       TEXT NOT NULL,
    PRIMARY KEY (pair_id, chunk_id)
);

CREATE TABLE jobs (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,            -- generate | mine | train | evaluate | geometry | export
    status       TEXT NOT NULL,            -- queued | running | succeeded | failed | cancelled
    params       TEXT NOT NULL,            -- JSON, also written to the job folder
    run_id       TEXT,                     -- the run folder this job writes, if any
    pid          INTEGER,
    heartbeat_at REAL,                     -- unix seconds
    progress     REAL NOT NULL DEFAULT 0,  -- 0..1
    step         INTEGER NOT NULL DEFAULT 0,
    total        INTEGER NOT NULL DEFAULT 0,
    message      TEXT NOT NULL DEFAULT '',
    result       TEXT,                     -- JSON written by the job on success
    error        TEXT,
    created_at   TEXT NOT NULL,
    started_at   TEXT,
    finished_at  TEXT
);
CREATE INDEX jobs_status ON jobs(status);

CREATE TABLE runs (
    id          TEXT PRIMARY KEY,
    created_at  TEXT NOT NULL,
    base_model  TEXT NOT NULL,
    loss        TEXT NOT NULL,
    config      TEXT NOT NULL,             -- JSON
    status      TEXT NOT NULL,             -- dropped in v4 (core.runs derives it)
    model_path  TEXT,                      -- relative to the workspace
    metrics     TEXT NOT NULL DEFAULT '{}' -- JSON
);
CREATE TABLE evaluations (
    id          INTEGER PRIMARY KEY,
    created_at  TEXT NOT NULL,
    dataset     TEXT NOT NULL,
    models      TEXT NOT NULL,             -- JSON list of run ids / model names
    metrics     TEXT NOT NULL,             -- JSON
    report_path TEXT
);
"""

# MIGRATIONS[i] upgrades user_version i -> i + 1. Append, never edit a released entry.
MIGRATIONS: list[str] = [
    SCHEMA_V1,
    # v2: the positive text as trained when it differs from its chunk (inverse cloze with the
    # query sentence removed, core.generation.pseudo); NULL means the chunk's own text.
    "ALTER TABLE pairs ADD COLUMN positive_text TEXT;",
    # v3: generation resumes per (chunk, kind, writer), so a rerun with another writer (another
    # model) writes its questions; rows from before name no writer, except the
    # pseudo kinds, whose writer is always 'pseudo'. Chunks may carry their own split.
    """
    CREATE TABLE generation_log_v3 (
        chunk_id  INTEGER NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
        kind      TEXT NOT NULL,
        writer    TEXT NOT NULL DEFAULT '',   -- 'pseudo', 'local:MODEL', 'openai:MODEL'
        status    TEXT NOT NULL,              -- done | error
        error     TEXT NOT NULL DEFAULT '',
        at        TEXT NOT NULL,
        PRIMARY KEY (chunk_id, kind, writer)
    );
    INSERT INTO generation_log_v3 (chunk_id, kind, writer, status, error, at)
        SELECT chunk_id, kind,
               CASE WHEN kind IN ('ict', 'keywords', 'heading') THEN 'pseudo' ELSE '' END,
               status, error, at
        FROM generation_log;
    DROP TABLE generation_log;
    ALTER TABLE generation_log_v3 RENAME TO generation_log;
    -- A chunk's own split, for workspaces too small to hold out whole documents
    -- (core.splits); NULL means its document's split.
    ALTER TABLE chunks ADD COLUMN split TEXT;
    """,
    # v4: a run's status is derived (core.runs) from its model and the job writing it, named
    # by job_id: the newest job of the run, or of its split run for a final fit '<RUN>-all'.
    """
    ALTER TABLE runs ADD COLUMN job_id TEXT;
    UPDATE runs SET job_id = (
        SELECT jobs.id FROM jobs
        WHERE jobs.run_id = runs.id OR jobs.run_id || '-all' = runs.id
        ORDER BY jobs.created_at DESC, jobs.rowid DESC LIMIT 1
    );
    UPDATE runs SET model_path = NULL WHERE status != 'succeeded';
    ALTER TABLE runs DROP COLUMN status;
    """,
    # v5: questions imported from a related collection (core/related_questions.py) name where
    # they came from; their passage is `positive_text` (no workspace chunk). NULL: the
    # workspace's own pair.
    "ALTER TABLE pairs ADD COLUMN source TEXT;",
]
SCHEMA_VERSION = len(MIGRATIONS)


class WorkspaceError(Exception):
    """A workspace cannot be created or opened (the message says why)."""


def now_iso() -> str:
    """Current UTC time as ISO-8601 with seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def connect(db_path: Path) -> sqlite3.Connection:
    """Open the database with the settings every connection needs.

    WAL lets the Streamlit server, the CLI and job workers read while one writes;
    busy_timeout (ms) makes concurrent writers wait instead of failing.
    """
    conn = sqlite3.connect(db_path, timeout=30, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    """Apply pending migrations in one transaction each; return the resulting version."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise WorkspaceError(
            f"workspace schema version {version} is newer than this release ({SCHEMA_VERSION})"
        )
    for target in range(version, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _split_sql(MIGRATIONS[target]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {target + 1}")
            conn.execute("COMMIT")
        except Exception:
            conn.execute("ROLLBACK")
            raise
    return SCHEMA_VERSION


def _split_sql(script: str) -> list[str]:
    """Split a migration script into statements (executescript would commit implicitly)."""
    statements, current = [], []
    for line in script.splitlines():
        stripped = line.split("--", 1)[0]
        current.append(stripped)
        if stripped.rstrip().endswith(";") and sqlite3.complete_statement("\n".join(current)):
            statements.append("\n".join(current).strip())
            current = []
    rest = "\n".join(current).strip()
    if rest:
        statements.append(rest)
    return [s for s in statements if s.strip(" ;\n")]


@dataclass(frozen=True)
class Workspace:
    """A workspace folder. Create with `Workspace.create`, open with `Workspace.open`."""

    root: Path

    @property
    def db_path(self) -> Path:
        return self.root / DB_NAME

    @property
    def settings_file(self) -> Path:
        """The Settings page's values (core.settings)."""
        return self.root / "settings.json"

    @property
    def files_dir(self) -> Path:
        return self.root / "files"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def exports_dir(self) -> Path:
        return self.root / "exports"

    @property
    def jobs_dir(self) -> Path:
        return self.root / "jobs"

    def run_dir(self, run_id: str) -> Path:
        """A run's folder (its files: core.runs.RunFolder)."""
        return self.runs_dir / run_id

    def job_dir(self, job_id: str) -> Path:
        """The folder of a job that writes no run (core.jobs.job_folder)."""
        return self.jobs_dir / job_id

    @property
    def examples_file(self) -> Path:
        """The user's example questions (core.generation.examples)."""
        return self.root / "examples.json"

    @property
    def cache_dir(self) -> Path:
        """Corpus embeddings (core.embedding_cache)."""
        return self.root / "cache"

    def embeddings_file(self, space: str, model_key: str) -> Path:
        """The embeddings of one corpus (`space`) under one model (its cache key)."""
        return self.cache_dir / f"{space}-embeddings-{model_key}.npz"

    @property
    def minings_dir(self) -> Path:
        return self.root / "minings"

    def mining_positives_file(self, mining_id: int) -> Path:
        """Each pair's positives' cosines of one mining (core.mining)."""
        return self.minings_dir / f"{mining_id}-positives.json"

    @property
    def evaluations_dir(self) -> Path:
        return self.root / "evaluations"

    def evaluation_dir(self, evaluation_id: str) -> Path:
        """One evaluation's report.json, report.md and report.html (core.evaluation.report)."""
        return self.evaluations_dir / evaluation_id

    @property
    def merge_curves_dir(self) -> Path:
        """Merge curves (core.evaluation.merge_curve)."""
        return self.evaluations_dir / "merge-curves"

    def relative(self, path: Path) -> str:
        """`path`, inside the workspace, as stored in a table or a job's result: relative, so
        a moved workspace still finds it (`resolve` turns it back)."""
        return str(Path(path).relative_to(self.root))

    def resolve(self, relative: str | Path) -> Path:
        """A path stored relative to the workspace (`relative`), as a path."""
        return self.root / relative

    @classmethod
    def create(cls, root: str | Path) -> Workspace:
        """Create (or open, if it already is one) a workspace at `root`."""
        path = Path(root).expanduser().resolve()
        if path.exists() and not path.is_dir():
            raise WorkspaceError(f"{path} exists and is not a folder")
        if path.is_dir() and any(path.iterdir()) and not (path / DB_NAME).exists():
            raise WorkspaceError(f"{path} is a non-empty folder that is not a workspace")
        try:
            path.mkdir(parents=True, exist_ok=True)
            ws = cls(path)
            for sub in (ws.files_dir, ws.runs_dir, ws.exports_dir, ws.jobs_dir):
                sub.mkdir(exist_ok=True)
        except OSError as exc:
            raise WorkspaceError(f"cannot create workspace at {path}: {exc.strerror}") from exc
        with ws.connect() as conn:
            migrate(conn)
        return ws

    @classmethod
    def open(cls, root: str | Path) -> Workspace:
        """Open an existing workspace, upgrading its schema if needed."""
        path = Path(root).expanduser().resolve()
        if not path.is_dir():
            raise WorkspaceError(f"{path} is not a folder")
        if not (path / DB_NAME).is_file():
            raise WorkspaceError(f"{path} is not a workspace (no {DB_NAME}); run `embstudio init`")
        ws = cls(path)
        for sub in (ws.files_dir, ws.runs_dir, ws.exports_dir, ws.jobs_dir):
            try:
                sub.mkdir(exist_ok=True)
            except OSError as exc:
                raise WorkspaceError(f"{sub} must be a folder: {exc.strerror}") from exc
        try:
            with ws.connect() as conn:
                migrate(conn)
        except sqlite3.DatabaseError as exc:
            raise WorkspaceError(
                f"{ws.db_path} is damaged or not a studio database ({exc}); "
                "restore it from a backup or create a new workspace"
            ) from exc
        return ws

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in autocommit mode; use `transaction()` for multi-statement writes."""
        conn = connect(self.db_path)
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A connection inside BEGIN IMMEDIATE ... COMMIT (ROLLBACK on any exception)."""
        with self.connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def counts(self) -> dict[str, int]:
        """Counts shown on the home page: documents, chunks, pairs by status, negatives, runs."""
        with self.connect() as conn:
            out = {
                "documents": conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0],
                "chunks": conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0],
                "pairs": conn.execute("SELECT COUNT(*) FROM pairs").fetchone()[0],
                "negatives": conn.execute("SELECT COUNT(*) FROM negatives").fetchone()[0],
                "runs": conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0],
            }
            for row in conn.execute("SELECT status, COUNT(*) AS n FROM pairs GROUP BY status"):
                out[f"pairs_{row['status']}"] = row["n"]
        return out
