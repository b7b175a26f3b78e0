"""The docs that restate the code are written from it: a stale block fails here."""

from __future__ import annotations

from devstack import docgen


def test_docs_generated_blocks_are_current() -> None:
    current = docgen.ARCHITECTURE.read_text(encoding="utf-8")
    assert docgen.render(current) == current, "run: python -m devstack.docgen"


def test_docs_key_layout_names_every_key_builder() -> None:
    # A key builder added to keys.py without a row in the layout table would go undocumented.
    from chalicelib import keys

    builders = {
        name for name in dir(keys) if name.endswith("_key") and not name.startswith(("parse_", "_"))
    }
    table = docgen.key_layout()
    source = docgen.Path(docgen.__file__).read_text(encoding="utf-8")
    shown = {name for name in builders if f"keys.{name}(" in source}
    assert builders == shown, f"not in the layout table: {sorted(builders - shown)}"
    assert table.count("\n") == len(docgen._LAYOUT) + 1


def test_docs_code_map_lists_every_module() -> None:
    table = docgen.code_map()
    modules = [docgen.ROOT / "app.py", *sorted((docgen.ROOT / "chalicelib").rglob("*.py"))]
    for path in modules:
        assert f"| `{path.relative_to(docgen.ROOT).as_posix()}` | " in table


def test_docs_name_backup_folders_as_keys_builds_them() -> None:
    # The code writes backups/<backup_id>/<table>/; a doc showing another order sends an
    # operator to the wrong place when restoring by hand.
    from chalicelib import keys

    assert keys.backup_prefix("B", "jobs") == "backups/B/jobs/"
    docs = [docgen.ROOT / "README.md", *sorted((docgen.ROOT / "docs").glob("*.md"))]
    for path in docs:
        text = path.read_text(encoding="utf-8")
        for table in ("departments", "jobs", "hired_employees", "<table>", "<t>"):
            assert f"backups/{table}/" not in text, f"{path.name}: backups/{table}/..."


def test_docs_state_the_default_chunk_size() -> None:
    from chalicelib.config import DEFAULT_CHUNK_ROWS

    readme = (docgen.ROOT / "README.md").read_text(encoding="utf-8")
    deploy = (docgen.ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert f"`INGEST_CHUNK_ROWS` (default\n{DEFAULT_CHUNK_ROWS}" in readme
    assert f"records per chunk (default {DEFAULT_CHUNK_ROWS:,}".replace(",", " ") in deploy


def test_docs_generated_route_files_are_current() -> None:
    assert docgen.stale_files() == [], "run: python -m devstack.docgen"


def test_docs_route_files_hold_every_api_route_and_no_other() -> None:
    import app
    from ingest_cli.contract import ROUTES

    registered = {
        (method, path)
        for path, methods in app.app.routes.items()
        for method in methods
        if path.startswith("/api/")
    }
    assert set(ROUTES.values()) == registered
    for name, (method, path) in ROUTES.items():
        assert f'  {name}: ["{method}", "{path.removeprefix("/api/v1/")}"],' in (
            docgen.console_contract()
        )
