"""``python -m devstack serve|demo``: run the offline stack, or a scripted end-to-end demo;
``serve --deployed build/<stage>``: the packaged stack deployed into the AWS emulator instead."""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import logging
import os
import shutil
import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path

from chalicelib import logs
from devstack import emulator, redshift_local
from devstack.demo import Shell, session
from devstack.emulator import ROOT_KEY, EmulatorError
from devstack.sample import write_samples
from devstack.settings import LocalStackSettings
from devstack.stack import LocalStack, StackError


def _log_to_file(path: Path) -> None:
    logs.setup()
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logs.JsonFormatter())
    logging.getLogger().handlers = [handler]
    # SIGUSR1 writes every thread's stack to the log: a stack that does not stop can say where
    # it waits (kill -USR1 <pid>), without a debugger on the machine.
    assert handler.stream is not None  # opened now: the handler is not delayed
    faulthandler.register(signal.SIGUSR1, file=handler.stream, all_threads=True)


def serve(settings: LocalStackSettings) -> int:
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    _log_to_file(Path(settings.data_dir) / "stack.log")
    try:
        stack = LocalStack(settings).start()
    except (StackError, EmulatorError) as exc:
        sys.stderr.write(f"make serve: {exc}\n")
        return 2
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    layout, key = stack.layout, settings.api_key
    print(f"console  {stack.console_url}   (web page; type the key once: {key})")
    print(f"API      {stack.api_url}/api/v1   (header x-api-key: {key})")
    print(f"S3       {stack.s3_url}   (bucket ingest-local; AWS_ENDPOINT_URL={stack.s3_url})")
    print(f"         credentials: AWS_ACCESS_KEY_ID=AWS_SECRET_ACCESS_KEY={ROOT_KEY} (unsigned")
    print("         requests are refused, as S3 refuses them)")
    print(f"warehouse {stack.warehouse_description}")
    if stack.persistent:
        print(f"data     {layout.root}   kept across restarts: the bucket in {layout.bucket},")
        print(f"         the queues in {layout.emulator / 'state'}, the warehouse in")
        print(f"         {layout.warehouse}; logs: {layout.root / 'stack.log'}")
        print(f"         to start empty: stop the stack, then rm -rf {layout.root}")
    else:
        print("data     nothing is kept: the engine and its bucket are fresh for each start;")
        print(f"         logs: {layout.root / 'stack.log'}")
    print("Ctrl-C or SIGTERM stops the stack.", flush=True)
    stopped.wait()
    stack.stop()
    print("stopped")
    return 0


def serve_deployed(settings: LocalStackSettings, build: Path, stage: str) -> int:
    from devstack.deployed import DeployedStack, add_api_key

    root = Path(settings.data_dir).resolve() / "deployed"
    root.mkdir(parents=True, exist_ok=True)
    _log_to_file(root / "stack.log")
    if settings.warehouse != "redshift":
        print("warehouse: the local Redshift engine (the deployed functions run in processes of")
        print("  their own, and DuckDB admits one writer)")
    stack = DeployedStack(
        root / "stack", build, stage, port=settings.s3_port, api_port=settings.api_port
    ).start()
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    try:
        assert stack.deployment is not None and stack.emulator is not None
        deployment, emulator = stack.deployment, stack.emulator
        key = deployment.api_key
        if os.environ.get("API_KEY"):
            # API Gateway takes keys of 20 to 128 characters only.
            if len(settings.api_key) < 20:
                print(f"API_KEY is shorter than API Gateway's 20 characters: using {key}")
            else:
                key = add_api_key(emulator, deployment, settings.api_key)
        url = deployment.api_url
        print(f"API: {url}   (header x-api-key: {key}; console at {url}/)")
        print(f"S3: {emulator.url}   (bucket {deployment.bucket}, path-style)")
        print(f"AWS: {emulator.url}   (every other service of the stack {deployment.stack})")
        print(f"certificate: {emulator.certificate}   (AWS_CA_BUNDLE, REQUESTS_CA_BUNDLE)")
        print(
            f"credentials: AWS_ACCESS_KEY_ID=AWS_SECRET_ACCESS_KEY={ROOT_KEY} (the account's root)"
        )
        if key != deployment.api_key:
            print(f"stage key (deep health compares with it): {deployment.api_key}")
        print(f"stack created in {deployment.create_seconds:.1f} s; logs: {root / 'stack.log'}")
        print("Ctrl-C or SIGTERM stops the stack.", flush=True)
        stopped.wait()
    finally:
        stack.stop()
    print("stopped")
    return 0


def demo(settings: LocalStackSettings) -> int:
    data_dir = Path(settings.data_dir) / "demo"
    # Each demo starts empty; an emulator a killed demo left running goes first.
    emulator.end_orphan(data_dir / "emulator")
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
    parser.add_argument("--deployed", type=Path, help="serve: deploy build/<stage> instead")
    parser.add_argument("--stage", default="dev")
    args = parser.parse_args(argv)
    settings = LocalStackSettings.from_env()
    if not emulator.available():
        sys.stderr.write(f"the local stack runs on the AWS emulator: {emulator.INSTALL_HINT}\n")
        return 2
    if args.deployed is not None:
        if not redshift_local.available():
            sys.stderr.write(f"STACK=deployed: {redshift_local.INSTALL_HINT}\n")
            return 2
        return serve_deployed(settings, args.deployed, args.stage)
    if settings.warehouse == "redshift" and not redshift_local.available():
        sys.stderr.write(f"WAREHOUSE=redshift needs PostgreSQL: {redshift_local.INSTALL_HINT}\n")
        return 2
    if args.command == "serve":
        return serve(settings)
    # The demo picks free ports unless they are set, so it runs beside a `make serve`.
    return demo(replace(settings, api_port=0, s3_port=0) if not _ports_set() else settings)


def _ports_set() -> bool:
    return bool(os.environ.get("API_PORT") or os.environ.get("S3_PORT"))


if __name__ == "__main__":
    sys.exit(main())
