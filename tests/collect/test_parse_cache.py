"""Source files read before are parsed again only past where that read ended, with the same pool as a fresh read."""

import json
import shutil

import polars as pl

from thinkforge.collect.adapters import FORMATS
from thinkforge.collect.config import load_sources
from thinkforge.collect.pool import collect


def _write(path, problems, newline_at_end=True):
    lines = [json.dumps({"question": p, "answer": str(len(p))}) for p in problems]
    path.write_text("\n".join(lines) + ("\n" if newline_at_end else ""), encoding="utf-8")


def _append(path, text):
    with path.open("a", encoding="utf-8") as f:
        f.write(text)


def _specs(tmp_path, source="pool.jsonl", fmt="orca_math"):
    (tmp_path / "sources.yaml").write_text(
        f"sources:\n  - {{name: gen, format: {fmt}, path: {source}, domain: math}}\n", encoding="utf-8"
    )
    return load_sources(tmp_path / "sources.yaml", set(FORMATS))


def _collect(specs):
    lines = []
    out = collect(specs, "math", log=lines.append)
    parsed = [int(line.split(", ")[1].split()[0]) for line in lines if "parsed now" in line]
    return out, sum(parsed)


def _fresh(specs, home):
    shutil.rmtree(home / "cache" / "collect", ignore_errors=True)
    return _collect(specs)[0]


def _same(a, b):
    assert a.kept.equals(b.kept) and a.rejects.equals(b.rejects)


def test_appended_lines_are_the_only_ones_parsed_and_the_pool_equals_a_fresh_read(home, tmp_path):
    source = tmp_path / "pool.jsonl"
    _write(source, [f"What is {i} + {i}?" for i in range(50)] + ["What is 1 + 1?"])  # one repeat
    specs = _specs(tmp_path)
    first, parsed = _collect(specs)
    assert parsed == 51 and first.kept.height == 51
    again, parsed = _collect(specs)
    assert parsed == 0
    _same(first, again)
    _append(source, "not json\n" + json.dumps({"question": "What is 1 + 1?", "answer": "2"}) + "\n")
    grown, parsed = _collect(specs)
    assert parsed == 2  # the two appended lines, nothing else
    assert grown.kept.height == 52 and grown.rejects["source_row"].to_list() == [52]
    assert grown.kept["id"].n_unique() == 52  # a third occurrence is a third id
    assert grown.kept["id"].head(51).equals(first.kept["id"])  # earlier ids do not move
    _same(grown, _fresh(specs, home))


def test_an_edited_or_truncated_file_is_parsed_again(home, tmp_path):
    source = tmp_path / "pool.jsonl"
    _write(source, [f"Compute {i} times 3." for i in range(20)])
    specs = _specs(tmp_path)
    _collect(specs)
    _write(source, ["Compute 0 times 4."] + [f"Compute {i} times 3." for i in range(1, 25)])  # line 1 edited
    edited, parsed = _collect(specs)
    assert parsed == 25 and edited.kept["problem"][0] == "Compute 0 times 4."
    _same(edited, _fresh(specs, home))
    _write(source, [f"Compute {i} times 3." for i in range(5)])  # shorter than the cached read
    truncated, parsed = _collect(specs)
    assert parsed == 5 and truncated.kept.height == 5


def test_a_last_line_without_its_newline_is_read_but_not_cached(home, tmp_path):
    source = tmp_path / "pool.jsonl"
    _write(source, ["First problem: 2 + 3?", "Second problem: 4 + 5?"], newline_at_end=False)
    specs = _specs(tmp_path)
    first, _ = _collect(specs)
    assert first.kept["problem"].to_list() == ["First problem: 2 + 3?", "Second problem: 4 + 5?"]
    # the writer had not finished: the last line is rewritten in place, then a new one follows
    text = source.read_text(encoding="utf-8")
    source.write_text(text[: text.rindex("\n") + 1], encoding="utf-8")
    _append(source, json.dumps({"question": "Second problem: 4 + 6?", "answer": "10"}) + "\n")
    _append(source, json.dumps({"question": "Third problem: 7 + 1?", "answer": "8"}) + "\n")
    later, parsed = _collect(specs)
    assert parsed == 2
    assert later.kept["problem"].to_list() == [
        "First problem: 2 + 3?",
        "Second problem: 4 + 6?",
        "Third problem: 7 + 1?",
    ]
    _same(later, _fresh(specs, home))


def test_an_unchanged_parquet_file_is_not_parsed_again_and_a_changed_one_is(home, tmp_path):
    source = tmp_path / "pool.parquet"
    pl.DataFrame({"question": [f"Find {i} squared." for i in range(30)]}).write_parquet(source)
    specs = _specs(tmp_path, "pool.parquet")
    first, parsed = _collect(specs)
    assert parsed == 30
    again, parsed = _collect(specs)
    assert parsed == 0
    _same(first, again)
    pl.DataFrame({"question": [f"Find {i} cubed." for i in range(31)]}).write_parquet(source)
    changed, parsed = _collect(specs)
    assert parsed == 31 and changed.kept["problem"][0] == "Find 0 cubed."


def test_other_source_settings_parse_the_file_again(home, tmp_path):
    source = tmp_path / "pool.jsonl"
    _write(source, [f"How many legs do {i} spiders have?" for i in range(10)])
    _collect(_specs(tmp_path))
    (tmp_path / "sources.yaml").write_text(
        "max_row_bytes: 60\nsources:\n  - {name: gen, format: orca_math, path: pool.jsonl, domain: math}\n",
        encoding="utf-8",
    )
    out, parsed = _collect(load_sources(tmp_path / "sources.yaml", set(FORMATS)))
    assert parsed == 10 and out.rejects.height == 10 and set(out.rejects["reason"]) == {"oversized"}
