"""The ``ingest`` command: one click command per task, over the API client.

Each command parses its options, calls the API (``api.py``), moves bytes through presigned URLs
(``transfer.py``), and prints results to stdout (tables for people, ``--json``/``--csv`` for
scripts) and progress to stderr (``progress.py``); ``rejected`` and the backup commands live in
their own modules. ``main()`` turns every ``CliError`` into one line on stderr and the exit code
listed in ``errors.py``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.text import Text

from ingest_cli import __version__, backups, charts, deadletters, rejected
from ingest_cli.api import DEFAULT_URL, Api
from ingest_cli.contract import FILE_OPTIONS
from ingest_cli.errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    CliError,
    Interrupted,
    UsageError,
)
from ingest_cli.files import plan_files
from ingest_cli.follow import follow
from ingest_cli.outcome import SKIPPED, exit_code, finished_lines
from ingest_cli.progress import Feedback
from ingest_cli.render import (
    REPORT_COLUMNS,
    REPORT_TABLES,
    status_table,
    to_json,
    uploads_table,
    write_csv,
)
from ingest_cli.safe import cell
from ingest_cli.session import Session, console
from ingest_cli.transfer import MULTIPART_THRESHOLD, send

if TYPE_CHECKING:
    from collections.abc import Sequence

MiB = 1024**2
EPILOG = """\b
Configuration: --api-url/INGEST_API_URL (the API root, e.g. a Chalice stage URL) and
--api-key/INGEST_API_KEY. Exit codes: 0 ok, 1 refused by the API or upload failed,
2 bad command line, 3 API unreachable, 4 --wait-timeout reached, 5 an upload loaded no
rows (its warnings say why) or a file was empty, 130 interrupted.
"""


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EPILOG,
)
@click.option(
    "--api-url",
    envvar="INGEST_API_URL",
    default=DEFAULT_URL,
    show_default=True,
    help="API root URL [env INGEST_API_URL].",
)
@click.option("--api-key", envvar="INGEST_API_KEY", help="API key [env INGEST_API_KEY].")
@click.option(
    "--timeout", type=float, default=30.0, show_default=True, help="Seconds per HTTP request."
)
@click.version_option(__version__, prog_name="ingest")
@click.pass_context
def cli(ctx: click.Context, api_url: str, api_key: str | None, timeout: float) -> None:
    """Upload HR CSV files, follow them through the pipeline, and read the reports."""
    ctx.obj = Session(Api(api_url, api_key, timeout), console(False), Feedback(console(True)))


cli.add_command(rejected.rejected)
cli.add_command(backups.backup)
cli.add_command(backups.backups)
cli.add_command(backups.restore)
cli.add_command(deadletters.dead_letters)
cli.add_command(deadletters.redrive_dead_letters)


@cli.command()
@click.pass_obj
def health(session: Session) -> int:
    """Check that the API answers."""
    reply = session.api.health()
    session.out.print(cell(f"{session.api.base_url}: {reply.get('status')}"))
    return EXIT_OK


def _follow(session: Session, label: str, upload_id: str, timeout: float | None) -> dict[str, Any]:
    try:
        with session.feedback.processing(label) as update:
            return follow(session.api, upload_id, update, timeout=timeout)
    except KeyboardInterrupt:
        raise Interrupted(
            f"stopped following upload {upload_id}; the pipeline carries on",
            f"follow it with: ingest status {upload_id} --wait",
        ) from None


@cli.command(short_help="Upload files or a folder, and follow them until loaded.")
@click.argument(
    "paths",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, path_type=Path),
    metavar="PATH...",
)
@click.option(
    "-t",
    "--table",
    help="Table of the FILEs (default: from the name: 'hired employees (1).csv' is for "
    "hired_employees).",
)
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="Follow each upload until loaded or failed, or print its id at once.",
)
@click.option("--wait-timeout", type=float, metavar="SECONDS", help="Stop following after this.")
@click.option(
    "--multipart/--single-post",
    default=None,
    help=f"Force a multipart upload or one presigned POST "
    f"(default: multipart above {MULTIPART_THRESHOLD // MiB} MiB; a POST carries at most 5 GB).",
)
@click.option(
    "--part-size",
    type=click.IntRange(5, 5120),
    metavar="MiB",
    help="Multipart part size (default: the API's, 64 MiB).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 32),
    default=4,
    show_default=True,
    help="Parts sent at once (multipart).",
)
@click.option(
    "--header",
    type=click.Choice(FILE_OPTIONS["header"]),
    help="Is the first line a header? (API default: auto, skipped if it names the columns).",
)
@click.option(
    "--encoding",
    type=click.Choice(FILE_OPTIONS["encoding"], case_sensitive=False),
    help="Text encoding of the files (API default: utf-8; utf-16 needs its byte order mark).",
)
@click.option(
    "--delimiter",
    metavar="CHAR",
    help="Field separator: ',' ';' '|' or tab ('\\t' or 'tab'; API default: ',').",
)
@click.option("--json", "as_json", is_flag=True, help="Print the final statuses as JSON.")
@click.pass_obj
def upload(
    session: Session,
    paths: tuple[Path, ...],
    table: str | None,
    wait: bool,
    wait_timeout: float | None,
    multipart: bool | None,
    part_size: int | None,
    workers: int,
    header: str | None,
    encoding: str | None,
    delimiter: str | None,
    as_json: bool,
) -> int:
    """Upload CSV files, or a folder holding departments.csv, jobs.csv and hired_employees.csv
    (sent in that order).

    Shows the transfer (bytes, rate, ETA), then the pipeline (chunks done of total) until each
    upload is loaded or failed, and prints the row counts. Ctrl-C while sending cancels the
    upload on the server; Ctrl-C while following leaves the pipeline running. Compressed files
    (gzip, bzip2, zstd) are sent as they are: the pipeline reads them.
    """
    given = {"header": header, "encoding": encoding, "delimiter": delimiter}
    options = {name: value for name, value in given.items() if value is not None}
    results: list[dict[str, Any]] = []
    for path, name in plan_files(paths, table, session.feedback):
        started = time.monotonic()
        if path.stat().st_size == 0:
            # S3 and the API take no empty object: say which file, and carry on with the rest.
            empty = "the file is empty (0 bytes): there is nothing to upload"
            skipped = {"upload_id": None, "table": name, "filename": path.name, "state": SKIPPED}
            results.append({**skipped, "error": empty})
            session.feedback.say(f"{path.name}: {SKIPPED}: {empty}")
            continue
        sent = send(
            session.api,
            path,
            name,
            session.feedback,
            multipart=multipart,
            part_size=part_size * MiB if part_size else None,
            workers=workers,
            options=options,
        )
        if not wait:
            results.append(
                {
                    "upload_id": sent.upload_id,
                    "table": name,
                    "filename": path.name,
                    "state": "waiting",
                }
            )
            continue
        status = _follow(session, path.name, sent.upload_id, wait_timeout)
        for line in finished_lines(path.name, status, time.monotonic() - started):
            session.feedback.say(line)
        results.append(status)
    if as_json:
        click.echo(to_json(results))
    elif not wait:
        for result in results:
            if result["upload_id"]:
                click.echo(result["upload_id"])
    else:
        session.out.print(uploads_table(results))
        for result in results:
            if result.get("rows_rejected"):
                session.feedback.say(
                    f"why rows of {result['filename']} were rejected: "
                    f"ingest rejected {result['upload_id']}"
                )
    return exit_code(results)


@cli.command()
@click.argument("upload_id")
@click.option("--wait", is_flag=True, help="Follow the upload until loaded or failed.")
@click.option("--wait-timeout", type=float, metavar="SECONDS", help="Stop following after this.")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")
@click.pass_obj
def status(
    session: Session, upload_id: str, wait: bool, wait_timeout: float | None, as_json: bool
) -> int:
    """Show one upload: state, row and chunk counts, warnings, error.

    With --wait, exits 1 if the upload ends failed, 5 if it loaded no row.
    """
    if wait:
        reply = _follow(session, upload_id, upload_id, wait_timeout)
    else:
        reply = session.api.status(upload_id)
    if as_json:
        click.echo(to_json(reply))
    else:
        session.out.print(status_table(reply))
    return exit_code([reply]) if wait else EXIT_OK


@cli.command()
@click.argument("upload_id")
@click.option("--wait", is_flag=True, help="Follow the upload until loaded or failed.")
@click.option("--wait-timeout", type=float, metavar="SECONDS", help="Stop following after this.")
@click.pass_obj
def retry(session: Session, upload_id: str, wait: bool, wait_timeout: float | None) -> int:
    """Re-drive an upload that failed for a cause now fixed, or that is stuck.

    The API refuses (exit 1) one whose file is at fault: upload a fixed file instead.
    """
    retried = session.api.retry(upload_id)
    session.feedback.say(f"upload {upload_id}: re-driven from its {retried.get('stage')} stage")
    if not wait:
        return EXIT_OK
    reply = _follow(session, upload_id, upload_id, wait_timeout)
    for line in finished_lines(upload_id, reply, 0.0):
        session.feedback.say(line)
    return exit_code([reply])


@cli.command()
@click.option("-t", "--table", help="Only this table's uploads.")
@click.option("-n", "--limit", type=click.IntRange(1), help="At most this many (newest first).")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")
@click.pass_obj
def uploads(session: Session, table: str | None, limit: int | None, as_json: bool) -> int:
    """List uploads, newest first."""
    listed = session.api.uploads(table)[:limit]
    if as_json:
        click.echo(to_json(listed))
    elif not listed:
        session.feedback.say("no uploads yet")
    else:
        session.out.print(uploads_table(listed))
    return EXIT_OK


@cli.command()
@click.argument("name", type=click.Choice(list(REPORT_TABLES)), metavar="REPORT")
@click.option("--year", type=int, required=True, help="Calendar year (UTC).")
@click.option(
    "--csv",
    "as_csv",
    is_flag=True,
    help="Print CSV (header line, then rows): the stored values exactly, escaped only on a "
    "terminal.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE.png",
    help="Also draw the report as a PNG chart.",
)
@click.option("-n", "--limit", type=click.IntRange(1), help="Show at most this many rows.")
@click.pass_obj
def report(
    session: Session,
    name: str,
    year: int,
    as_csv: bool,
    as_json: bool,
    plot: Path | None,
    limit: int | None,
) -> int:
    """Print a report: hires-by-quarter or departments-above-mean."""
    if as_csv and as_json:
        raise UsageError("choose one of --csv and --json")
    data = session.api.report(name, year)
    if as_json:
        click.echo(to_json(data))
    elif as_csv:
        rows = data.get("rows", [])[:limit]
        write_csv(sys.stdout, REPORT_COLUMNS[name], rows, for_terminal=sys.stdout.isatty())
    else:
        session.out.print(REPORT_TABLES[name](data, limit))
    if plot:
        for note in charts.CHARTS[name](data, plot):
            session.feedback.say(f"chart: {note}")
        session.feedback.say(f"chart written to {plot}")
    return EXIT_OK


def _error_line(text: str) -> None:
    console(True).print(Text("error: ", style="bold red") + cell(text), soft_wrap=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ingest`` command line; return its exit code."""
    try:
        code = cli.main(
            args=list(argv) if argv is not None else None, prog_name="ingest", standalone_mode=False
        )
    except CliError as exc:
        _error_line(f"{exc.message}; {exc.hint}" if exc.hint else exc.message)
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except (click.Abort, KeyboardInterrupt):
        _error_line("interrupted")
        return EXIT_INTERRUPTED
    return code if isinstance(code, int) else EXIT_OK
