"""``ingest rejected``: an upload's rejected rows, summarised by reason.

Streams the rejects file from its presigned URL (S3, no credentials needed), counting reasons as
it goes, so a file of any size takes constant memory; ``-o`` also saves it, under a temporary name
until it is complete. ``cli.py`` registers the command.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click
import requests

from ingest_cli.api import short_reason
from ingest_cli.errors import EXIT_OK, CliError, TransferError
from ingest_cli.render import RejectedSummary, to_json
from ingest_cli.safe import cell
from ingest_cli.transfer import s3_error

if TYPE_CHECKING:
    from ingest_cli.session import Session


def _download_rejected(
    url: str, output: Path | None, summary: RejectedSummary, timeout: float
) -> None:
    part = output.with_name(output.name + ".part") if output else None
    try:
        with requests.get(url, stream=True, timeout=timeout) as reply:
            if reply.status_code >= 300:
                raise s3_error(reply, "the rejected-rows download")
            sink = part.open("wb") if part else None
            try:
                for line in reply.iter_lines():
                    if not line:
                        continue
                    if sink:
                        sink.write(line + b"\n")
                    summary.add(json.loads(line))
            finally:
                if sink:
                    sink.close()
    except requests.RequestException as exc:
        raise TransferError(f"downloading the rejects file failed: {short_reason(exc)}") from None
    except BaseException:
        if part:
            part.unlink(missing_ok=True)
        raise
    if part and output:
        part.replace(output)  # never a half-written report under the real name


@click.command()
@click.argument("upload_id")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Also save the rejects file (JSON Lines: row, raw, errors) to this file.",
)
@click.option(
    "--examples", type=click.IntRange(0), default=5, show_default=True, help="Rows to show."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def rejected(
    session: Session, upload_id: str, output: Path | None, examples: int, as_json: bool
) -> int:
    """Download an upload's rejected rows and summarise them by reason."""
    reply = session.api.status(upload_id)
    if reply.get("state") != "loaded":
        raise CliError(
            f"upload {upload_id} is {reply.get('state')}; its rejects file is written "
            "when it is loaded",
            f"wait for it: ingest status {upload_id} --wait",
        )
    summary = RejectedSummary(keep_examples=examples)
    url = reply.get("rejected_url")
    if url:
        _download_rejected(str(url), output, summary, session.api.timeout)
    elif output:
        output.write_bytes(b"")
    if as_json:
        body = {"upload_id": upload_id, "table": reply.get("table"), **summary.as_json()}
        click.echo(to_json({**body, "saved_to": str(output) if output else None}))
    elif summary.rows == 0:
        session.out.print(cell(f"upload {upload_id} ({reply.get('table')}): no rejected rows"))
    else:
        title = (
            f"{summary.rows:,} rejected rows of {reply.get('filename')} "
            f"({reply.get('table')}, upload {upload_id}), by reason"
        )
        session.out.print(summary.table(title))
        if summary.examples:
            session.out.print()
            session.out.print(summary.examples_table())
    if output and not as_json:
        session.feedback.say(f"saved {summary.rows:,} rejected rows to {output}")
    return EXIT_OK
