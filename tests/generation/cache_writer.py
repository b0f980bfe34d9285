"""A process that writes to a request cache, for the multi-process cache test: its own module so that a spawned
process imports only the cache (importing the test module would import Dagster and pytest in each of them)."""

from pathlib import Path

from thinkforge.generation.cache import RequestCache
from thinkforge.generation.types import Completion


def write_rows(path: str, worker: int, rows: int = 200) -> None:
    """`rows` completions under keys "<worker>-<i>", one transaction each."""
    cache = RequestCache(Path(path))
    for i in range(rows):
        cache.put_many("m", [(f"{worker}-{i}", Completion(text=f"t{i}", completion_tokens=1, finish_reason="stop"))])
