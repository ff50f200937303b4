"""Hosting the orchestrator loop: `adhere serve`, or one `adhere run` when no serve is running."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

from orchestrator import errors, store
from orchestrator.service import remote
from orchestrator.settings import Settings

LIVE_AFTER = dt.timedelta(seconds=15)  # a serve that has not beaten since is taken for dead


def check(settings: Settings) -> None:
    """Refuse settings the loop could not start with (notification sinks), before anything is
    started that it would have to run."""
    if not (settings.notification_sinks or settings.notifications_file):
        return  # the default log needs no checking (nor the sink models loaded)
    from orchestrator.notifications import sinks

    sinks.parse_sinks(settings.notification_sinks)
    if settings.notifications_file:
        sinks.load_file(settings.notifications_file)


def serving_orchestrators(db: store.Store) -> list[store.orchestrators.Orchestrator]:
    """Live ``adhere serve`` processes on this store (by heartbeat)."""
    with db.read() as tx:
        rows = store.orchestrators.find(tx)
    limit = store.now() - LIVE_AFTER
    return [r for r in rows if r.serving and r.heartbeat_on > limit]


class Hosted:
    """What ``host`` yields: ``hosted(done, tick)`` blocks until ``done()`` and, unless serving,
    until this process follows no run any more (``tick`` is called meanwhile); ``port`` is where
    Glue's API listens when serving."""

    def __init__(self, orch: Any, serving: bool, api: Any = None) -> None:
        self.orch, self.serving, self.api = orch, serving, api

    @property
    def port(self) -> int:
        return int(self.api.port) if self.api is not None else 0

    def __call__(self, done: Callable[[], bool], tick: Callable[[], None] | None = None) -> None:
        from orchestrator import runner

        if self.orch is not None:
            runner.run_until(self.orch, done, tick=tick, interval=0.2, drain=not self.serving)
            return
        import time

        while not done():
            if tick:
                tick()
            time.sleep(0.2)


@contextlib.contextmanager
def host(db: store.Store, settings: Settings, *, scope: str | None = None,
         serving: bool = False) -> Iterator[Hosted]:
    """Run the orchestrator loop in this process, unless (when not ``serving``) an `adhere
    serve` already runs on this store; when ``serving``, Glue's API too (on ``settings.host``
    and ``settings.port``), its requests waking the loop, and the jobs it starts reach the
    runtime API through it (``loop_settings``). A client of a serve (``db`` a
    ``remote.Endpoint``) hosts nothing: the serve runs the runs, and waiting polls."""
    from orchestrator import runner

    if isinstance(db, remote.Endpoint):
        if serving:
            raise errors.InvalidInputException("adhere serve needs a store (--db), not the endpoint of another serve")
        yield Hosted(None, serving=False)
        return
    orch: Any = None
    api = None
    sources: list[Any] = []

    def wake() -> None:  # requests and events that come before the loop starts are seen on its first wake-up
        if orch is not None:
            orch.wake()

    def health() -> dict[str, Any]:
        return orch.health() if orch is not None else {"status": "starting"}

    try:
        if serving:
            from orchestrator.api import server

            remote.WAKE_SERVES[0] = False  # this process's writes wake its own loop directly
            server.check_binding(settings)
            api = server.Server(db, settings, wake, health).start()
            settings = loop_settings(settings, api.port)
        if serving or not serving_orchestrators(db):
            orch = runner.Orchestrator(settings, db, scope=scope, serving=serving).start()
        if serving:
            sources = event_sources(db, settings, wake)
        yield Hosted(orch, serving, api)
    finally:
        for source in sources:
            source.stop()
        if api is not None:
            api.stop()
        if orch is not None:
            orch.stop()
        if serving:
            remote.WAKE_SERVES[0] = True


def event_sources(db: store.Store, settings: Settings, wake: Callable[[], None]) -> list[Any]:
    """The serve's watched folders and SQS queues, started; each event stored before it is
    acknowledged (a file is seen again on restart, an SQS message is deleted only after)."""
    from orchestrator.service import events

    def sink(envelopes: list[dict[str, Any]]) -> None:
        events.receive(db, settings, envelopes)
        wake()

    started: list[Any] = []
    try:
        if settings.watch_folders:
            from orchestrator.sources.folder import FolderSource

            for folder in settings.watch_folders:
                if not folder.is_dir():
                    raise errors.InvalidInputException(f"cannot watch {folder}: no such folder")
                started.append(FolderSource(folder, sink, account=settings.account_id, region=settings.region))
                started[-1].start()
        if settings.sqs_queues:
            from orchestrator.sources.sqs import SqsSource

            for url in settings.sqs_queues:
                started.append(SqsSource(url, sink, account=settings.account_id, region=settings.region))
                started[-1].start()
    except BaseException:
        for source in started:
            source.stop()
        raise
    return started


def loop_settings(settings: Settings, port: int) -> Settings:
    """A serve's settings for its loop: jobs get ``endpoint`` (the one configured, e.g. an
    address a remote Ray cluster can reach, else where the API listens) instead of the store's
    URL, and the first access key when requests must be signed."""
    from orchestrator.api import auth

    host = settings.host
    if host in ("", "0.0.0.0", "::"):  # listening everywhere: jobs here use the loopback
        host = "127.0.0.1" if host != "::" else "::1"
    endpoint = settings.endpoint or f"http://{f'[{host}]' if ':' in host else host}:{port}"
    return settings.replace(endpoint=endpoint, access_keys=tuple(auth.load_keys(settings).items())[:1])
