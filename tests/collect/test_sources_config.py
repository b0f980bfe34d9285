"""The sources YAML is validated by a model that forbids unknown keys and names the location of each mistake."""

import pytest

from tests.conftest import write_jsonl, write_sources
from thinkforge.collect.adapters import FORMATS as ADAPTERS
from thinkforge.collect.config import ConfigError, load_sources
from thinkforge.dedup.normalize import exact_key


@pytest.fixture
def data(tmp_path):
    return write_jsonl(tmp_path / "q.jsonl", [{"problem": "What is 2 + 2?"}])


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"colums": {"problem": "q"}}, "sources[0].colums: extra inputs are not permitted"),
        ({"limt": 3}, "sources[0].limt: extra inputs are not permitted"),
        ({"limit": "lots"}, "sources[0].limit: "),
        ({"limit": -1}, "sources[0].limit: "),
        ({"domain": "biology"}, "sources[0] (q).domain: 'biology' is not one of"),
        ({"format": "nope"}, "sources[0] (q).format: unknown format"),
    ],
)
def test_bad_entries_name_the_location(tmp_path, data, entry, message):
    path = write_sources(tmp_path / "s.yaml", [{"name": "q", "format": "jsonl", "path": str(data), **entry}])
    with pytest.raises(ConfigError) as err:
        load_sources(path, set(ADAPTERS))
    assert message in str(err.value)


def test_bad_top_level_values_are_configuration_errors(tmp_path, data):
    path = write_sources(
        tmp_path / "s.yaml", [{"name": "q", "format": "jsonl", "path": str(data)}], max_row_bytes="lots"
    )
    with pytest.raises(ConfigError, match="max_row_bytes"):
        load_sources(path, set(ADAPTERS))
    path = write_sources(tmp_path / "t.yaml", [{"name": "q", "format": "jsonl", "path": str(data)}], max_rows_bytes=10)
    with pytest.raises(ConfigError, match="max_rows_bytes: extra inputs"):
        load_sources(path, set(ADAPTERS))


def test_a_good_file_loads(tmp_path, data):
    path = write_sources(
        tmp_path / "s.yaml",
        [{"name": "q", "format": "jsonl", "path": str(data), "limit": 1, "columns": {"problem": "problem"}}],
        max_row_bytes=5000,
    )
    (spec,) = load_sources(path, set(ADAPTERS))
    assert spec.limit == 1 and spec.max_row_bytes == 5000 and spec.domain == "auto"


def test_exact_dedup_folds_unicode_compatibility_forms():
    assert exact_key("Solve ２x − 3 = 5.") == exact_key("Solve 2x - 3 = 5.")
    assert exact_key("Solve 2x - 3 = 5.") != exact_key("Solve 2x - 3 = 6.")
