"""ZIP archives for tests of files that are not CSV, an Excel workbook (xlsx) above all."""

from __future__ import annotations

import io
import zipfile

# The parts an xlsx file's first bytes show: what the split recognises as a workbook.
XLSX_PARTS = ("[Content_Types].xml", "_rels/.rels", "xl/workbook.xml")


def zip_of(*names: str) -> bytes:
    """A ZIP archive holding ``names``, each a tiny XML document."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name in names:
            # A fixed date, so the bytes (and the test ids made from them) are the same on every
            # pytest-xdist worker.
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), "<x/>")
    return out.getvalue()


def workbook() -> bytes:
    """An Excel workbook's bytes, as far as the split looks at them."""
    return zip_of(*XLSX_PARTS)
