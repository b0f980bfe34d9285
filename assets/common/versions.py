"""code_version for an asset: a hash of the library code it runs and the prompt templates that code reads.

Derived, not listed: the asset module's imports within `thinkforge/` are followed statically (`ast`, every
`import`, also those inside functions, and the packages they pass through; through the asset-side helpers in
`assets/common/` and `resources/` too, whose own code is not hashed), and each library module reached adds the files
it reads: those of a template sub-folder it names (`templates/<stage>/`, all of its files), the top-level template
files whose names its string constants match (an f-string such as `f"distill_{domain}.txt"` matches every domain's),
and the files beside it that a string constant names (the sandbox's `check_harness.py`).
"""

from __future__ import annotations

import ast
import hashlib
import re
from pathlib import Path

import thinkforge

LIB = Path(thinkforge.__file__).resolve().parent
PACKAGE = "thinkforge"
# Asset-side helpers whose thinkforge imports count (the asset modules themselves are never followed).
HELPERS = ("assets.common", "resources")
REPO = Path(__file__).resolve().parents[2]
FILE_NAME = re.compile(r"[\w-]+(\.[\w-]+)+")  # a string that may name a file beside a module


def _module_file(name: str, lib: Path) -> Path | None:
    """The file of module `name`: thinkforge.x.y under `lib`, a helper module in the repository; None when it is not
    a module."""
    root = lib.parent if name.split(".")[0] == PACKAGE else REPO
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Names of the thinkforge modules (and the packages on their way) a module's code imports."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join([*package, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            names |= {base, *(f"{base}.{alias.name}" for alias in node.names)}
    inside = {n for n in names if n == PACKAGE or n.startswith(PACKAGE + ".")}
    helpers = {n for n in names if any(n == h or n.startswith(h + ".") for h in HELPERS)}
    return helpers | {".".join(n.split(".")[:i]) for n in inside for i in range(1, n.count(".") + 2)}


def _strings(tree: ast.AST) -> set[str]:
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def _string_patterns(tree: ast.AST) -> list[re.Pattern]:
    """Each string constant, and each f-string with its fields as wildcards, as a pattern for a file name."""
    patterns, in_fstring = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = [re.escape(v.value) if isinstance(v, ast.Constant) else "[^/]*" for v in node.values]
            patterns.append(re.compile("".join(parts)))
            in_fstring |= {id(v) for v in node.values}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in in_fstring:
            patterns.append(re.compile(re.escape(node.value)))
    return patterns


def _path_parts(node: ast.AST) -> list:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        return _path_parts(node.left) + _path_parts(node.right)
    if isinstance(node, ast.Name) and node.id == "TEMPLATES":  # thinkforge.rows.TEMPLATES, the templates folder
        return ["templates"]
    return [node.value if isinstance(node, ast.Constant) else None]


def _templates(tree: ast.AST, lib: Path) -> set[Path]:
    """The template files a module reads (see the module docstring)."""
    templates, files, patterns = lib / "templates", set(), None
    for node in ast.walk(tree):
        if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)):
            continue
        parts = _path_parts(node)
        if "templates" not in parts:
            continue
        after = parts[parts.index("templates") + 1 :]
        folder = templates / after[0] if after and isinstance(after[0], str) else templates
        if folder != templates and folder.is_dir():
            files |= {p for p in folder.rglob("*") if p.is_file()}
        else:
            patterns = patterns if patterns is not None else _string_patterns(tree)
            files |= {p for p in templates.iterdir() if p.is_file() and any(r.fullmatch(p.name) for r in patterns)}
    return files


def code_files(asset_module: str | Path, lib: Path = LIB) -> list[Path]:
    """The library files (code, templates, files read beside a module) an asset module runs: its thinkforge imports,
    followed to the end."""
    tree = ast.parse(Path(asset_module).read_text())
    todo, seen, files = sorted(_imported(tree, "", False)), set(), set()
    while todo:
        name = todo.pop()
        if name in seen or (path := _module_file(name, lib)) is None:
            continue
        seen.add(name)
        module_tree = ast.parse(path.read_text())
        if name.split(".")[0] == PACKAGE:
            files.add(path)
            files |= _templates(module_tree, lib)
            names = {s for s in _strings(module_tree) if FILE_NAME.fullmatch(s)}
            files |= {path.parent / s for s in names if (path.parent / s).is_file()}
        todo += sorted(_imported(module_tree, name, path.name == "__init__.py") - seen)
    return sorted(files)


def code_version(asset_module: str | Path, lib: Path = LIB) -> str:
    """Hash of `code_files(asset_module)`: their paths (relative to thinkforge/) and contents."""
    digest = hashlib.sha256()
    for path in code_files(asset_module, lib):
        digest.update(path.relative_to(lib).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]
