"""The request cache shared by processes: completed responses are never requested again.

SQLite (one file in WAL mode) on one host, the local default; a PostgreSQL table when the Dagster instance is on
PostgreSQL (the Celery and Kubernetes profiles), where workers on many nodes share it: SQLite's WAL needs memory
shared on one host and is not safe on a network file system. `open_cache` picks one.
"""

from __future__ import annotations

import os
import random
import re
import socket
import sqlite3
import time
from pathlib import Path

from thinkforge.generation.types import Completion

SCHEMA = """
CREATE TABLE IF NOT EXISTS completions (
  key TEXT PRIMARY KEY,
  model TEXT NOT NULL,
  text TEXT NOT NULL,
  prompt_tokens INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  finish_reason TEXT,
  created REAL NOT NULL
)
"""

PG_TABLE = "thinkforge_request_cache"
PG_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {PG_TABLE} (
  key TEXT PRIMARY KEY,
  model TEXT NOT NULL,
  text BYTEA NOT NULL,
  prompt_tokens INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  finish_reason TEXT,
  created DOUBLE PRECISION NOT NULL,
  created_by TEXT NOT NULL
)
"""
PG_BATCH = 1000  # keys per SELECT … = ANY(%s) and rows per INSERT … VALUES page


class RequestCache:
    """One SQLite file in WAL mode; each write is its own short transaction, so a killed run keeps what it finished."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._con = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        self._con.execute("PRAGMA busy_timeout=60000")
        for attempt in range(100):  # switching to WAL can answer "locked" at once while another process sets up
            try:
                self._con.execute("PRAGMA journal_mode=WAL")
                self._con.execute(SCHEMA)
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == 99:
                    raise
                time.sleep(0.05 + random.random() * 0.1)
        self._con.execute("PRAGMA synchronous=NORMAL")

    def get_many(self, keys: list[str]) -> dict[str, Completion]:
        found: dict[str, Completion] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._con.execute(
                f"SELECT key, text, prompt_tokens, completion_tokens, finish_reason FROM completions WHERE key IN ({marks})",
                chunk,
            ).fetchall()
            found.update(_completions(rows))
        return found

    def put_many(self, model: str, items: list[tuple[str, Completion]]) -> None:
        rows = [
            (k, model, c.text, c.prompt_tokens, c.completion_tokens, c.finish_reason, time.time())
            for k, c in items
            if c.ok
        ]
        if rows:
            with self._con:  # one transaction
                self._con.execute("BEGIN IMMEDIATE")
                self._con.executemany("INSERT OR REPLACE INTO completions VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    def __len__(self) -> int:
        return self._con.execute("SELECT count(*) FROM completions").fetchone()[0]

    def close(self) -> None:
        self._con.close()


class PostgresRequestCache:
    """One table (`thinkforge_request_cache`) in PostgreSQL, keyed as the SQLite cache, read and written by every node.

    Look-ups are batched (`key = ANY(...)`), inserts are one transaction per call with `ON CONFLICT DO NOTHING` (two
    workers that answered the same request keep the first answer), so a killed run keeps what it finished.
    `created_by` records the host and process that produced each completion. Texts are stored as UTF-8 bytes:
    PostgreSQL's TEXT refuses NUL characters, which a model may emit.
    """

    def __init__(self, url: str):
        import psycopg2

        self._con = psycopg2.connect(libpq_url(url), connect_timeout=30, application_name="thinkforge request cache")
        self.created_by = f"{socket.gethostname()}:{os.getpid()}"
        with self._con, self._con.cursor() as cur:  # one transaction; the lock serializes concurrent set-ups
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (PG_TABLE,))
            cur.execute(PG_SCHEMA)

    def get_many(self, keys: list[str]) -> dict[str, Completion]:
        found: dict[str, Completion] = {}
        with self._con, self._con.cursor() as cur:
            for start in range(0, len(keys), PG_BATCH):
                cur.execute(
                    f"SELECT key, text, prompt_tokens, completion_tokens, finish_reason FROM {PG_TABLE} "
                    "WHERE key = ANY(%s)",
                    (keys[start : start + PG_BATCH],),
                )
                found.update(_completions((k, bytes(t).decode(), *rest) for k, t, *rest in cur.fetchall()))
        return found

    def put_many(self, model: str, items: list[tuple[str, Completion]]) -> None:
        from psycopg2.extras import execute_values

        now = time.time()
        rows = [
            (k, model, c.text.encode(), c.prompt_tokens, c.completion_tokens, c.finish_reason, now, self.created_by)
            for k, c in items
            if c.ok
        ]
        if rows:
            with self._con, self._con.cursor() as cur:  # one transaction
                execute_values(
                    cur, f"INSERT INTO {PG_TABLE} VALUES %s ON CONFLICT (key) DO NOTHING", rows, page_size=PG_BATCH
                )

    def __len__(self) -> int:
        with self._con, self._con.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {PG_TABLE}")
            return cur.fetchone()[0]

    def close(self) -> None:
        self._con.close()


def _completions(rows) -> dict[str, Completion]:
    return {
        key: Completion(text=text, prompt_tokens=pt, completion_tokens=ct, finish_reason=fr, cached=True)
        for key, text, pt, ct, fr in rows
    }


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL (`postgresql+psycopg2://…`, as Dagster's instance config takes it) as libpq reads it."""
    return re.sub(r"^postgres(?:ql)?(?:\+\w+)?://", "postgresql://", url)


def open_cache(folder: Path, postgres_url: str | None = None) -> RequestCache | PostgresRequestCache:
    """The PostgreSQL cache when `postgres_url` is set (the instance's database), else `folder`/requests.sqlite."""
    if postgres_url:
        return PostgresRequestCache(postgres_url)
    return RequestCache(Path(folder) / "requests.sqlite")
