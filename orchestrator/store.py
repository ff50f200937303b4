"""The store: the one place state lives (SQLAlchemy 2; SQLite by default, PostgreSQL in production).

Store functions take the caller's transaction and never commit; ``orchestrator.service``
owns transactions. State changes are conditional updates that check the row count, so
the database, not the code path, enforces the transition table.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import secrets
import threading
from collections.abc import Iterable, Iterator, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from orchestrator import errors, models, states
from orchestrator.settings import Settings

HEAD_REVISION = "0002"
Tx = sa.Connection


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_id(prefix: str) -> str:
    """Glue-style ids: ``jr_``/``wr_`` + 64 hex characters."""
    return f"{prefix}_{secrets.token_hex(32)}"


class Store:
    """An open database: an SQLAlchemy engine with the schema at head."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.url = engine.url.render_as_string(hide_password=False)
        self.is_postgres = engine.dialect.name == "postgresql"
        self._local = threading.local()

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
        try:
            engine = _create_engine(url)
            store = cls(engine)
            if upgrade:
                store.upgrade(only_if_needed=True)
        except sa_exc.OperationalError as exc:
            raise errors.StoreError(f"cannot open the store at {_safe(url)}: {exc.orig}") from exc
        except sa_exc.ArgumentError as exc:
            raise errors.StoreError(f"bad database URL {_safe(url)}: {exc}") from exc
        except OSError as exc:
            raise errors.StoreError(f"cannot open the store at {_safe(url)}: {exc.strerror or exc}") from exc
        except ModuleNotFoundError as exc:
            hint = " (pip install 'adhere[postgres]')" if "psycopg" in str(exc) else ""
            raise errors.StoreError(f"no driver for {_safe(url)}: {exc}{hint}") from exc
        return store

    def close(self) -> None:
        self.engine.dispose()

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

        cfg = Config(str(Path(__file__).resolve().parent.parent / "migrations" / "alembic.ini"))
        with self._migration_lock(), self.engine.begin() as conn:
            if self.is_postgres:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(4242001)"))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
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
    def transaction(self) -> Iterator[Tx]:
        """One write transaction (BEGIN IMMEDIATE on SQLite, so writers queue instead of failing)."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except sa_exc.OperationalError as exc:
            raise errors.StoreError(f"store error: {exc.orig}") from exc

    @contextlib.contextmanager
    def read(self) -> Iterator[Tx]:
        """A read-only snapshot (a deferred transaction on SQLite: it takes no write lock)."""
        try:
            with self.engine.connect().execution_options(adhere_read_only=True) as conn:
                yield conn
        except sa_exc.OperationalError as exc:
            raise errors.StoreError(f"store error: {exc.orig}") from exc


def _safe(url: str) -> str:
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        return url


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
            cur.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a killed process (not a power cut) at a fraction of FULL's cost.
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            # Writers take the lock up front (no deadlock on upgrade); readers never block writers.
            read_only = conn.get_execution_options().get("adhere_read_only", False)
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


# --- prebuilt statements -------------------------------------------------------------------
# Hot paths execute statements built once with bind parameters: building a SQLAlchemy
# statement per call costs several times what SQLite spends running it.

_BP = sa.bindparam
_jr = models.job_runs
_ev = models.events
_SELECT_JOB_RUN = sa.select(_jr).where(_jr.c.id == _BP("_id"))
_UPDATE_JOB_RUN = sa.update(_jr).where(_jr.c.id == _BP("_id"))
_SET_JOB_RUN_STATE = _UPDATE_JOB_RUN.where(_jr.c.state.in_(_BP("_allowed", expanding=True)))
_COUNT_JOB_RUNS = sa.select(sa.func.count()).where(
    _jr.c.job_name == _BP("_job"), _jr.c.state.in_(_BP("_states", expanding=True))
)
_INSERT_JOB_RUN = sa.insert(_jr)
_INSERT_EVENT = sa.insert(_ev)
_UNPROCESSED = sa.select(_ev).where(_ev.c.processed.is_(False)).order_by(_ev.c.id).limit(_BP("_limit"))
_UNPROCESSED_IN_SCOPE = _UNPROCESSED.where(
    sa.or_(_ev.c.workflow_run_id == _BP("_scope"), _ev.c.job_run_id == _BP("_scope"))
)
_MARK_PROCESSED = sa.update(_ev).where(_ev.c.id.in_(_BP("_ids", expanding=True)))
_INSERT_NOTIFICATION = sa.insert(models.notifications)
_STATE_ALLOWED = {
    target: [s.value for s in states.allowed_from(states.JOB_RUN_TRANSITIONS, target)]
    for target in states.JobRunState
}


# --- definitions -------------------------------------------------------------------------

_DEFINITION_TABLES = {
    "job": models.jobs,
    "crawler": models.crawlers,
    "workflow": models.workflows,
    "trigger": models.triggers,
}


def get_definition(tx: Tx, kind: str, name: str) -> dict[str, Any] | None:
    row = tx.execute(_SELECT_DEFINITION[kind], {"_name": name}).mappings().first()
    return dict(row) if row else None


def get_definitions(tx: Tx, kind: str, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Several definitions in one query (a trigger's actions), by name; missing ones are absent."""
    wanted = sorted(set(names))
    if not wanted:
        return {}
    rows = tx.execute(_SELECT_DEFINITIONS[kind], {"_names": wanted}).mappings()
    return {row["name"]: dict(row) for row in rows}


_SELECT_DEFINITION = {
    kind: sa.select(table).where(table.c.name == _BP("_name"))
    for kind, table in _DEFINITION_TABLES.items()
}
_SELECT_DEFINITIONS = {
    kind: sa.select(table).where(table.c.name.in_(_BP("_names", expanding=True)))
    for kind, table in _DEFINITION_TABLES.items()
}


def list_definitions(tx: Tx, kind: str, **where: Any) -> list[dict[str, Any]]:
    table = _DEFINITION_TABLES[kind]
    query = sa.select(table).order_by(table.c.name)
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    return [dict(r) for r in tx.execute(query).mappings()]


def upsert_definition(tx: Tx, kind: str, name: str, values: Mapping[str, Any]) -> str:
    """Create or replace a definition; returns "created", "updated" or "unchanged"."""
    table = _DEFINITION_TABLES[kind]
    current = get_definition(tx, kind, name)
    stamp = now()
    if current is None:
        tx.execute(
            sa.insert(table).values(name=name, created_on=stamp, last_modified_on=stamp, **values)
        )
        return "created"
    if all(current.get(k) == v for k, v in values.items()):
        return "unchanged"
    tx.execute(
        sa.update(table).where(table.c.name == name).values(last_modified_on=stamp, **values)
    )
    return "updated"


def delete_definition(tx: Tx, kind: str, name: str) -> bool:
    table = _DEFINITION_TABLES[kind]
    return tx.execute(sa.delete(table).where(table.c.name == name)).rowcount > 0


def lock_definition(tx: Tx, kind: str, name: str) -> None:
    """Serialise admission decisions on one job/workflow across processes (PostgreSQL row lock)."""
    if tx.dialect.name == "postgresql":
        table = _DEFINITION_TABLES[kind]
        tx.execute(sa.select(table.c.name).where(table.c.name == name).with_for_update())


# --- workflow runs -----------------------------------------------------------------------


def insert_workflow_run(tx: Tx, **values: Any) -> None:
    tx.execute(sa.insert(models.workflow_runs).values(**values))


def get_workflow_run(tx: Tx, run_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
    t = models.workflow_runs
    query = sa.select(t).where(t.c.id == run_id)
    if for_update and tx.dialect.name == "postgresql":
        query = query.with_for_update()
    row = tx.execute(query).mappings().first()
    return dict(row) if row else None


def get_workflow_run_status(tx: Tx, run_id: str) -> str | None:
    t = models.workflow_runs
    return tx.execute(sa.select(t.c.status).where(t.c.id == run_id)).scalar()


def list_workflow_runs(
    tx: Tx, workflow_name: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    t = models.workflow_runs
    query = sa.select(t).order_by(t.c.started_on.desc()).limit(limit)
    if workflow_name:
        query = query.where(t.c.workflow_name == workflow_name)
    return [dict(r) for r in tx.execute(query).mappings()]


def count_workflow_runs(tx: Tx, workflow_name: str, statuses: Iterable[str]) -> int:
    t = models.workflow_runs
    query = sa.select(sa.func.count()).where(
        t.c.workflow_name == workflow_name, t.c.status.in_(list(statuses))
    )
    return int(tx.execute(query).scalar_one())


def set_workflow_run_status(
    tx: Tx, run_id: str, target: states.WorkflowRunStatus, **values: Any
) -> bool:
    t = models.workflow_runs
    allowed = states.allowed_from(states.WORKFLOW_RUN_TRANSITIONS, target)
    result = tx.execute(
        sa.update(t)
        .where(t.c.id == run_id, t.c.status.in_([s.value for s in allowed]))
        .values(status=target.value, **values)
    )
    return result.rowcount == 1


def update_workflow_run(tx: Tx, run_id: str, **values: Any) -> None:
    t = models.workflow_runs
    tx.execute(sa.update(t).where(t.c.id == run_id).values(**values))


# --- job runs ----------------------------------------------------------------------------


def insert_job_run(tx: Tx, **values: Any) -> None:
    stamp = values.setdefault("created_on", now())
    values.setdefault("last_modified_on", stamp)
    for key, default in (
        ("arguments", {}),
        ("options", {}),
        ("predecessor_runs", []),
        ("notified_states", []),
    ):
        values.setdefault(key, default)
    tx.execute(_INSERT_JOB_RUN, values)


def get_job_run(tx: Tx, run_id: str) -> dict[str, Any] | None:
    row = tx.execute(_SELECT_JOB_RUN, {"_id": run_id}).mappings().first()
    return dict(row) if row else None


def job_runs_where(
    tx: Tx, *clauses: Any, order: Any = None, limit: int | None = None
) -> list[dict[str, Any]]:
    t = models.job_runs
    query = sa.select(t).where(*clauses).order_by(order if order is not None else t.c.created_on)
    if limit:
        query = query.limit(limit)
    return [dict(r) for r in tx.execute(query).mappings()]


def count_active_job_runs(tx: Tx, job_name: str, states_: Iterable[str]) -> int:
    return int(
        tx.execute(_COUNT_JOB_RUNS, {"_job": job_name, "_states": list(states_)}).scalar_one()
    )


def set_job_run_state(
    tx: Tx,
    run_id: str,
    target: states.JobRunState,
    *,
    expect: Sequence[str] | None = None,
    **values: Any,
) -> bool:
    """Move a run to ``target`` if the transition table allows it from its current state."""
    values["last_modified_on"] = values.pop("stamp", None) or now()
    values["state"] = target.value
    params = {"_id": run_id, "_allowed": list(expect or _STATE_ALLOWED[target]), **values}
    return tx.execute(_SET_JOB_RUN_STATE, params).rowcount == 1


def update_job_run(tx: Tx, run_id: str, **values: Any) -> int:
    values.setdefault("last_modified_on", now())
    return tx.execute(_UPDATE_JOB_RUN, {"_id": run_id, **values}).rowcount


# --- trigger firings, events, notifications ----------------------------------------------


def record_firing(tx: Tx, scope: str, trigger_name: str) -> bool:
    """Record that a trigger fired in a scope; False if it already had (the unique key decides)."""
    statement = _FIRING.get(tx.dialect.name)
    if statement is None:
        insert = sqlite_insert if tx.dialect.name == "sqlite" else pg_insert
        # RETURNING, not rowcount: psycopg reports rowcount -1 for this INSERT, so on
        # PostgreSQL every firing looked like a duplicate and no trigger ever fired.
        statement = _FIRING[tx.dialect.name] = (
            insert(models.trigger_firings)
            .on_conflict_do_nothing()
            .returning(models.trigger_firings.c.id)
        )
    params = {"scope": scope, "trigger_name": trigger_name, "fired_on": now()}
    return tx.execute(statement, params).first() is not None


_FIRING: dict[str, Any] = {}


def fired_triggers(tx: Tx, scope: str) -> set[str]:
    t = models.trigger_firings
    return set(tx.execute(sa.select(t.c.trigger_name).where(t.c.scope == scope)).scalars())


def insert_event(
    tx: Tx,
    kind: str,
    *,
    workflow_run_id: str | None = None,
    job_run_id: str | None = None,
    payload: Mapping[str, Any] | None = None,
    processed: bool = False,
) -> None:
    tx.execute(
        _INSERT_EVENT,
        {
            "kind": kind,
            "workflow_run_id": workflow_run_id,
            "job_run_id": job_run_id,
            "payload": dict(payload or {}),
            "created_on": now(),
            "processed": processed,
        },
    )


def claim_events(tx: Tx, limit: int = 500, scope: str | None = None) -> list[dict[str, Any]]:
    """Unprocessed events (of one workflow or job run with ``scope``), locked for this
    transaction: SKIP LOCKED lets several schedulers share the outbox on PostgreSQL."""
    query = _UNPROCESSED_IN_SCOPE if scope else _UNPROCESSED
    if tx.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return [dict(r) for r in tx.execute(query, {"_limit": limit, "_scope": scope}).mappings()]


def mark_events_processed(tx: Tx, ids: Sequence[int]) -> None:
    if ids:
        tx.execute(_MARK_PROCESSED, {"_ids": list(ids), "processed": True})


def has_unprocessed_events(tx: Tx) -> bool:
    t = models.events
    return (
        tx.execute(sa.select(t.c.id).where(t.c.processed.is_(False)).limit(1)).first() is not None
    )


def insert_notification(tx: Tx, **values: Any) -> None:
    tx.execute(_INSERT_NOTIFICATION, values)


def record_deliveries(
    tx: Tx, results: Iterable[tuple[str, str, Mapping[str, Any]]],
    known: MutableMapping[str, dict[str, Any]] | None = None,
) -> None:
    """Merge (notification id, sink, result) outcomes into their notifications' ``deliveries``.

    ``known`` holds the deliveries of notifications the caller recorded itself (it is their only
    writer): those are not read back, and it is kept up to date.
    """
    by_id: dict[str, dict[str, Any]] = {}
    for notification_id, sink, result in results:
        by_id.setdefault(notification_id, {})[sink] = dict(result)
    if not by_id:
        return
    known = {} if known is None else known
    current = {nid: known[nid] for nid in by_id if nid in known}
    if missing := [nid for nid in by_id if nid not in known]:
        current.update(tx.execute(sa.select(_nt.c.id, _nt.c.deliveries).where(_nt.c.id.in_(missing))).all())
    params = []
    for notification_id, outcomes in by_id.items():
        if notification_id not in current:
            continue  # not (or no longer) in the store
        merged = {**(current[notification_id] or {}), **outcomes}
        if notification_id in known:
            known[notification_id] = merged
        params.append({"_id": notification_id, "deliveries": merged})
    if params:
        tx.execute(_SET_DELIVERIES, params)


_nt = models.notifications
_SET_DELIVERIES = sa.update(_nt).where(_nt.c.id == sa.bindparam("_id")).values(deliveries=sa.bindparam("deliveries"))


def list_notifications(tx: Tx, limit: int = 100) -> list[dict[str, Any]]:
    t = models.notifications
    query = sa.select(t).order_by(t.c.time.desc()).limit(limit)
    return [dict(r) for r in tx.execute(query).mappings()]


# --- orchestrators -----------------------------------------------------------------------


def register_orchestrator(tx: Tx, orchestrator_id: str, host: str, pid: int, serving: bool) -> None:
    stamp = now()
    tx.execute(
        sa.insert(models.orchestrators).values(
            id=orchestrator_id,
            host=host,
            pid=pid,
            serving=serving,
            started_on=stamp,
            heartbeat_on=stamp,
        )
    )


def heartbeat(tx: Tx, orchestrator_id: str) -> None:
    t = models.orchestrators
    tx.execute(sa.update(t).where(t.c.id == orchestrator_id).values(heartbeat_on=now()))


def unregister_orchestrator(tx: Tx, orchestrator_id: str) -> None:
    t = models.orchestrators
    tx.execute(sa.delete(t).where(t.c.id == orchestrator_id))


def list_orchestrators(tx: Tx) -> list[dict[str, Any]]:
    return [dict(r) for r in tx.execute(sa.select(models.orchestrators)).mappings()]
