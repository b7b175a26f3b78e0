"""``python -m devstack serve|demo``: run the offline stack, or a scripted end-to-end demo."""

from __future__ import annotations

import argparse
import logging
import shutil
import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from chalicelib import logs
from chalicelib.config import LocalStackSettings
from devstack.client import ApiClient
from devstack.sample import write_samples
from devstack.stack import LocalStack

TABLE_ORDER = ("departments", "jobs", "hired_employees")


def _log_to_file(path: Path) -> None:
    logs.setup()
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logs.JsonFormatter())
    logging.getLogger().handlers = [handler]


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """Rows as an aligned text table."""
    cells = [[str(r.get(c, "")) if r.get(c) is not None else "-" for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    for row in cells:
        out.append(
            "  ".join(
                v.rjust(w) if v.replace(".", "").isdigit() else v.ljust(w)
                for v, w in zip(row, widths, strict=True)
            )
        )
    return "\n".join(out)


def serve(settings: LocalStackSettings) -> int:
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    _log_to_file(Path(settings.data_dir) / "stack.log")
    stack = LocalStack(settings).start()
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    print(f"API      {stack.api_url}/api/v1   (header x-api-key: {settings.api_key})")
    print(f"S3       {stack.s3_url}   (bucket ingest-local; AWS_ENDPOINT_URL={stack.s3_url})")
    print(f"data     {settings.data_dir}   logs: {settings.data_dir}/stack.log")
    print("Ctrl-C or SIGTERM stops the stack.", flush=True)
    stopped.wait()
    stack.stop()
    print("stopped")
    return 0


def demo(settings: LocalStackSettings) -> int:
    data_dir = Path(settings.data_dir) / "demo"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    _log_to_file(data_dir / "stack.log")
    files = write_samples(data_dir / "input", hires=5000)
    print(f"Generated sample files in {files.departments.parent}")
    stack = LocalStack(replace(settings, data_dir=str(data_dir))).start()
    ok = True
    try:
        api = ApiClient(stack.api_url, settings.api_key)
        print(f"Local stack up: API {stack.api_url}, S3 {stack.s3_url}\n")
        statuses = []
        for name in TABLE_ORDER:
            upload_id = api.upload(name, files.for_table(name))
            statuses.append(api.wait(upload_id))
        print("Uploads (presigned POST -> split -> validate -> load):")
        print(
            table(
                statuses,
                [
                    "table",
                    "upload_id",
                    "state",
                    "rows_total",
                    "rows_valid",
                    "rows_rejected",
                    "chunks_total",
                ],
            )
        )
        ok = all(s["state"] == "loaded" for s in statuses)
        hires = statuses[-1]
        rejected = _fetch_rejected(hires["rejected_url"])
        print(f"\nFirst rejected rows of hired_employees ({len(rejected)} in all):")
        for entry in rejected[:5]:
            print(f"  row {entry['row']}: {'; '.join(entry['errors'])}")
        by_quarter = api.report("hires-by-quarter", 2021)
        print(f"\nHires by quarter, 2021 (first 12 of {len(by_quarter['rows'])} rows):")
        print(table(by_quarter["rows"][:12], ["department", "job", "q1", "q2", "q3", "q4"]))
        above = api.report("departments-above-mean", 2021)
        print(f"\nDepartments above the mean of {above['mean']:.1f} hires in 2021:")
        print(table(above["rows"], ["id", "department", "hired"]))
        again = api.wait(api.upload("hired_employees", files.hired_employees))
        above_again = api.report("departments-above-mean", 2021)
        same = above_again == above and again["state"] == "loaded"
        print(
            f"\nRe-uploaded hired_employees.csv as {again['upload_id']}: state {again['state']},"
            f" reports {'unchanged (no duplicates)' if same else 'CHANGED'}"
        )
        ok = ok and same
    finally:
        stack.stop()
    print(f"\nDemo {'finished' if ok else 'FAILED'}; handler logs in {data_dir / 'stack.log'}")
    return 0 if ok else 1


def _fetch_rejected(url: str | None) -> list[dict[str, Any]]:
    import json

    import requests

    if not url:
        return []
    reply = requests.get(url, timeout=30)
    reply.raise_for_status()
    return [json.loads(line) for line in reply.text.splitlines() if line]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    parser.add_argument("command", choices=["serve", "demo"])
    args = parser.parse_args(argv)
    settings = LocalStackSettings.from_env()
    if args.command == "serve":
        return serve(settings)
    # The demo picks free ports unless they are set, so it runs beside a `make serve`.
    return demo(replace(settings, api_port=0, s3_port=0) if not _ports_set() else settings)


def _ports_set() -> bool:
    import os

    return bool(os.environ.get("API_PORT") or os.environ.get("S3_PORT"))


if __name__ == "__main__":
    sys.exit(main())
