"""Bad input never stops the pool and is never lost; configuration errors say what to fix."""

import gzip
import json

import pytest

from tests.conftest import write_jsonl, write_sources
from thinkforge import collect
from thinkforge.collect import ConfigError


def collect_one(tmp_path, entry, domain="chat", **top):
    return collect.collect(collect.load(write_sources(tmp_path / "s.yaml", [entry], **top)), domain)


def test_each_bad_row_is_quarantined_with_source_line_and_field(tmp_path):
    good = {"problem": "Name a primary color.", "answer": "red"}
    src = write_jsonl(
        tmp_path / "in.jsonl",
        [good],
        extra_lines=[
            b'{"problem": "unterminated',  # line 2: not JSON
            b'{"answer": "no problem field"}',  # line 3: missing field
            b'{"problem": ["a", "list"]}',  # line 4: wrong type
            b'{"problem": "caf\xe9 au lait"}',  # line 5: latin-1 byte, not UTF-8
            b'{"problem": "   "}',  # line 6: empty problem
            b'{"problem": "' + b"x" * 500 + b'"}',  # line 7: oversized
            b"[1, 2, 3]",  # line 8: not an object
        ],
    )
    out = collect_one(
        tmp_path, {"name": "mixed", "format": "jsonl", "path": str(src), "domain": "chat", "max_row_bytes": 200}
    )
    assert out.kept.height == 1 and out.rejects.height == 7 and out.conserved
    rejects = {r["source_row"]: r for r in out.rejects.to_dicts()}
    expected = {
        2: "bad_json",
        3: "missing_field",
        4: "bad_field",
        5: "bad_encoding",
        6: "empty_problem",
        7: "oversized",
        8: "not_an_object",
    }
    assert {n: r["reason"] for n, r in rejects.items()} == expected
    for number, row in rejects.items():
        assert f"source 'mixed' file {src} line {number}" in row["detail"]
        assert row["raw"]  # the original text is kept
    assert "field 'problem'" in rejects[3]["detail"] and "is missing" in rejects[3]["detail"]
    assert "expected a string, got list" in rejects[4]["detail"]
    assert "\\xe9" in rejects[5]["raw"]


def test_bad_rows_in_gz_csv_and_json_files(tmp_path):
    gz = tmp_path / "a.jsonl.gz"
    with gzip.open(gz, "wb") as fh:
        fh.write(b'{"question": "q1", "answer": "1"}\nnot json\n')
    out = collect_one(tmp_path, {"name": "om", "format": "orca_math", "path": str(gz)}, "math")
    assert (out.kept.height, out.rejects["reason"].to_list()) == (1, ["bad_json"])

    csv_path = tmp_path / "b.csv"
    csv_path.write_bytes(b"question,answer\nWhat is up?,sky\n\xff\xfe bad,x\n")
    out = collect_one(
        tmp_path,
        {"name": "c", "format": "csv", "path": str(csv_path), "domain": "chat", "columns": {"problem": "question"}},
    )
    assert out.kept.height == 1 and out.rejects["reason"].to_list() == ["bad_encoding"]
    assert "row 2" in out.rejects["detail"][0] and "'question'" in out.rejects["detail"][0]

    js = tmp_path / "c.json"
    js.write_text(json.dumps([{"question": "fine?", "response": "yes"}, {"question": 5}]))
    out = collect_one(tmp_path, {"name": "j", "format": "orca", "path": str(js), "domain": "chat"})
    assert out.kept.height == 1 and out.rejects["reason"].to_list() == ["bad_field"]


def test_unknown_format_is_a_configuration_error(tmp_path):
    src = write_jsonl(tmp_path / "x.jsonl", [{"problem": "p"}])
    with pytest.raises(
        ConfigError, match=r"sources\[0\] \(x\)\.format: unknown format 'alpaca'; use one of: apps, champ"
    ):
        collect.load(write_sources(tmp_path / "s.yaml", [{"name": "x", "format": "alpaca", "path": str(src)}]))


def test_missing_file_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigError, match=r"path 'nowhere/data.jsonl' does not exist"):
        collect.load(
            write_sources(tmp_path / "s.yaml", [{"name": "x", "format": "jsonl", "path": "nowhere/data.jsonl"}])
        )


@pytest.mark.parametrize(
    "entry,message",
    [
        ({"format": "jsonl", "path": "x"}, r"sources\[0\]\.name: field required"),
        ({"name": "x", "format": "jsonl"}, r"sources\[0\] \(x\)\.path: required for format 'jsonl'"),
        ({"name": "x", "format": "jsonl", "path": "x.jsonl", "domain": "poetry"}, r"\.domain: 'poetry' is not one of"),
        (
            {"name": "x", "format": "jsonl", "path": "x.jsonl", "limit": -1},
            r"sources\[0\]\.limit: input should be greater than or equal to 0",
        ),
    ],
)
def test_entry_validation(tmp_path, entry, message):
    write_jsonl(tmp_path / "x.jsonl", [{"problem": "p"}])
    with pytest.raises(ConfigError, match=message):
        collect.load(write_sources(tmp_path / "s.yaml", [entry]))


def test_relative_paths_and_globs_resolve_against_the_yaml_folder(tmp_path):
    for i in range(3):
        write_jsonl(tmp_path / "data" / f"part-{i}.jsonl", [{"question": f"What is {i}+{i}?", "answer": str(2 * i)}])
    out = collect_one(tmp_path, {"name": "om", "format": "orca_math", "path": "data/part-*.jsonl"}, "math")
    assert out.kept["reference_answer"].to_list() == ["0", "2", "4"]
    out = collect_one(tmp_path, {"name": "om", "format": "orca_math", "path": "data", "limit": 2}, "math")
    assert out.kept.height == 2
