"""``ingest dead-letters`` and ``ingest redrive-dead-letters``: the stages' dead-letter queues.

The API's contract: ``GET /api/v1/dead-letters`` → ``{"queues": [{"stage", "queue",
"dead_letter_queue", "messages"}]}``; ``POST /api/v1/dead-letters/redrive {"stage", "limit"}`` →
``{"moved": {"<stage>": n}}``. ``cli.py`` registers these commands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ingest_cli.contract import STAGES
from ingest_cli.errors import EXIT_OK
from ingest_cli.render import to_json

if TYPE_CHECKING:
    from ingest_cli.session import Session


@click.command("dead-letters")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")
@click.pass_obj
def dead_letters(session: Session, as_json: bool) -> int:
    """Messages waiting in each stage's dead-letter queue."""
    queues = session.api.dead_letters()
    if as_json:
        click.echo(to_json(queues))
        return EXIT_OK
    for queue in queues:
        session.out.print(
            f"{queue['stage']:<9} {queue['messages']:>6,}  {queue['dead_letter_queue']}",
            markup=False,
        )
    return EXIT_OK


@click.command("redrive-dead-letters")
@click.option("--stage", type=click.Choice([*STAGES, "all"]), default="all", show_default=True)
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")
@click.pass_obj
def redrive_dead_letters(session: Session, stage: str, limit: int, as_json: bool) -> int:
    """Send dead letters back to their stage's queue, to be handled again."""
    moved = session.api.redrive_dead_letters(stage, limit)
    if as_json:
        click.echo(to_json({"moved": moved}))
    else:
        total = sum(moved.values())
        detail = ", ".join(f"{s} {n:,}" for s, n in moved.items())
        session.out.print(f"re-drove {total:,} message{'s' * (total != 1)} ({detail})")
    return EXIT_OK
