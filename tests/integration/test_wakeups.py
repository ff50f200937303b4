"""Waking serves at once across processes (``store.wakeups``): LISTEN/NOTIFY on PostgreSQL, a UDP
datagram to each serve of this machine on SQLite. Real stores of both kinds (the ``db`` fixture),
a second ``Store`` on the same URL as the writer, and once a separate Python process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
import sqlalchemy as sa

from orchestrator import store
from orchestrator.store import wakeups

LATENCY = 0.2  # seconds from wake_serves to the callback
QUIET = 0.3  # seconds of silence that show a wake-up did not come
HERE = socket.gethostname()
REPO = Path(__file__).resolve().parents[2]


class Calls:
    """A listener's callback: when each call came (``time.monotonic()``)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.times: list[float] = []
        self.delay = delay
        self._cond = threading.Condition()

    def __call__(self) -> None:
        with self._cond:
            self.times.append(time.monotonic())
            self._cond.notify_all()
        if self.delay:
            time.sleep(self.delay)

    def __len__(self) -> int:
        with self._cond:
            return len(self.times)

    def wait_for(self, count: int, timeout: float) -> float | None:
        """When call ``count`` came (None if it did not within ``timeout``)."""
        with self._cond:
            self._cond.wait_for(lambda: len(self.times) >= count, timeout)
            return self.times[count - 1] if len(self.times) >= count else None


FreshDatabase = Callable[[str, Path], AbstractContextManager[str]]


@pytest.fixture
def writer(db: store.Store) -> Iterator[store.Store]:
    """Another ``Store`` on the same database, as another process would open it."""
    other = store.Store.open_url(db.url, upgrade=False)
    try:
        yield other
    finally:
        other.close()


def _open(backend: str, tmp_path: Path, fresh_db_url: FreshDatabase) -> Iterator[store.Store]:
    with fresh_db_url(backend, tmp_path) as url:
        opened = store.Store.open_url(url, upgrade=False)
        try:
            yield opened
        finally:
            opened.close()


@pytest.fixture
def sqlite_db(tmp_path: Path, fresh_db_url: FreshDatabase) -> Iterator[store.Store]:
    yield from _open("sqlite", tmp_path, fresh_db_url)


@pytest.fixture
def pg_db(tmp_path: Path, fresh_db_url: FreshDatabase) -> Iterator[store.Store]:
    yield from _open("postgres", tmp_path, fresh_db_url)


def _listen(db: store.Store, calls: Calls, orchestrator_id: str = "serve-1") -> wakeups.Listener:
    """A started listener, registered as a serve of this machine (as ``adhere serve`` would)."""
    listener = wakeups.Listener(db, calls)
    address = listener.start()
    assert (address is None) == db.is_postgres
    with db.transaction() as tx:
        store.orchestrators.register(
            tx, orchestrator_id, HERE, os.getpid(), serving=True, wake_address=address
        )
    return listener


@pytest.fixture
def listening(db: store.Store) -> Iterator[tuple[wakeups.Listener, Calls]]:
    calls = Calls()
    listener = _listen(db, calls)
    try:
        yield listener, calls
    finally:
        listener.stop()


def _wake(writer: store.Store, calls: Calls) -> float:
    """Wake the serves; returns the latency of the next callback (fails the test without one)."""
    count = len(calls) + 1
    sent = time.monotonic()
    wakeups.wake_serves(writer)
    came = calls.wait_for(count, timeout=5.0)
    assert came is not None, "no wake-up arrived"
    return came - sent


def test_a_write_elsewhere_wakes_the_serve_at_once(
    listening: tuple[wakeups.Listener, Calls], writer: store.Store
) -> None:
    _, calls = listening
    latencies = sorted(_wake(writer, calls) for _ in range(5))
    assert latencies[-1] < LATENCY, latencies
    time.sleep(QUIET)
    assert len(calls) == 5  # one call per wake-up, none spurious


def test_a_wake_from_another_process(
    listening: tuple[wakeups.Listener, Calls], db: store.Store
) -> None:
    _, calls = listening
    script = (
        "import sys, time\n"
        "from orchestrator import store\n"
        "db = store.Store.open_url(sys.argv[1], upgrade=False)\n"
        "with db.read() as tx:\n"  # connected first: the wake itself is what is timed
        "    store.orchestrators.find(tx)\n"
        "print(time.time(), flush=True)\n"
        "store.wakeups.wake_serves(db)\n"
        "db.close()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, db.url],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    sent = float(done.stdout.split()[-1])
    came = calls.wait_for(1, timeout=5.0)
    assert came is not None, "no wake-up arrived from the other process"
    latency = came - time.monotonic() + time.time() - sent  # monotonic -> wall clock
    assert latency < LATENCY, latency


def test_a_burst_is_coalesced(db: store.Store, writer: store.Store) -> None:
    calls = Calls(delay=0.1)  # a slow callback: the wake-ups meanwhile queue up
    listener = _listen(db, calls)
    try:
        for _ in range(20):
            wakeups.wake_serves(writer)
        assert calls.wait_for(1, timeout=5.0) is not None
        time.sleep(QUIET + 0.1)
        assert 1 <= len(calls) <= 4, len(calls)
    finally:
        listener.stop()


@pytest.mark.parametrize(
    ("host", "serving"), [("elsewhere", True), (HERE, False)], ids=["other-host", "not-serving"]
)
def test_only_serves_of_this_machine_are_sent_datagrams(
    sqlite_db: store.Store, host: str, serving: bool
) -> None:
    """On SQLite (on PostgreSQL every listener of the database hears the channel)."""
    writer = sqlite_db
    calls = Calls()
    listener = wakeups.Listener(writer, calls)
    address = listener.start()
    try:
        with writer.transaction() as tx:
            store.orchestrators.register(tx, "o", host, 1, serving=serving, wake_address=address)
        wakeups.wake_serves(writer)
        time.sleep(QUIET)
        assert len(calls) == 0
        with writer.transaction() as tx:  # the same listener, recorded as a serve of this machine
            store.orchestrators.register(tx, "serve", HERE, 2, serving=True, wake_address=address)
        assert _wake(writer, calls) < LATENCY
    finally:
        listener.stop()


def test_a_wake_address_can_be_recorded_after_registering(
    db: store.Store, writer: store.Store
) -> None:
    calls = Calls()
    listener = wakeups.Listener(db, calls)
    with db.transaction() as tx:
        store.orchestrators.register(tx, "serve", HERE, os.getpid(), serving=True)
    with db.read() as tx:
        [row] = store.orchestrators.find(tx)
    assert row.wake_address is None
    address = listener.start()
    try:
        with db.transaction() as tx:
            store.orchestrators.set_wake_address(tx, "serve", address)
        with db.read() as tx:
            [row] = store.orchestrators.find(tx)
        assert row.wake_address == address
        assert _wake(writer, calls) < LATENCY
    finally:
        listener.stop()


def test_stray_datagrams_are_ignored(sqlite_db: store.Store) -> None:
    db = sqlite_db
    calls = Calls()
    listener = _listen(db, calls)
    try:
        _send_strays(db)
        time.sleep(QUIET)
        assert len(calls) == 0
    finally:
        listener.stop()


def _send_strays(db: store.Store) -> None:
    with db.read() as tx:
        [address] = store.orchestrators.wake_addresses(tx, HERE, wakeups.UDP)
    host, _, port = address.removeprefix(wakeups.UDP).rpartition(":")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for junk in (b"", b"hello", wakeups.MAGIC + b"x", b"x" * 2000):
            sock.sendto(junk, (host, int(port)))


def test_stop_is_prompt_and_final(db: store.Store, writer: store.Store) -> None:
    calls = Calls()
    listener = _listen(db, calls)
    assert _wake(writer, calls) < LATENCY
    time.sleep(0.05)
    began = time.monotonic()
    listener.stop()
    assert time.monotonic() - began < 1.0
    wakeups.wake_serves(writer)  # the address is stale now: nothing hears it, nothing raises
    time.sleep(QUIET)
    assert len(calls) == 1


def test_waking_never_raises(db: store.Store, tmp_path: Path) -> None:
    """Nobody listening, stale or garbled addresses, a store that fails the query: no error."""
    wakeups.wake_serves(db)
    with db.transaction() as tx:
        for i, address in enumerate(
            ["udp:127.0.0.1:1", "udp:127.0.0.1:notaport", "udp:", "udp:no.such.host.invalid:9"]
        ):
            store.orchestrators.register(tx, f"o{i}", HERE, i, serving=True, wake_address=address)
    wakeups.wake_serves(db)
    broken = store.Store(sa.create_engine(f"sqlite:///{tmp_path / 'no-schema.db'}"))
    try:
        wakeups.wake_serves(broken)
    finally:
        broken.close()
    if db.is_postgres:
        url = sa.engine.make_url(db.url).set(host="127.0.0.1", port=1)
        unreachable = store.Store(sa.create_engine(url))
        try:
            wakeups.wake_serves(unreachable)
        finally:
            unreachable.close()


_LISTENER_BACKENDS = sa.text(
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query = :query"
)


@pytest.mark.postgres
def test_a_lost_listener_connection_is_reopened(pg_db: store.Store) -> None:
    db = writer = pg_db
    calls = Calls()
    listener = _listen(db, calls)
    try:
        with writer.engine.connect() as conn:
            pids = conn.execute(_LISTENER_BACKENDS, {"query": f"LISTEN {wakeups.CHANNEL}"})
            [pid] = pids.scalars().all()
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        # Reconnected, it wakes its serve once (work may have been written meanwhile)...
        assert calls.wait_for(1, timeout=5.0) is not None
        with writer.engine.connect() as conn:
            [new_pid] = conn.execute(
                _LISTENER_BACKENDS, {"query": f"LISTEN {wakeups.CHANNEL}"}
            ).scalars()
        assert new_pid != pid
        # ... and listens again.
        assert _wake(writer, calls) < LATENCY
    finally:
        listener.stop()
