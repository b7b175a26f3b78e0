"""Fifty clients at once against the running local stack: none refused or reset, no row lost.

The stack is the one ``make serve`` runs (the AWS emulator, the functions it invokes, Chalice's
local server on 127.0.0.1), with its own data directory. ``devstack.loadtest`` sends a bounded
load (a fixed number of requests, a timeout on each and a deadline on all) and counts what it
observed; the figures are recorded before they are asserted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from devstack.loadclients import plan
from devstack.loadtest import run_load
from tests.stacks import running_stack

if TYPE_CHECKING:
    from collections.abc import Iterator

    from devstack.stack import LocalStack
    from tests.reliability.ledger import Ledger

KEY = "load-test-key"
CLIENTS = 50
UPLOADERS = 10


@pytest.fixture(scope="module")
def load_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with running_stack(tmp_path_factory.mktemp("load"), key=KEY) as local:
        yield local


def test_load_fifty_clients_at_once_are_all_served_and_no_row_is_lost(
    load_stack: LocalStack, reliability: Ledger
) -> None:
    figures = run_load(load_stack, KEY, CLIENTS, UPLOADERS, timeout=30, deadline=90, settle=90)
    kinds = ", ".join(f"{kind}: {n}" for kind, n in figures.errors.items())
    reliability.add(
        "load",
        f"{CLIENTS} clients at once, {UPLOADERS} of them uploading (half presigned, half form)",
        clients=figures.clients,
        requests=figures.requests,
        errors=sum(figures.errors.values()),
        error_kinds=kinds or "none",
        unsent=figures.unsent,
        p50=figures.api_p50_ms,
        p99=figures.api_p99_ms,
        uploads=figures.uploads,
        loaded=figures.loaded,
        rows=figures.rows_sent,
        lost=figures.rows_lost,
        duplicates=figures.rows_duplicated,
    )
    kinds_sent = plan(CLIENTS, UPLOADERS)
    # health each; readers: listing, report, OpenAPI; presigned: grant, S3 POST, status;
    # form: the POST, status
    per_kind = {None: 3, "presigned": 3, "form": 2}
    assert figures.requests == CLIENTS + sum(per_kind[k] for k in kinds_sent)
    assert kinds_sent.count("presigned") == kinds_sent.count("form") == UPLOADERS // 2
    assert figures.errors == {} and figures.unsent == 0, figures
    assert (figures.uploads, figures.loaded) == (UPLOADERS, UPLOADERS), figures
    assert figures.rows_sent == UPLOADERS * 20
    assert (figures.rows_lost, figures.rows_duplicated) == (0, 0), figures
