"""S3 events delivered twice, shuffled and interleaved; two uploads of one table at once.

S3 delivers notifications at least once and in no particular order, and Lambdas run side by
side. Whatever the order, the final table, the upload's counts and its rejected report must be
those of one in-order delivery (and the oracle's); with two uploads of the same table, the table
must equal one of the two serial orders.
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
from tests.reliability.harness import Bus, Delivery, check, fresh_warehouse, outcome
from tests.reliability.oracle import expect

if TYPE_CHECKING:
    from tests.reliability.harness import Outcome
    from tests.reliability.ledger import Ledger

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
_BASELINES: dict[str, Outcome] = {}
_IGNORED = {"upload_id", "created_at", "updated_at", "source_etag", "extra"}


def deliver(table: str, data: bytes, **knobs: Any) -> tuple[Outcome, Bus]:
    s3 = FakeS3(SETTINGS.bucket)
    warehouse = fresh_warehouse(s3)
    bus = Bus(s3, warehouse, SETTINGS, **knobs)
    key = f"raw/{table}/events.csv"
    bus.put(key, data)
    bus.run()
    out = outcome(s3, warehouse, SETTINGS, table, key)
    warehouse.close()
    return out, bus


def final_state(out: Outcome) -> tuple[Any, ...]:
    upload = {k: v for k, v in vars(out.upload).items() if k not in _IGNORED}
    return upload, out.report, sorted(out.table), len(out.ledger)


@pytest.mark.parametrize(
    ("mode", "knobs"),
    [
        ("every event twice, shuffled", {"copies": 2}),
        ("every event three times, shuffled", {"copies": 3}),
        ("twice, shuffled, interleaved inside handlers", {"copies": 2, "interleave": 0.5}),
    ],
)
@pytest.mark.parametrize(("name", "table", "data"), FILES, ids=[f[0] for f in FILES])
def test_replayed_and_shuffled_events_reach_the_same_final_state(
    reliability: Ledger, mode: str, knobs: dict[str, Any], name: str, table: str, data: bytes
) -> None:
    expected = expect(table, data)
    if name not in _BASELINES:
        _BASELINES[name], _ = deliver(table, data)
    baseline = _BASELINES[name]
    check(expected, baseline)
    nested = 0
    for seed in SEEDS:
        out, bus = deliver(table, data, seed=seed, **knobs)
        figures = check(expected, out)
        same = final_state(out) == final_state(baseline)
        assert same, (seed, final_state(out), final_state(baseline))
        assert not bus.dropped and bus.stats["retries"] == 0
        nested += bus.stats["nested"]
        reliability.add(
            "events",
            mode,
            uploads=1,
            events=bus.stats["events"],
            deliveries=bus.stats["deliveries"],
            same=same,
            lost=figures["lost"],
            duplicates=figures["duplicates"],
        )
    if knobs.get("interleave") and expected.rows_total:
        assert nested > 0  # handlers really did run inside other handlers


def _serial(table: str, *files: bytes) -> dict[int, tuple[Any, ...]]:
    final: dict[int, tuple[Any, ...]] = {}
    for data in files:
        final.update(expect(table, data).final)
    return final


_FIRST = b"".join(b"%d,first %d\n" % (i, i) for i in range(1, 13)) + b"3,first again\n"
_SECOND = b"".join(b"%d,second %d\n" % (i, i) for i in range(7, 19)) + b"x,bad\n"


def _table(out: Outcome) -> dict[int, tuple[Any, ...]]:
    return {row[0]: row for row in out.table}


def test_two_uploads_interleaved_equal_one_serial_order(reliability: Ledger) -> None:
    orders = [_serial("jobs", _FIRST, _SECOND), _serial("jobs", _SECOND, _FIRST)]
    assert orders[0] != orders[1]
    for seed in SEEDS:
        s3 = FakeS3(SETTINGS.bucket)
        warehouse = fresh_warehouse(s3)
        bus = Bus(s3, warehouse, SETTINGS, copies=2, seed=seed, interleave=0.5)
        bus.put("raw/jobs/first.csv", _FIRST)
        bus.put("raw/jobs/second.csv", _SECOND)
        bus.run()
        first = outcome(s3, warehouse, SETTINGS, "jobs", "raw/jobs/first.csv")
        second = outcome(s3, warehouse, SETTINGS, "jobs", "raw/jobs/second.csv")
        warehouse.close()
        assert (first.upload.state, second.upload.state) == ("loaded", "loaded")
        assert _table(first) in orders
        assert len(first.ledger) == len(second.ledger) == 1
        reliability.add(
            "events",
            "two uploads, same table, overlapping ids, shuffled and interleaved",
            uploads=2,
            events=bus.stats["events"],
            deliveries=bus.stats["deliveries"],
            same=True,
            lost=0,
            duplicates=len(first.table) - len(_table(first)),
        )


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
    orders = [_serial("jobs", _FIRST, _SECOND), _serial("jobs", _SECOND, _FIRST)]
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
        assert (first.upload.state, second.upload.state) == ("loaded", "loaded")
        table = _table(first)
        assert table in orders
        reliability.add(
            "events",
            "two uploads, same table, overlapping ids, 4 handler threads",
            uploads=2,
            same=True,
            lost=0,
            duplicates=len(first.table) - len(table),
        )
