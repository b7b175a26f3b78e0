"""S3 events delivered twice, shuffled and interleaved; two uploads of one table at once.

S3 delivers notifications at least once and in no particular order, and Lambdas run side by
side. Whatever the order, the final table, the upload's counts and its rejected report must be
those of one in-order delivery (and the oracle's); with two uploads of the same table, the table
must equal one of the two serial orders. Every run is recorded before anything is asserted. A
subset runs again on the local stack's S3 (the AWS emulator, over HTTP).
"""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import pytest

from chalicelib.config import Settings
from tests.reliability.corpus import corpus
from tests.reliability.fakes3 import FakeS3
from tests.reliability.harness import Bus, Delivery
from tests.reliability.oracle import expect
from tests.reliability.verdict import check, fresh_warehouse, observe, outcome

if TYPE_CHECKING:
    from tests.reliability.conftest import LocalS3
    from tests.reliability.ledger import Ledger
    from tests.reliability.verdict import Outcome

SETTINGS = Settings(bucket="reliability-bucket", chunk_rows=4)
FILES = [
    c
    for c in corpus()
    if c[0]
    in {
        "quoted commas, quotes and newlines",
        "duplicate ids: last wins",
        "many chunks with duplicates across them",
        "only bad rows",
        "empty file",
    }
]
SEEDS = range(3)
MODES = [
    ("every event twice, shuffled", {"copies": 2}),
    ("every event three times, shuffled", {"copies": 3}),
    ("twice, shuffled, interleaved inside handlers", {"copies": 2, "interleave": 0.5}),
]
# The subset run again on the local stack's S3 (a run there costs seconds, not milliseconds):
# every mode on a small file, the interleaved one on the file of 15 chunks.
ON_EMULATOR = [
    (mode, knobs, file)
    for file in FILES
    for mode, knobs in MODES
    if file[0] == "duplicate ids: last wins"
    or (file[0] == "many chunks with duplicates across them" and "interleave" in knobs)
]
_BASELINES: dict[str, Outcome] = {}
_IGNORED = {"upload_id", "created_at", "updated_at", "source_etag", "extra"}


def deliver(
    table: str, data: bytes, s3: Any = None, settings: Settings = SETTINGS, **knobs: Any
) -> tuple[Outcome, Bus]:
    s3 = FakeS3(settings.bucket) if s3 is None else s3
    warehouse = fresh_warehouse(s3)
    bus = Bus(s3, warehouse, settings, **knobs)
    key = f"raw/{table}/events.csv"
    bus.put(key, data)
    bus.run()
    out = outcome(s3, warehouse, settings, table, key)
    warehouse.close()
    return out, bus


def final_state(out: Outcome) -> tuple[Any, ...]:
    uploads = [{k: v for k, v in vars(u).items() if k not in _IGNORED} for u in out.uploads]
    return uploads, out.report, sorted(out.table), len(out.ledger)


def _baseline(name: str, table: str, data: bytes) -> Outcome:
    if name not in _BASELINES:
        _BASELINES[name], _ = deliver(table, data)
    return _BASELINES[name]


def _replay(
    reliability: Ledger,
    item: str,
    runs: list[tuple[Outcome, Bus]],
    baseline: Outcome,
    table: str,
    data: bytes,
) -> None:
    """Record every run, then assert each matched the in-order delivery and the oracle."""
    expected = expect(table, data)
    for out, bus in runs:
        figures = observe(expected, out)
        reliability.add(
            "events",
            item,
            runs=1,
            uploads=len(out.uploads),
            events=bus.stats["events"],
            deliveries=bus.stats["deliveries"],
            same=int(final_state(out) == final_state(baseline)),
            not_loaded=int(figures["state"] != "loaded"),
            lost=figures["lost"],
            duplicates=figures["duplicates"],
        )
    check(expected, baseline)
    for seed, (out, bus) in enumerate(runs):
        check(expected, out)
        assert final_state(out) == final_state(baseline), (seed, final_state(out))
        assert not bus.dropped and bus.stats["retries"] == 0


@pytest.mark.parametrize(("mode", "knobs"), MODES)
@pytest.mark.parametrize(("name", "table", "data"), FILES, ids=[f[0] for f in FILES])
def test_replayed_and_shuffled_events_reach_the_same_final_state(
    reliability: Ledger, mode: str, knobs: dict[str, Any], name: str, table: str, data: bytes
) -> None:
    baseline = _baseline(name, table, data)
    runs = [deliver(table, data, seed=seed, **knobs) for seed in SEEDS]
    _replay(reliability, mode, runs, baseline, table, data)
    if knobs.get("interleave") and expect(table, data).rows_total:
        # handlers really did run inside other handlers
        assert sum(bus.stats["nested"] for _, bus in runs) > 0


@pytest.mark.parametrize(
    ("mode", "knobs", "file"), ON_EMULATOR, ids=[f"{f[0]}-{m}" for m, _, f in ON_EMULATOR]
)
def test_replayed_events_on_the_local_stack_s3_reach_the_same_final_state(
    reliability: Ledger,
    local_s3: LocalS3,
    mode: str,
    knobs: dict[str, Any],
    file: tuple[str, str, bytes],
) -> None:
    """The same, on the emulator over HTTP: one seed, compared with the in-memory in-order
    delivery."""
    name, table, data = file
    settings = Settings(bucket=local_s3.new_bucket(), chunk_rows=SETTINGS.chunk_rows)
    run = deliver(table, data, local_s3.s3, settings, seed=0, **knobs)
    _replay(reliability, f"{mode} (emulator)", [run], _baseline(name, table, data), table, data)


def _serial(table: str, *files: bytes) -> dict[int, tuple[Any, ...]]:
    final: dict[int, tuple[Any, ...]] = {}
    for data in files:
        final.update(expect(table, data).final)
    return final


_FIRST = b"".join(b"%d,first %d\n" % (i, i) for i in range(1, 13)) + b"3,first again\n"
_SECOND = b"".join(b"%d,second %d\n" % (i, i) for i in range(7, 19)) + b"x,bad\n"


def _table(out: Outcome) -> dict[int, tuple[Any, ...]]:
    return {row[0]: row for row in out.table}


ORDERS = [_serial("jobs", _FIRST, _SECOND), _serial("jobs", _SECOND, _FIRST)]


def _record_two(reliability: Ledger, item: str, bus: Bus, first: Outcome, second: Outcome) -> None:
    """Record one run of the two uploads: the table against the nearer serial order."""
    table = _table(first)
    lost = min(sum(1 for i, row in order.items() if table.get(i) != row) for order in ORDERS)
    stray = sum(1 for i in table if all(i not in order for order in ORDERS))
    extra_loads = max(0, len(first.ledger) - 1) + max(0, len(second.ledger) - 1)
    states = [u.state for out in (first, second) for u in out.uploads]
    reliability.add(
        "events",
        item,
        runs=1,
        uploads=len(states),
        events=bus.stats["events"],
        deliveries=bus.stats["deliveries"],
        same=int(table in ORDERS),
        not_loaded=sum(1 for s in states if s != "loaded"),
        lost=lost,
        duplicates=len(first.table) - len(table) + stray + extra_loads,
    )


def _check_two(first: Outcome, second: Outcome) -> None:
    assert (first.upload.state, second.upload.state) == ("loaded", "loaded")
    assert _table(first) in ORDERS
    assert len(first.ledger) == len(second.ledger) == 1
    assert len(first.table) == len(_table(first))


def _two_uploads(s3: Any, settings: Settings, seed: int) -> tuple[Bus, Outcome, Outcome]:
    warehouse = fresh_warehouse(s3)
    bus = Bus(s3, warehouse, settings, copies=2, seed=seed, interleave=0.5)
    bus.put("raw/jobs/first.csv", _FIRST)
    bus.put("raw/jobs/second.csv", _SECOND)
    bus.run()
    first = outcome(s3, warehouse, settings, "jobs", "raw/jobs/first.csv")
    second = outcome(s3, warehouse, settings, "jobs", "raw/jobs/second.csv")
    warehouse.close()
    return bus, first, second


def test_two_uploads_interleaved_equal_one_serial_order(reliability: Ledger) -> None:
    assert ORDERS[0] != ORDERS[1]
    runs = [_two_uploads(FakeS3(SETTINGS.bucket), SETTINGS, seed) for seed in SEEDS]
    for bus, first, second in runs:
        _record_two(
            reliability,
            "two uploads, same table, overlapping ids, shuffled and interleaved",
            bus,
            first,
            second,
        )
    for _, first, second in runs:
        _check_two(first, second)


def test_two_uploads_interleaved_on_the_local_stack_s3(
    reliability: Ledger, local_s3: LocalS3
) -> None:
    settings = Settings(bucket=local_s3.new_bucket(), chunk_rows=SETTINGS.chunk_rows)
    bus, first, second = _two_uploads(local_s3.s3, settings, seed=0)
    item = "two uploads, same table, overlapping ids, shuffled and interleaved (emulator)"
    _record_two(reliability, item, bus, first, second)
    _check_two(first, second)


class _Threads:
    """Delivers a bus's events on a thread pool, like concurrent Lambda invocations."""

    def __init__(self, bus: Bus, workers: int = 4) -> None:
        self.bus = bus
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=workers)
        self.running = 0
        self.idle = threading.Condition(self.lock)

    def run(self) -> None:
        while True:
            with self.lock:
                while not self.bus.pending and self.running:
                    self.idle.wait()
                if not self.bus.pending:
                    return
                delivery = self.bus.pending.pop(self.bus.rng.randrange(len(self.bus.pending)))
                self.running += 1
            self.pool.submit(self._one, delivery)

    def _one(self, delivery: Delivery) -> None:
        try:
            self.bus.deliver(delivery)
        finally:
            with self.lock:
                self.running -= 1
                self.idle.notify_all()


def test_two_uploads_on_threads_equal_one_serial_order(reliability: Ledger) -> None:
    runs = []
    for round_ in itertools.islice(itertools.count(), 4):
        s3 = FakeS3(SETTINGS.bucket)
        warehouse = fresh_warehouse(s3)
        bus = Bus(s3, warehouse, SETTINGS, copies=2, seed=round_)
        threads = _Threads(bus)
        with threads.lock:
            bus.put("raw/jobs/first.csv", _FIRST)
            bus.put("raw/jobs/second.csv", _SECOND)
        threads.run()
        threads.pool.shutdown()
        first = outcome(s3, warehouse, SETTINGS, "jobs", "raw/jobs/first.csv")
        second = outcome(s3, warehouse, SETTINGS, "jobs", "raw/jobs/second.csv")
        warehouse.close()
        item = "two uploads, same table, overlapping ids, 4 handler threads"
        _record_two(reliability, item, bus, first, second)
        runs.append((first, second))
    for first, second in runs:
        _check_two(first, second)
