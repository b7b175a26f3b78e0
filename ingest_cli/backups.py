"""``ingest backup``, ``backups`` and ``restore``: warehouse backups to S3, over the API.

The API's contract: ``POST /api/v1/backups {"table"}`` → the backup with per-table location,
rows and files; ``GET /api/v1/backups`` → the catalog, newest first; ``POST /api/v1/restores
{"backup_id", "table"}`` → rows restored. ``cli.py`` registers these commands.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from ingest_cli.errors import EXIT_OK, UsageError
from ingest_cli.render import backup_table, backups_table, to_json

if TYPE_CHECKING:
    from ingest_cli.session import Session


@click.command()
@click.argument("table", metavar="TABLE|all")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")
@click.pass_obj
def backup(session: Session, table: str, as_json: bool) -> int:
    """Back up one table (or all) in the warehouse to S3."""
    reply = session.api.backup(table)
    if as_json:
        click.echo(to_json(reply))
    else:
        session.out.print(backup_table(reply))
    return EXIT_OK


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")
@click.pass_obj
def backups(session: Session, as_json: bool) -> int:
    """List backups, newest first."""
    listed = session.api.backups()
    if as_json:
        click.echo(to_json(listed))
    else:
        session.out.print(backups_table(listed))
    return EXIT_OK


@click.command()
@click.argument("backup_id")
@click.option("-t", "--table", required=True, help="The table to restore.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")
@click.pass_obj
def restore(session: Session, backup_id: str, table: str, yes: bool, as_json: bool) -> int:
    """Restore a table from a backup (asks first unless --yes)."""
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError("restore changes the warehouse; pass --yes to confirm it")
        click.confirm(f"Restore table {table} from backup {backup_id}?", abort=True, err=True)
    reply = session.api.restore(backup_id, table)
    if as_json:
        click.echo(to_json(reply))
    else:
        session.out.print(
            f"restored {reply.get('rows_restored', 0):,} rows into {reply.get('table', table)} "
            f"from backup {backup_id}"
        )
    return EXIT_OK
