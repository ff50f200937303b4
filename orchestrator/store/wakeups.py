"""Waking the serves of a store at once when another process writes work for them.

A serve picks up work other processes wrote (``adhere events put``, ``adhere run --no-wait``) on
its poll tick; a ``Listener`` lets such a write wake it at once instead. The writer, after its
commit, calls ``wake_serves(db)``:

- PostgreSQL: ``NOTIFY adhere_wake`` (one round trip); each serve listens on that channel with a
  dedicated connection. NOTIFY is scoped to the database, so the channel is the address.
- SQLite: a small UDP datagram to each serve on this machine, at the address it recorded in
  ``orchestrators.wake_address`` (``udp:127.0.0.1:PORT``).

Best effort both ways: a lost wake-up only delays the work to the next poll tick, so nothing here
raises into its caller (failures are logged at debug level).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable
from typing import Any

from orchestrator.store import orchestrators
from orchestrator.store.database import Store

log = logging.getLogger(__name__)

CHANNEL = "adhere_wake"
MAGIC = b"adhere-wake"  # the only datagram a SQLite listener acts on (strays are ignored)
UDP = "udp:"
_TICK = 0.2  # seconds a listener's thread waits before looking at its stop flag
_BACKOFF = (0.05, 5.0)  # first and longest wait between reconnection attempts (PostgreSQL)
_NOTIFY = f"SELECT pg_notify('{CHANNEL}', '')"


class Listener:
    """Calls ``callback()`` (from its own thread) whenever another process asks serves of this
    store to wake. A burst of wake-ups is coalesced into one call; the callback should be quick
    (e.g. set an event) and must be thread-safe."""

    def __init__(self, db: Store, callback: Callable[[], None]) -> None:
        self.db = db
        self.callback = callback
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._conn: Any = None  # psycopg.Connection, while connected (PostgreSQL)

    def start(self) -> str | None:
        """Start listening; returns the address to record in ``orchestrators.wake_address``
        (``udp:127.0.0.1:PORT`` on SQLite; None on PostgreSQL, where the channel is the address).
        On PostgreSQL the channel is listened to when this returns, unless the server cannot be
        reached: then the thread keeps trying in the background (the poll tick covers meanwhile)."""
        if self._thread is not None:
            raise RuntimeError("the listener is already started")
        address: str | None = None
        if self.db.is_postgres:
            target: Callable[[], None] = self._listen_postgres
            try:
                self._conn = self._connect()
            except Exception as exc:
                log.debug("cannot listen for wake-ups yet (will retry): %s", exc)
        else:
            target = self._listen_udp
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.bind(("127.0.0.1", 0))
                sock.settimeout(_TICK)
            except BaseException:
                sock.close()
                raise
            self._sock = sock
            host, port = sock.getsockname()
            address = f"{UDP}{host}:{port}"
        self._thread = threading.Thread(target=target, name="adhere-wake-listener", daemon=True)
        self._thread.start()
        return address

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening and join the thread (within ``_TICK`` unless a reconnection attempt is
        under way, which may take up to libpq's ``connect_timeout``)."""
        self._stop.set()
        if self._sock is not None:  # wake the thread now rather than at its next tick
            with contextlib.suppress(OSError):
                self._sock.sendto(b"", self._sock.getsockname())
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None

    # --- SQLite: datagrams ----------------------------------------------------------------------
    def _listen_udp(self) -> None:
        sock = self._sock
        assert sock is not None
        try:
            while not self._stop.is_set():
                try:
                    data = sock.recv(64)
                except TimeoutError:
                    continue
                except OSError as exc:
                    log.debug("wake-up socket: %s", exc)
                    self._stop.wait(_TICK)
                    continue
                if data != MAGIC or self._stop.is_set():
                    continue
                # The rest of the burst is answered by this one call.
                sock.setblocking(False)
                try:
                    while True:
                        sock.recv(64)
                except OSError:  # BlockingIOError: drained
                    pass
                finally:
                    sock.settimeout(_TICK)
                self._call()
        finally:
            sock.close()

    # --- PostgreSQL: LISTEN/NOTIFY ---------------------------------------------------------------
    def _connect(self) -> Any:
        import psycopg

        url = self.db.engine.url
        args: dict[str, Any] = url.translate_connect_args(username="user", database="dbname")
        args.update({k: v for k, v in url.query.items() if isinstance(v, str)})
        args.setdefault("application_name", "adhere-wake-listener")
        args.setdefault("connect_timeout", 5)
        # A peer that vanished without a word (a host down, a NAT forgetting us) is found out by
        # TCP keepalives, not by waiting for notifications that never come.
        for key, value in (
            ("keepalives", 1),
            ("keepalives_idle", 30),
            ("keepalives_interval", 10),
            ("keepalives_count", 3),
        ):
            args.setdefault(key, value)
        conn = psycopg.connect(autocommit=True, **args)
        try:
            conn.execute(f"LISTEN {CHANNEL}")
        except BaseException:
            conn.close()
            raise
        return conn

    def _listen_postgres(self) -> None:
        delay = _BACKOFF[0]
        try:
            while not self._stop.is_set():
                if self._conn is None:
                    try:
                        self._conn = self._connect()
                    except Exception as exc:
                        log.debug("cannot listen for wake-ups (retrying in %.2fs): %s", delay, exc)
                        self._stop.wait(delay)
                        delay = min(delay * 2, _BACKOFF[1])
                        continue
                    delay = _BACKOFF[0]
                    if not self._stop.is_set():
                        self._call()  # work may have been written while we were not listening
                try:
                    self._wait_for_notifies()
                except Exception as exc:
                    log.debug("wake-up connection lost (reconnecting): %s", exc)
                    self._close_conn()
        finally:
            self._close_conn()

    def _wait_for_notifies(self) -> None:
        conn = self._conn
        woken = any(True for _ in conn.notifies(timeout=_TICK, stop_after=1))
        if not woken:
            return
        for _ in conn.notifies(timeout=0):  # the rest of the burst is answered by this one call
            pass
        if not self._stop.is_set():
            self._call()

    def _close_conn(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def _call(self) -> None:
        try:
            self.callback()
        except Exception:
            log.debug("wake-up callback failed", exc_info=True)


def wake_serves(db: Store) -> None:
    """After committing work: wake every live serve of this store. Never raises (a serve that is
    not there sees the work on its next tick). One round trip on PostgreSQL (``pg_notify`` on a
    pooled connection in autocommit); on SQLite one short read of the serves' addresses on this
    machine and one non-blocking datagram to each."""
    try:
        if db.is_postgres:
            _notify(db)
        else:
            _send_datagrams(db)
    except Exception as exc:
        log.debug("could not wake the serves of %s: %s", db.safe_url, exc)


def _notify(db: Store) -> None:
    import sqlalchemy as sa

    with db.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text(_NOTIFY))


def _send_datagrams(db: Store) -> None:
    with db.read(one_statement=True) as tx:
        addresses = orchestrators.wake_addresses(tx, socket.gethostname(), UDP)
    if not addresses:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        for address in addresses:
            try:
                host, _, port = address.removeprefix(UDP).rpartition(":")
                socket.inet_aton(host)  # an IP address only: never a name to resolve on the way
                sock.sendto(MAGIC, (host, int(port)))
            except (OSError, ValueError) as exc:  # a stale or garbled address, a full buffer
                log.debug("could not wake the serve at %s: %s", address, exc)
