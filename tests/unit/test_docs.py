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
        assert f"| `{path.relative_to(docgen.ROOT).as_posix()}` |" in table
