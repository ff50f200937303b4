"""Store fixtures, one contract for every backend (STYLE 12 and 13; procrastinate's conftest).

Loaded for the whole test tree by ``pytest_plugins`` in ``tests/conftest.py``; use the
fixtures by name, never import this module from a test.

- ``db_url``: a fresh database at head, parametrised ``sqlite`` (a file in ``tmp_path``) and
  ``postgres`` (marked ``postgres``; needs ``ADHERE_TEST_POSTGRES_URL``, else skipped, or
  failed under ``ADHERE_REQUIRE_SERVICES=1``).
- ``db``: a ``store.Store`` open on it; ``settings``: ``Settings`` pointing at it, with a
  project home in ``tmp_path`` and fast polling.
- ``blank_db_url``: the same, but an empty database (no schema), for migration tests.
- ``fresh_db_url``: a factory, ``with fresh_db_url("postgres", folder) as url:``, for
  fixtures wider than one test (parametrise them with ``("sqlite", "postgres")`` yourself).
- ``lock_wait``: ``lock_wait(db)`` returns once another session of ``db`` waits for a row lock
  (PostgreSQL), so that a test holding a lock knows its rival reached it.

Both backends copy a template migrated once per session: SQLite a file, PostgreSQL a
``CREATE DATABASE ... TEMPLATE`` per test, dropped afterwards.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import POSTGRES_URL, skip_or_fail  # the root conftest (tests/conftest.py)

from orchestrator import store
from orchestrator.settings import Settings

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


class PostgresServer:
    """The test server, through an autocommit connection to its ``postgres`` database."""

    def __init__(self, url: str) -> None:
        import psycopg

        self.url = sa.engine.make_url(url)
        # Databases made by this session are named after the URL's (scratch) database.
        self.prefix = (self.url.database or "adhere_test")[:40]
        args: dict[str, Any] = self.url.translate_connect_args(username="user", database="dbname")
        args.update({k: v for k, v in self.url.query.items() if isinstance(v, str)})
        args.update(dbname="postgres", autocommit=True)
        args.setdefault("connect_timeout", 5)
        self._conn = psycopg.connect(**args)

    def url_of(self, name: str) -> str:
        return self.url.set(database=name).render_as_string(hide_password=False)

    def exists(self, name: str) -> bool:
        row = self._conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        return row is not None

    def create(self, name: str, template: str = "template0") -> str:
        """CREATE DATABASE ``name`` as a copy of ``template``; returns its SQLAlchemy URL."""
        from psycopg import sql

        self._conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
        return self.url_of(name)

    def ensure(self, name: str) -> None:
        """Create ``name`` unless it exists (another session may create it at the same time)."""
        import psycopg

        if not self.exists(name):
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                self.create(name)

    def drop(self, name: str) -> None:
        """Drop ``name``, ending any connection a test left open (a job process, a leaked pool)."""
        from psycopg import sql

        self._conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )

    def unique_name(self, kind: str) -> str:
        return f"{self.prefix}_{kind}_{secrets.token_hex(6)}"

    def close(self) -> None:
        self._conn.close()


def _migrated(url: str) -> None:
    """Bring a database to head the way the product does (``Store.open_url`` runs alembic)."""
    db = store.Store.open_url(url)
    db.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The server at ADHERE_TEST_POSTGRES_URL, with that (scratch) database created if missing."""
    if not POSTGRES_URL:
        skip_or_fail(
            "PostgreSQL tests need ADHERE_TEST_POSTGRES_URL, e.g. "
            "postgresql+psycopg://postgres@127.0.0.1:5432/adhere_test"
        )
    try:
        import psycopg
    except ImportError:
        skip_or_fail("PostgreSQL tests need psycopg: pip install 'adhere[postgres]'")
    safe = sa.engine.make_url(POSTGRES_URL).render_as_string(hide_password=True)
    try:
        server = PostgresServer(POSTGRES_URL)
    except psycopg.Error as exc:
        skip_or_fail(f"PostgreSQL is unreachable at {safe}: {exc}".strip())
    try:
        if server.url.database:
            server.ensure(server.url.database)
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def postgres_template(postgres_server: PostgresServer) -> Iterator[str]:
    """A database migrated to head once per session; each test's database is a copy of it.

    Named per session so that concurrent sessions on one server never share a template.
    """
    name = postgres_server.unique_name("tpl")
    try:
        _migrated(postgres_server.create(name))
        yield name
    finally:
        postgres_server.drop(name)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per session (copied per test: faster than alembic)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "adhere.db"
    _migrated(f"sqlite:///{path}")
    return path


FreshDatabase = Callable[[str, Path], AbstractContextManager[str]]


@pytest.fixture(scope="session")
def fresh_db_url(request: pytest.FixtureRequest) -> FreshDatabase:
    """``with fresh_db_url(backend, folder) as url:`` a fresh database at head, dropped after.

    For fixtures wider than one test (a module-scoped workflow run); ``db_url`` uses it too.
    """

    @contextlib.contextmanager
    def fresh(backend: str, folder: Path) -> Iterator[str]:
        if backend == "sqlite":
            path = folder / "adhere.db"
            shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
            yield f"sqlite:///{path}"
            return
        server: PostgresServer = request.getfixturevalue("postgres_server")
        template: str = request.getfixturevalue("postgres_template")
        name = server.unique_name("t")
        url = server.create(name, template=template)
        try:
            yield url
        finally:
            server.drop(name)

    return fresh


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path, fresh_db_url: FreshDatabase) -> Iterator[str]:
    """The URL of a fresh database at head, on each backend."""
    with fresh_db_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture(params=BACKENDS)
def blank_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database (no schema, no alembic_version), on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'blank.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.unique_name("t")
    url = server.create(name)
    try:
        yield url
    finally:
        server.drop(name)


@pytest.fixture
def db(db_url: str) -> Iterator[store.Store]:
    """An open store on a fresh database (``sqlite`` and ``postgres``)."""
    opened = store.Store.open_url(db_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def settings(tmp_path: Path, db: store.Store) -> Settings:
    """Settings for ``db``: project home in ``tmp_path``, quick polling, a short kill grace."""
    return Settings(home=tmp_path / ".adhere", db_url=db.url, poll_interval=0.05, kill_grace=1.0)


_LOCK_WAITS = sa.text(
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
)


def wait_for_a_lock_wait(db: store.Store, timeout: float = 30.0) -> None:
    """Block until some session of ``db`` (PostgreSQL) waits for a row lock: the definite signal
    that a concurrent transaction reached the lock a test holds. Fails after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.engine.connect() as conn:
            if conn.execute(_LOCK_WAITS).scalar_one():
                return
        time.sleep(0.01)
    raise AssertionError(f"no session waited for a lock within {timeout}s")


@pytest.fixture
def lock_wait() -> Callable[..., None]:
    """``lock_wait(db)``: wait until another session of ``db`` waits for a lock (PostgreSQL)."""
    return wait_for_a_lock_wait
