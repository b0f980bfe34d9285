"""Row-level lineage: find a row anywhere in the warehouse and walk its parents back to the raw source row.

`trace` walks level by level with an id index per stored Parquet file (kept rows and rejects of every asset):
`$THINKFORGE_HOME/index/lineage/<asset>/<partition>.<inode>-<mtime>-<size>.parquet` holds (id, parent_ids, row number)
sorted by id in small row groups, built on first use and rebuilt when its data file changes. A level is one
DuckDB query over the indexes that reads only the row groups whose id range holds a wanted id; the full rows
are then read by row number from the data files that hold them. Without write access to the index folder the
data files are searched directly (DuckDB with a filter on id).

`render` turns a trace into markdown, shared by the `thinkforge lineage` command (plain text in a terminal)
and the `trace_row` job (markdown in the web UI): for each stage, its role in the pipeline and every judgment it
recorded about the row, each labelled — source information, dedup, selection judgments (difficulty, quality,
language, category and where each came from), rule verdicts, correctness, judge and reward scores, pass rates
(whose, over how many samples), evaluation verdicts and reject reasons — then any other field the stage stored.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from thinkforge import paths, warehouse
from thinkforge.columns import COLUMNS, GROUPS, LABELS, STAGE_LABELS

INDEX_ROW_GROUP = 8192  # rows per row group of an id index: a look-up by id reads one of them
# What each stage is, in one line (a stage not listed is shown by its asset name).
STAGES = {
    "raw_problems": "the raw pool: one row read from a source file (collect)",
    "deduped_problems": "decontamination against the eval sets, exact and near-duplicate removal (curate)",
    "selected_problems": "selection: reference / tests, language, quality, difficulty and category (curate)",
    "distilled_responses": "a candidate response: shipped with the source or sampled from the teacher (distill)",
    "verified_responses": "rejection sampling: rule verdicts, correctness, LLM-judge and reward scores (distill)",
    "checklists": "the problem's dynamic checklist (refine)",
    "refined_solutions": "the solution after critique and revision rounds (refine)",
    "cot_sft_data": "a reconstructed chain of thought for the final solution (refine)",
    "sft_dataset": "a training example of the SFT dataset (refine)",
    "policy_samples": "answers sampled from the policy for S²R trajectories (s2r)",
    "s2r_trajectories": "a self-verify / self-correct trajectory (s2r)",
    "step_sft_data": "step-wise SFT data (stepwise)",
    "eval_problems": "a held-out evaluation problem from the eval-sets YAML (evaluate)",
    "model_eval": "a checkpoint's answer to a held-out problem, verified (evaluate)",
}

# Columns that are content or identity, shown in the stage header (or not at all), never as judgments.
SHOWN = ("problem", "response", "messages")
HIDDEN = {"id", "parent_ids", "domain", "source", "source_file", "source_row", "problem_id", *SHOWN}


@dataclass
class Hit:
    asset: str
    partition: str
    run_id: str | None
    row: dict
    notes: dict[str, str] = field(default_factory=dict)  # column → a label computed from the warehouse

    @property
    def rejected(self) -> bool:
        return self.asset.endswith("_rejects")

    @property
    def stage(self) -> str:
        return self.asset.removesuffix("_rejects")

    def label(self, column: str) -> tuple[str, str]:
        """(group, label) of a column of this stage; unknown columns by their name's pattern, else "other"."""
        if column in self.notes:
            return LABELS.get(column, ("other", ""))[0], self.notes[column]
        known = STAGE_LABELS.get(self.stage, {}).get(column) or LABELS.get(column)
        if known:
            return known
        if column.startswith("verdict_"):
            return "rules", f"verdict: {column.removeprefix('verdict_')}"
        if column.startswith("score_"):
            return "judge", f"score: {column.removeprefix('score_')}"
        if column.startswith("pass_rate"):
            return "pass rate", column.replace("_", " ")
        if column.endswith("_source"):
            return "selection", f"where the {column.removesuffix('_source')} came from"
        return "other", COLUMNS.get(column, "")

    def judgments(self, inherited: dict | None = None) -> dict[str, list[tuple[str, object, str]]]:
        """group → [(column, value, label)] of every non-empty field but identity and content, leaving out the
        fields `inherited` holds with the same value (what the stage carried over from its parent)."""
        inherited = inherited or {}
        out: dict[str, list[tuple[str, object, str]]] = {}
        for column, value in self.row.items():
            if column in HIDDEN or value is None or value == [] or value == "":
                continue
            if column in inherited and inherited[column] == value:
                continue
            group, label = self.label(column)
            out.setdefault(group, []).append((column, value, label))
        return {g: out[g] for g in (*GROUPS, "other") if g in out}

    def verdicts(self) -> dict:
        """Every judgment column with a value (compatibility: column → value)."""
        return {c: v for items in self.judgments().values() for c, v, _ in items}


def _files(root: Path) -> list[Path]:
    base = paths.warehouse_dir(root)
    return sorted(base.glob("*/*.parquet")) if base.exists() else []


def _sql_list(files: list[Path]) -> str:
    return "[" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in files) + "]"


def index_dir(root: Path) -> Path:
    return root / "index" / "lineage"


def _id_index(con: duckdb.DuckDBPyConnection, root: Path, file: Path) -> Path | None:
    """The id index of one Parquet file: (id, parent_ids, row) sorted by id in small row groups, so a look-up by id
    reads one row group. Named after the data file's inode, mtime and size (the warehouse replaces a file on every
    write), so it is rebuilt when the file changes. None when the index cannot be written (a read-only warehouse):
    the data file is then searched directly."""
    stat = file.stat()
    folder = index_dir(root) / file.parent.name
    stem = file.name.removesuffix(".parquet")
    path = folder / f"{stem}.{stat.st_ino}-{stat.st_mtime_ns}-{stat.st_size}.parquet"
    if path.exists():
        return path
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{path.name}.{os.getpid()}.tmp"
        con.execute(
            f"COPY (SELECT CAST(id AS VARCHAR) AS id, CAST(parent_ids AS VARCHAR[]) AS parent_ids, "
            f"file_row_number AS row FROM read_parquet({_sql_list([file])}, "
            f"file_row_number = true) ORDER BY id) TO '{tmp}' (FORMAT parquet, ROW_GROUP_SIZE {INDEX_ROW_GROUP})"
        )
        os.replace(tmp, path)
        for stale in folder.glob(f"{stem}.*.parquet"):
            if stale != path:
                stale.unlink(missing_ok=True)
    except (OSError, duckdb.Error):
        return None
    return path


class _Locator:
    """Finds rows by id through the per-file id indexes: (id, parent_ids, data file, row number)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, root: Path):
        self.con = con
        self.indexed: dict[str, Path] = {}  # index file → data file
        self.direct: list[Path] = []  # data files without an index
        for file in _files(root):
            index = _id_index(con, root, file)
            if index is None:
                self.direct.append(file)
            else:
                self.indexed[str(index)] = file

    def locate(self, ids: set[str]) -> list[tuple[str, list, Path, int]]:
        out = []
        if not ids:
            return out
        wanted = "WHERE id IN (SELECT unnest(?::VARCHAR[]))"
        if self.indexed:
            sql = (
                f"SELECT id, parent_ids, row, filename FROM read_parquet({_sql_list(list(self.indexed))}, "
                f"filename = true) {wanted}"
            )
            for rid, parents, row, index in self.con.execute(sql, [sorted(ids)]).fetchall():
                out.append((rid, list(parents or []), self.indexed[index], row))
        if self.direct:
            sql = (
                f"SELECT id, parent_ids, file_row_number, filename FROM read_parquet({_sql_list(self.direct)}, "
                f"union_by_name = true, filename = true, file_row_number = true) {wanted}"
            )
            for rid, parents, row, file in self.con.execute(sql, [sorted(ids)]).fetchall():
                out.append((rid, list(parents or []), Path(file), row))
        return out

    def rows(self, file: Path, numbers: set[int]) -> list[dict]:
        """Full rows of a data file by row number (reads only the row groups that hold them)."""
        cur = self.con.execute(
            f"SELECT * FROM read_parquet({_sql_list([file])}, file_row_number = true) "
            "WHERE file_row_number IN (SELECT unnest(?::BIGINT[])) ORDER BY file_row_number",
            [sorted(numbers)],
        )
        names = [d[0] for d in cur.description]
        return [{k: v for k, v in zip(names, values) if k != "file_row_number"} for values in cur.fetchall()]


def _hit(root: Path, file: Path, row: dict) -> Hit:
    asset, partition = file.parent.name, file.name.removesuffix(".parquet")
    info = warehouse.read_info(root, asset.removesuffix("_rejects"), partition) or {}
    return Hit(asset, partition, info.get("run_id"), row)


def find(root: Path, row_id: str) -> list[Hit]:
    """Every place a row id is stored (an asset partition or its rejects)."""
    con = duckdb.connect()
    try:
        locator = _Locator(con, root)
        found = locator.locate({row_id})
        by_file: dict[Path, set[int]] = {}
        for _, _, file, number in found:
            by_file.setdefault(file, set()).add(number)
        return [_hit(root, f, row) for f in sorted(by_file) for row in locator.rows(f, by_file[f])]
    finally:
        con.close()


def trace(root: Path, row_id: str) -> list[tuple[int, Hit]]:
    """(depth, hit) for the row and all its ancestors in depth order: the row, its parents, their parents, …
    (each row once, at its nearest depth)."""
    con = duckdb.connect()
    try:
        locator = _Locator(con, root)
        parents: dict[str, list[str]] = {}
        by_file: dict[Path, set[int]] = {}
        frontier, seen = {row_id}, {row_id}
        while frontier:  # one indexed look-up per level of ancestry
            found = locator.locate(frontier)
            for rid, parent_ids, file, number in found:
                parents.setdefault(rid, parent_ids)
                by_file.setdefault(file, set()).add(number)
            frontier = {p for _, parent_ids, _, _ in found for p in parent_ids} - seen
            seen |= frontier
        hits: dict[str, list[Hit]] = {}
        for file in sorted(by_file):
            for row in locator.rows(file, by_file[file]):
                hits.setdefault(row["id"], []).append(_hit(root, file, row))
        out: list[tuple[int, Hit]] = []
        visited: set[str] = set()
        level, depth = [row_id], 0
        while level:  # level by level: every parent before any grandparent
            following = []
            for rid in level:
                if rid in visited or rid not in hits:
                    continue
                visited.add(rid)
                out += [(depth, hit) for hit in hits[rid]]
                following += parents.get(rid, [])
            level, depth = following, depth + 1
        for _, hit in out:
            _annotate(con, root, hit)
        return out
    finally:
        con.close()


def _annotate(con: duckdb.DuckDBPyConnection, root: Path, hit: Hit) -> None:
    """Labels that need other rows: whose pass rate a response carries, and over how many samples."""
    row = hit.row
    if hit.stage != "verified_responses" or row.get("pass_rate") is None or not row.get("problem"):
        return
    files = [
        f
        for f in (
            warehouse.partition_path(root, "verified_responses", hit.partition),
            warehouse.partition_path(root, "verified_responses_rejects", hit.partition),
        )
        if f.exists()
    ]
    k, checked, correct, model = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE verdict_correct <> 'skip'), "
        f"count(*) FILTER (WHERE verdict_correct = 'correct'), any_value(model) "
        f"FROM read_parquet({_sql_list(files)}, union_by_name = true) WHERE problem = ? AND origin = 'teacher'",
        [row["problem"]],
    ).fetchone()
    whose = (
        "this response is one of them"
        if row.get("origin") == "teacher"
        else f"this response came with the source ({row.get('model') or 'unknown author'}), it is not one of them"
    )
    hit.notes["pass_rate"] = (
        f"teacher pass rate over K={k} samples of this problem: {correct} of {checked} checked teacher samples "
        f"correct (teacher {model}); {whose}"
    )


def _text(value, width: int | None) -> str:
    if isinstance(value, float):
        text = f"{value:.4g}"
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, default=str, ensure_ascii=False)
    text = " ".join(text.split())
    return text if width is None or len(text) <= width else text[: width - 1] + "…"


def render(chain: list[tuple[int, Hit]], escape: bool = False, width: int = 240) -> str:
    """Markdown of a trace: one section per row, from the row back to its raw source row.

    Judgments are shown in full; the problem, response and messages are cut at `width` characters.
    `escape`: write `<` and `>` as HTML entities (for the web UI's markdown, where `<think>` would be read as a tag).
    """
    esc = (lambda s: s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")) if escape else (lambda s: s)
    if not chain:
        return "row not found"
    first = chain[0][1]
    rows = {hit.row["id"]: hit.row for _, hit in chain}
    lines = [
        f"# Lineage of row {first.row['id']}",
        "",
        f"{len(rows)} rows in {len({h.stage for _, h in chain})} stages, from the row back to its raw source row. "
        "Each stage lists what it recorded about the row; fields a stage carried over unchanged from its parent "
        "are shown once, at the stage that set them.",
    ]
    for number, (depth, hit) in enumerate(chain, start=1):
        row = hit.row
        status = "REJECTED" if hit.rejected else "kept"
        parents = row.get("parent_ids") or []
        inherited = {k: v for p in parents if p in rows for k, v in rows[p].items()}
        lines += [
            "",
            f"## {number}. {hit.stage} [{status}]{' · ancestor level ' + str(depth) if depth else ''}",
            "",
            f"_{esc(STAGES.get(hit.stage, 'stage ' + hit.stage))}_",
            "",
            f"- row: {row['id']}  asset={hit.asset}  partition={hit.partition}  run={hit.run_id}  [{status}]",
            f"- domain: {row.get('domain')}  source: {esc(str(row.get('source')))}",
        ]
        if parents:
            lost = [p for p in parents if p not in rows]
            lines.append(
                f"- parents: {', '.join(parents)}"
                + (f" (not in the warehouse any more: {', '.join(lost)})" if lost else "")
            )
        else:
            lines.append(
                f"- raw source: {esc(str(row.get('source')))}  file={esc(str(row.get('source_file')))}  "
                f"row={row.get('source_row')}"
            )
        for column in SHOWN:
            if row.get(column) and (number == 1 or inherited.get(column) != row[column]):
                lines.append(f"- {column}: {esc(_text(row[column], width))}")
        for group, items in hit.judgments(inherited).items():
            lines += ["", f"**{group}**", ""]
            for column, value, label in items:
                text = esc(_text(value, None))
                lines.append(f"- {column}: {text}" + (f" — {esc(label)}" if label else ""))
    return "\n".join(lines)
