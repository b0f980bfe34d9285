"""SQLite request cache shared by processes: completed responses are never requested again."""

from __future__ import annotations

import random
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
            for key, text, pt, ct, fr in rows:
                found[key] = Completion(
                    text=text, prompt_tokens=pt, completion_tokens=ct, finish_reason=fr, cached=True
                )
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
