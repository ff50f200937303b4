"""The database: the engine, transactions, dialect differences and schema upgrades (alembic).

Store verbs take a ``Tx`` and never commit: whoever opened the transaction (a service
operation, one wake-up of the loop) owns it. Driver errors leave as ``errors.StoreError``.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime as dt
import fcntl
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from orchestrator import errors

if TYPE_CHECKING:
    from orchestrator.settings import Settings
    from orchestrator.store.outbox import Event

HEAD_REVISION = "0009"
_WRITERS: dict[str, threading.Lock] = {}  # Store.queued_writes, by store URL
_DURABLE_COMMIT = sa.text("SET LOCAL synchronous_commit TO ON")


def values(row: Any) -> dict[str, Any]:
    """A row's fields as the parameters of its insert: shallow (``dataclasses.asdict`` would
    deep-copy every JSON value on the way to the driver)."""
    return {field.name: getattr(row, field.name) for field in dataclasses.fields(row)}


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_id(prefix: str) -> str:
    """Glue-style ids: ``jr_``/``wr_`` + 64 hex characters."""
    return f"{prefix}_{secrets.token_hex(32)}"


class Tx:
    """One open transaction. ``consumed`` is set in the loop's transactions: outbox events
    written in them are recorded processed and handed to the scheduler in the same transaction
    (see ``outbox.insert``), instead of being read back."""

    __slots__ = ("conn", "consumed", "execute", "is_postgres")

    def __init__(self, conn: sa.Connection, consumed: list[Event] | None = None) -> None:
        self.conn = conn
        self.execute = conn.execute
        self.is_postgres = conn.dialect.name == "postgresql"
        self.consumed = consumed

    def commit_durably(self) -> None:
        """Make this transaction's commit wait for its WAL to reach the disk, in the loop's
        transactions, which otherwise commit lazily on PostgreSQL (see ``Store.loop_transaction``).
        Being later in the WAL, a durable commit makes every lazy one before it durable too."""
        if self.is_postgres:
            self.execute(_DURABLE_COMMIT)


class Store:
    """An open database: an SQLAlchemy engine with the schema at head."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.url = engine.url.render_as_string(hide_password=False)
        self.is_postgres = engine.dialect.name == "postgresql"
        self._loop_engine: sa.Engine | None = None

    @classmethod
    def open(cls, settings: Settings, *, upgrade: bool = True) -> Store:
        if not settings.db_url:
            try:
                settings.home.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise errors.StoreError(f"cannot create the project folder {settings.home}: {exc.strerror}") from exc
        return cls.open_url(settings.database_url, upgrade=upgrade)

    @classmethod
    def open_url(cls, url: str, *, upgrade: bool = True) -> Store:
        store = None
        try:
            store = cls(_create_engine(url))
            if upgrade:
                store.upgrade(only_if_needed=True)
            return store
        except BaseException as exc:
            if store is not None:
                store.close()  # no connection is left open behind an error
            mapped = _open_error(url, exc)
            if mapped is exc:
                raise
            raise mapped from exc

    @property
    def safe_url(self) -> str:
        return safe_url(self.url)

    def close(self) -> None:
        self.engine.dispose()
        if self._loop_engine is not None:
            self._loop_engine.dispose()

    def revision(self) -> str | None:
        with self.engine.connect() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()

    def upgrade(self, only_if_needed: bool = False) -> bool:
        """Bring the schema to head with alembic (the only way the schema changes)."""
        if only_if_needed and self.revision() == HEAD_REVISION:
            return False
        from alembic import command
        from alembic.config import Config
        from alembic.util.exc import CommandError

        cfg = Config(str(Path(__file__).resolve().parents[2] / "migrations" / "alembic.ini"))
        try:
            with self._migration_lock(), self.engine.begin() as conn:
                if self.is_postgres:
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(4242001)"))
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except CommandError:  # a revision alembic does not know: a newer adhere wrote this store
            raise errors.StoreError(
                f"the store at {self.safe_url} is at revision {self.revision()}, newer than this adhere knows "
                f"(its newest is {HEAD_REVISION}): upgrade adhere to use it"
            ) from None
        return True

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        path = self.engine.url.database if self.engine.dialect.name == "sqlite" else None
        if not path or path == ":memory:":
            yield
            return
        with open(f"{path}.migrate.lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            yield

    @contextlib.contextmanager
    def transaction(self, consumed: list[Event] | None = None) -> Iterator[Tx]:
        """One write transaction (BEGIN IMMEDIATE on SQLite, so writers queue instead of failing)."""
        try:
            with self.engine.begin() as conn:
                yield Tx(conn, consumed)
        except sa_exc.OperationalError as exc:
            raise errors.StoreError(f"store error: {exc.orig}") from exc
        except sa_exc.DataError as exc:  # a value the database cannot hold
            raise errors.InvalidInputException(f"the store refused a value: {exc.orig}") from exc

    @contextlib.contextmanager
    def statements(self) -> Iterator[collections.Counter[str]]:
        """Count the statements sent meanwhile, by their first word (for benchmarks: how many
        round trips a piece of work costs), on both of this store's connections."""
        counts: collections.Counter[str] = collections.Counter()

        def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            counts[statement.split(None, 1)[0].upper()] += 1

        engines = [self.engine, self._loop()] if self.is_postgres else [self.engine]
        for engine in engines:
            sa.event.listen(engine, "before_cursor_execute", count)
        try:
            yield counts
        finally:
            for engine in engines:
                sa.event.remove(engine, "before_cursor_execute", count)

    def _loop(self) -> sa.Engine:
        if self._loop_engine is None:
            self._loop_engine = sa.create_engine(
                self.engine.url, pool_size=1, connect_args={"options": "-c synchronous_commit=off"}
            )
        return self._loop_engine

    @contextlib.contextmanager
    def loop_transaction(self, consumed: list[Event] | None = None) -> Iterator[Tx]:
        """One transaction of the orchestrator loop. On PostgreSQL it runs on a connection of its
        own: not pinged before each use (a lost connection fails the wake-up, which the loop
        tries again), and committing lazily (``synchronous_commit = off``) unless the duties
        call ``Tx.commit_durably``: most wake-ups record only what a crash of the database
        server leaves to be found again in the run folders (a run's end, its start)."""
        if not self.is_postgres:
            with self.transaction(consumed) as tx:
                yield tx
            return
        try:
            with self._loop().begin() as conn:
                yield Tx(conn, consumed)
        except sa_exc.OperationalError as exc:
            raise errors.StoreError(f"store error: {exc.orig}") from exc
        except sa_exc.DataError as exc:
            raise errors.InvalidInputException(f"the store refused a value: {exc.orig}") from exc

    def queued_writes(self) -> contextlib.AbstractContextManager[Any]:
        """On SQLite, writers of one process that come in bursts (a serve's PutEvents workers)
        queue here for the write lock, each woken as soon as the one before commits; in SQLite's
        busy handler they would poll with sleeps growing to 100 ms. Nothing on PostgreSQL."""
        if self.is_postgres:
            return contextlib.nullcontext()
        return _WRITERS.setdefault(self.url, threading.Lock())

    @contextlib.contextmanager
    def read(self, *, one_statement: bool = False) -> Iterator[Tx]:
        """A read-only snapshot (a deferred transaction on SQLite: it takes no write lock).
        ``one_statement``: the reads are a single statement, consistent on its own, so no
        transaction is opened around it (on PostgreSQL, two round trips fewer)."""
        try:
            conn = self.engine.connect()
            if one_statement:  # SQLite's connections are in autocommit until we say BEGIN
                conn = conn.execution_options(adhere_autocommit=True, **(
                    {"isolation_level": "AUTOCOMMIT"} if self.is_postgres else {}))
            with conn.execution_options(adhere_read_only=True) as conn:
                yield Tx(conn)
        except sa_exc.OperationalError as exc:
            raise errors.StoreError(f"store error: {exc.orig}") from exc


def _open_error(url: str, exc: BaseException) -> BaseException:
    """What opening a store raises, in words a user can act on (others pass unchanged)."""
    if isinstance(exc, sa_exc.OperationalError):
        return errors.StoreError(f"cannot open the store at {safe_url(url)}: {exc.orig}")
    if isinstance(exc, sa_exc.ArgumentError):
        return errors.StoreError(f"bad database URL {safe_url(url)}: {exc}")
    if isinstance(exc, OSError):
        return errors.StoreError(f"cannot open the store at {safe_url(url)}: {exc.strerror or exc}")
    if isinstance(exc, ModuleNotFoundError):
        hint = " (pip install 'adhere[postgres]')" if "psycopg" in str(exc) else ""
        return errors.StoreError(f"no driver for {safe_url(url)}: {exc}{hint}")
    return exc


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        return url


def _wal(cursor: Any, wait: float = 60.0) -> None:
    """Switch the database to WAL. SQLite answers "database is locked" at once, without its busy
    handler, while another connection holds a lock on a database not yet in WAL mode (processes
    opening a new store together): wait for it as for any other lock."""
    deadline = time.monotonic() + wait
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except Exception as exc:  # sqlite3.OperationalError
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _create_engine(url: str) -> sa.Engine:
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            _wal(cur)
            # NORMAL in WAL mode survives a killed process (not a power cut) at a fraction of FULL's cost.
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            # Writers take the lock up front (no deadlock on upgrade); readers never block writers.
            options = conn.get_execution_options()
            if options.get("adhere_autocommit"):
                return  # one statement, on its own
            conn.exec_driver_sql("BEGIN" if options.get("adhere_read_only") else "BEGIN IMMEDIATE")

        return engine
    engine = sa.create_engine(url)

    @sa.event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        # pool_pre_ping's round trip on every checkout cost a fifth of a point read; a connection
        # in steady use needs none. One idle for a while may have been dropped by the server (a
        # restart, an idle timeout): test it, and let the pool replace it if it is gone.
        now = time.monotonic()
        last, record.info["adhere_used"] = record.info.get("adhere_used", now), now
        if now - last > _IDLE_PING:
            try:
                dbapi_conn.cursor().execute("SELECT 1")
                dbapi_conn.rollback()
            except Exception as exc:
                raise sa_exc.DisconnectionError(str(exc)) from exc

    return engine


_IDLE_PING = 5.0  # seconds a pooled PostgreSQL connection may sit unused before it is tested


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database ``url`` names when it does not exist (benchmarks' stores);
    nothing for other databases."""
    target = sa.engine.make_url(url)
    if not target.drivername.startswith("postgresql"):
        return
    engine = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}).first():
                return
            conn.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
    finally:
        engine.dispose()
