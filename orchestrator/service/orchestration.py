"""Hosting the orchestrator loop: `adhere serve`, or one `adhere run` when no serve is running."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator

from orchestrator import store
from orchestrator.settings import Settings

LIVE_AFTER = dt.timedelta(seconds=15)  # a serve that has not beaten since is taken for dead
Wait = Callable[[Callable[[], bool], Callable[[], None] | None], None]


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


@contextlib.contextmanager
def host(db: store.Store, settings: Settings, *, scope: str | None = None,
         serving: bool = False) -> Iterator[Wait]:
    """Run the orchestrator loop in this process, unless (when not ``serving``) an `adhere
    serve` already runs on this store. Yields ``wait(done, tick)``, which blocks until ``done()``
    and, unless serving, until this process follows no run any more; ``tick`` is called meanwhile."""
    from orchestrator import runner

    orch = None
    if serving or not serving_orchestrators(db):
        orch = runner.Orchestrator(settings, db, scope=scope, serving=serving).start()

    def wait(done: Callable[[], bool], tick: Callable[[], None] | None = None) -> None:
        if orch is not None:
            runner.run_until(orch, done, tick=tick, interval=0.2, drain=not serving)
            return
        import time

        while not done():
            if tick:
                tick()
            time.sleep(0.2)

    try:
        yield wait
    finally:
        if orch is not None:
            orch.stop()
