"""``python -m devstack.docgen``: the parts of the docs and clients that restate the code.

The S3 key layout in docs/architecture.md is built by calling ``chalicelib.keys`` with
placeholder values, and the map of the code from each module's own docstring; what the two
clients that cannot import the app need to know of it (``ingest_cli/contract.py``, installed on
its own, and the console's ``contract.js``: the routes, the tables in load order, the stages)
from the app's route table, the schema files and the stage runner. None can drift from the
code: ``tests/unit/devstack/test_docgen.py`` fails when anything differs from what this would
write. Each doc block sits between ``<!-- generated:NAME -->`` and ``<!-- /generated:NAME -->``
markers; the prose around it is hand-written. The client files are generated whole.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from dataclasses import asdict
from pathlib import Path

from chalicelib import keys
from chalicelib.api.openapi_requests import pattern
from chalicelib.api.routing import route_table
from chalicelib.csvfile.options import DELIMITERS, ENCODINGS, HEADERS, FileOptions
from chalicelib.pipeline.runner import STAGES
from chalicelib.tables import NAME_WORDS, PATH_SEPARATORS, TABLE_NAMES

ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURE = ROOT / "docs" / "architecture.md"
# Placeholder values that keys' checks accept, and what the docs show in their place.
_TABLE = "departments"
_UID, _BACKUP = "20000101T000000Z-000000000000", "20000102T000000Z-0000000000ff"
_PLAN, _OFFSET = "9f3c0a7be2d4", 987_654_321
_FILE = "the-file"
_SHOWN = {
    _FILE: "<file>",
    _UID: "<id>",
    _BACKUP: "<backup_id>",
    _TABLE: "<table>",
    _PLAN: "<plan>",
    f"{_OFFSET:0{keys.OFFSET_DIGITS}d}": "<offset>",
}
_CHUNK = 12345
_PART = 678
_LEVEL_INDEX = 123  # node 123 of level 2: chunks 012300-012399

# (key, written by, holds), in the order an upload's objects appear.
_LAYOUT: tuple[tuple[str, str, str], ...] = (
    (keys.raw_key(_TABLE, _UID, _FILE), "the user (presigned POST or multipart)",
     "the uploaded CSV, as sent (maybe compressed, in another encoding or with another "
     "delimiter: the split reads it into the one form every later stage sees)"),
    (keys.raw_prefix(_TABLE) + "<any path>/<file>", "the user (`aws s3 cp`)",
     "a CSV copied in directly"),
    (keys.upload_index_key(_UID), "the API or split, when an upload is recorded",
     "the upload's table, so its id alone finds it"),
    (keys.state_key(_TABLE, _UID), "every stage, the API (create, cancel)",
     "the upload's state, counts, error, reading options and what the split detected"),
    (keys.state_key(keys.UNROUTED, _UID), "split",
     "a `failed` upload for an object under `raw/` that no table takes (`raw/employees/...`, "
     "a folder marker)"),
    (keys.chunk_key(_TABLE, _UID, _CHUNK), "split",
     "a byte range of the raw file (JSON: start, end, first line, how to read it); of a gzip "
     "file, a range of its decompressed bytes with the restart point before it; for a bzip2 or "
     "zstd file (or gzip of UTF-16 text), its framed records copied, each with its line number"),
    (keys.split_handoff_key(_TABLE, _UID, _PLAN, _OFFSET), "split",
     "a hand-off: where planning goes on (byte offset, line, next chunk; in a gzip file, with "
     "its restart point) and the chunks the invocation before planned; its creation starts the "
     "next split invocation"),
    (keys.split_part_key(_TABLE, _UID, _PLAN, _PART), "split (the raw object's invocation)",
     "a part's task, for a plain file larger than `INGEST_PLAN_RANGE_BYTES`: the part's byte "
     "range and where the data starts; its creation starts the invocation that plans the part"),
    (keys.split_summary_key(_TABLE, _UID, _PLAN, _PART), "split (a part's invocation)",
     "what planning the part found under both hypotheses (its first line starts a record, or "
     "lies inside a quoted field): the chunks that begin and end in it, the one it leaves open, "
     "its line count"),
    (keys.split_tree_key(_TABLE, _UID, _PLAN, 2, _LEVEL_INDEX), "split (a part's invocation)",
     "tree of planned parts: every part whose number starts with these digits is planned"),
    (keys.split_chain_key(_TABLE, _UID, _PLAN, _CHUNK), "split (the last part planned, or the "
     "chain handing on)", "the chain's task: its creation starts the invocation that chains the "
     "parts' summaries into the plan and writes the chunks from `<n>` on, then the manifest"),
    (keys.split_manifest_key(_TABLE, _UID), "split",
     "chunk list with first/last line, record counts and byte ranges"),
    (keys.clean_key(_TABLE, _UID, _CHUNK), "validate",
     "valid rows in canonical CSV (integers in digits, timestamps as their ISO text, text quoted "
     "only when CSV needs it), plus the line each came from"),
    (keys.chunk_rejects_key(_TABLE, _UID, _CHUNK), "validate",
     'rejected rows of one chunk: `{"row", "raw", "errors"}` (none for a chunk that rejected '
     "none)"),
    (keys.done_key(_TABLE, _UID, _CHUNK), "validate",
     "one chunk's counts and cleaned size (its done marker)"),
    (keys.done_node_key(_TABLE, _UID, 2, _LEVEL_INDEX), "validate, split, re-drive",
     "completion tree: every chunk whose number starts with these digits is done"),
    (keys.load_key(_TABLE, _UID), "split or validate, whichever finishes last",
     "the load trigger"),
    (keys.copy_manifest_key(_TABLE, _UID), "load",
     "the Redshift COPY manifest of the non-empty clean chunks"),
    (keys.duplicates_key(_TABLE, _UID), "load", "rows a later row with the same id replaced"),
    (keys.rejects_key(_TABLE, _UID), "load",
     "the upload's rejects file, ordered by row (what `ingest rejected` downloads)"),
    (keys.backup_prefix(_BACKUP, _TABLE) + "<files>", "backup (UNLOAD, or the AVRO export)",
     "one table's data files"),
    (keys.backup_manifest_key(_BACKUP, _TABLE), "backup", "those files and the row count"),
    (keys.backup_record_key(_BACKUP), "backup, last", "the catalog entry: every table it holds"),
)  # fmt: skip


def _shown(key: str) -> str:
    for value, placeholder in _SHOWN.items():
        key = key.replace(value, placeholder)
    key = key.replace(f"{_CHUNK:0{keys.CHUNK_DIGITS}d}", "<n>")
    key = key.replace(f"{_PART:0{keys.PART_DIGITS}d}", "<part>")
    key = key.replace("/2/0123.done", "/<level>/<digits>.done")
    return key.replace("/2/0123.json", "/<level>/<digits>.json").replace(
        f"/{keys.UNROUTED}/<table>/", f"/{keys.UNROUTED}/"
    )


def key_layout() -> str:
    """The S3 key table, from ``chalicelib.keys`` itself."""
    lines = ["| key | written by | holds |", "|---|---|---|"]
    lines += [f"| `{_shown(key)}` | {who} | {what} |" for key, who, what in _LAYOUT]
    return "\n".join(lines)


def _summary(path: Path) -> str:
    """The first sentence of a module's docstring."""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    first = " ".join(doc.split("\n\n")[0].split())
    return first.split(". ")[0].rstrip(".")


def code_map() -> str:
    """Every module of the Lambda bundle, its size and its job, package by package."""
    lines = ["| module | what it is |", "|---|---|"]
    paths = [ROOT / "app.py", *sorted((ROOT / "chalicelib").rglob("*.py"))]
    for path in paths:
        name = path.relative_to(ROOT).as_posix()
        summary = _summary(path).replace("``", "`").replace("|", "/")
        lines.append(f"| `{name}` | {summary} |")
    return "\n".join(lines)


BLOCKS = {"key-layout": key_layout, "code-map": code_map}


def render(text: str) -> str:
    """``text`` with every generated block written anew."""
    for name, build in BLOCKS.items():
        pattern = re.compile(
            rf"(<!-- generated:{name} -->\n).*?(<!-- /generated:{name} -->)", re.DOTALL
        )
        if not pattern.search(text):
            raise ValueError(f"no generated:{name} block")
        text = pattern.sub(lambda m, b=build: f"{m.group(1)}{b()}\n{m.group(2)}", text)  # type: ignore[misc]
    return text


_API_PREFIX = "/api/v1/"
CLI_CONTRACT = ROOT / "ingest_cli" / "contract.py"
CONSOLE_CONTRACT = ROOT / "chalicelib" / "console" / "static" / "contract.js"


def _routes() -> dict[str, tuple[str, str]]:
    import app

    return route_table(app.app.routes)


def _names(names: tuple[str, ...]) -> str:
    return ", ".join(f'"{name}"' for name in names)


# Each file option's values, its default first (csvfile/options.py).
_OPTIONS: dict[str, tuple[str, ...]] = {
    "header": HEADERS,
    "encoding": ENCODINGS,
    "delimiter": DELIMITERS,
}


def _file_options() -> dict[str, list[str]]:
    defaults = asdict(FileOptions())
    return {
        name: [defaults[name], *(v for v in values if v != defaults[name])]
        for name, values in _OPTIONS.items()
    }


def cli_contract() -> str:
    """``ingest_cli/contract.py``: what a client that ships alone knows of the app."""
    options = ",\n".join(
        f'    "{name}": ({", ".join(json.dumps(v) for v in values)})'
        for name, values in _file_options().items()
    )
    lines = [
        '"""What the client knows of the API: its routes, the tables in load order, the stages,',
        "the file options, and how a file's name names its table.",
        "",
        "Generated by ``python -m devstack.docgen`` from the app's route table, the schema files,",
        "the stage runner, the file options and the table-guessing rule; do not edit.",
        "``tests/unit/devstack/test_docgen.py`` fails when it differs.",
        '"""',
        "",
        "# Each route by name: (method, path).",
        "ROUTES: dict[str, tuple[str, str]] = {",
        *(f'    "{name}": ("{method}", "{path}"),' for name, (method, path) in _routes().items()),
        "}",
        "# The tables, dimensions before facts (the order a folder of files is sent in).",
        f"TABLES: tuple[str, ...] = ({_names(TABLE_NAMES)})",
        "# The pipeline's stages, in the order a file goes through them.",
        f"STAGES: tuple[str, ...] = ({_names(STAGES)})",
        "# How a file may be read: each option's values, the API's default first.",
        "FILE_OPTIONS: dict[str, tuple[str, ...]] = {",
        options + ",",
        "}",
        "# A file's table from its name (chalicelib/tables.py guess_table): the words of the",
        "# name's last path segment, which hold the table's words side by side.",
        f'NAME_WORDS = r"{NAME_WORDS}"',
        f'PATH_SEPARATORS = r"{PATH_SEPARATORS}"',
    ]
    return "\n".join(lines) + "\n"


def console_contract() -> str:
    """The console's ``contract.js``: the same, paths relative to the API's ``api/v1/``."""
    options = "\n".join(
        f"  {name}: Object.freeze([{', '.join(json.dumps(v) for v in values)}]),"
        for name, values in _file_options().items()
    )
    lines = [
        "// What the console knows of the API: its routes ([method, path under api/v1/]), the",
        "// tables in load order, the stages, the file options (the API's default first), how a",
        "// file's name names its table and what an upload id looks like. Generated by",
        "// `python -m devstack.docgen` from the app's route table, the schema files, the stage",
        "// runner, the file options, the table-guessing rule and the key layout; do not edit.",
        "export const ROUTES = Object.freeze({",
        *(
            f'  {name}: ["{method}", "{path.removeprefix(_API_PREFIX)}"],'
            for name, (method, path) in _routes().items()
        ),
        "});",
        f"export const TABLES = Object.freeze([{_names(TABLE_NAMES)}]);",
        f"export const STAGES = Object.freeze([{_names(STAGES)}]);",
        "export const FILE_OPTIONS = Object.freeze({",
        options,
        "});",
        f"export const NAME_WORDS = {json.dumps(NAME_WORDS)};",
        f"export const PATH_SEPARATORS = {json.dumps(PATH_SEPARATORS)};",
        "// What an upload id looks like (chalicelib/keys.py UPLOAD_ID).",
        f"export const UPLOAD_ID = {json.dumps(pattern(keys.UPLOAD_ID))};",
    ]
    return "\n".join(lines) + "\n"


FILES = {CLI_CONTRACT: cli_contract, CONSOLE_CONTRACT: console_contract}


def stale_files() -> list[Path]:
    """The generated files whose text differs from what this would write."""
    return [
        path
        for path, build in FILES.items()
        if not path.exists() or path.read_text(encoding="utf-8") != build()
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if a block is stale")
    args = parser.parse_args(argv)
    current = ARCHITECTURE.read_text(encoding="utf-8")
    fresh = render(current)
    stale = stale_files()
    if args.check:
        return 0 if fresh == current and not stale else 1
    if fresh != current:
        ARCHITECTURE.write_text(fresh, encoding="utf-8")
    for path in stale:
        path.write_text(FILES[path](), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
