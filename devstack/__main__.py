"""``python -m devstack serve|demo``: run the offline stack, or a scripted end-to-end demo."""

from __future__ import annotations

import argparse
import contextlib
import logging
import shutil
import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path

from chalicelib import logs
from devstack import redshift_local
from devstack.demo import Shell, session
from devstack.sample import write_samples
from devstack.settings import LocalStackSettings
from devstack.stack import LocalStack


def _log_to_file(path: Path) -> None:
    logs.setup()
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logs.JsonFormatter())
    logging.getLogger().handlers = [handler]


def serve(settings: LocalStackSettings) -> int:
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    _log_to_file(Path(settings.data_dir) / "stack.log")
    stack = LocalStack(settings).start()
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    print(f"console  {stack.console_url}   (web page; type the key once: {settings.api_key})")
    print(f"API      {stack.api_url}/api/v1   (header x-api-key: {settings.api_key})")
    print(f"S3       {stack.s3_url}   (bucket ingest-local; AWS_ENDPOINT_URL={stack.s3_url})")
    print(f"data     {settings.data_dir}   logs: {settings.data_dir}/stack.log")
    print(f"warehouse {stack.warehouse_description}")
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
    stack = LocalStack(replace(settings, data_dir=str(data_dir))).start()
    try:
        print(f"Local stack up (API {stack.api_url}, S3 {stack.s3_url}); in {data_dir}:")
        print(f"Warehouse: {stack.warehouse_description}")
        print(f"Console: {stack.console_url}  (API key: {settings.api_key})")
        print(f"$ export INGEST_API_URL={stack.api_url} INGEST_API_KEY={settings.api_key}")
        print(f"$ ls {files.departments.parent.name}")
        print("  ".join(sorted(p.name for p in files.departments.parent.iterdir())))
        shell = Shell.for_api(stack.api_url, settings.api_key, data_dir)
        try:
            problems = session(shell, files.departments.parent)
        except RuntimeError as exc:
            problems = [str(exc)]
        print(f"\nCharts in {data_dir}; handler logs (JSON lines) in {data_dir / 'stack.log'}")
        print("Demo finished." if not problems else f"Demo FAILED: {'; '.join(problems)}")
        print(f"\nConsole: {stack.console_url}  (API key: {settings.api_key})", flush=True)
        _hold_for_console()
    finally:
        stack.stop()
    return 0 if not problems else 1


def _hold_for_console() -> None:
    """On a terminal, keep the stack up for the console until Enter or Ctrl-C; elsewhere
    (scripts, CI) go on at once."""
    if not sys.stdin.isatty():
        print("(not a terminal: the stack stops now; `make serve` keeps one running)")
        return
    print("Open it in a browser to see the demo's data; Enter or Ctrl-C stops the stack.")
    with contextlib.suppress(KeyboardInterrupt):
        sys.stdin.readline()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    parser.add_argument("command", choices=["serve", "demo"])
    args = parser.parse_args(argv)
    settings = LocalStackSettings.from_env()
    if settings.warehouse == "redshift" and not redshift_local.available():
        sys.stderr.write(f"WAREHOUSE=redshift needs PostgreSQL: {redshift_local.INSTALL_HINT}\n")
        return 2
    if args.command == "serve":
        return serve(settings)
    # The demo picks free ports unless they are set, so it runs beside a `make serve`.
    return demo(replace(settings, api_port=0, s3_port=0) if not _ports_set() else settings)


def _ports_set() -> bool:
    import os

    return bool(os.environ.get("API_PORT") or os.environ.get("S3_PORT"))


if __name__ == "__main__":
    sys.exit(main())
