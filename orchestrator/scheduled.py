"""The schedules duty: fires SCHEDULED triggers and crawler schedules when a tick falls due.

Which ticks were handled lives in the store (``store.schedules``): a tick fires only if this
process moves the schedule's last tick to it, so several serves fire it once. A tick that fell
due before this process started was missed (nothing ran); the catch-up policy says whether the
latest such tick fires once ("latest") or not at all ("none", Glue's behaviour). Triggers being
started or stopped (ACTIVATING, DEACTIVATING) settle here: a started one counts ticks from now.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from orchestrator import crawl, deliveries, errors, events, schedules, store, trigger
from orchestrator.effects import Effects
from orchestrator.states import TriggerType

log = logging.getLogger(__name__)
REFRESH = 2.0  # seconds between reads of which schedules exist (and at once when woken)
CATCH_UP = ("none", "latest")


@dataclasses.dataclass(frozen=True)
class Entry:
    kind: str  # "trigger" or "crawler"
    name: str
    expression: str
    state: str  # a trigger's state; a crawler schedule's (SCHEDULED, NOT_SCHEDULED)


class Scheduled:
    def __init__(self, *, catch_up: str = "none", min_interval: float = schedules.MIN_INTERVAL,
                 started: dt.datetime | None = None, account: str = events.DEFAULT_ACCOUNT,
                 region: str = events.DEFAULT_REGION) -> None:
        self.catch_up = catch_up
        self.min_interval = min_interval
        self.started = started or store.now()
        self.account, self.region = account, region
        self.refresh = True  # read the schedules again (the loop sets it when woken)
        self._entries: list[Entry] = []
        self._read_at = 0.0
        self._parsed: dict[str, schedules.Schedule | None] = {}
        self._next_due: dt.datetime | None = None

    def next_due(self) -> float | None:
        """When the next tick falls due (epoch seconds), for the loop's sleep."""
        return self._next_due.timestamp() if self._next_due else None

    def due(self, now: float) -> bool:
        return self._next_due is not None and self._next_due.timestamp() <= now

    def step(self, tx: store.Tx, now: dt.datetime, effects: Effects) -> None:
        stamp = now.timestamp()
        if self.refresh or stamp - self._read_at >= REFRESH:
            self._entries = _entries(tx)
            self._read_at = stamp
            self.refresh = False
        elif not self.due(stamp):
            return
        handled = store.schedules.all_of(tx)
        next_due: dt.datetime | None = None
        for entry in self._entries:
            if entry.state in ("ACTIVATING", "DEACTIVATING"):
                self._settle(tx, entry, now)
                continue
            if entry.state not in ("ACTIVATED", store.schedules.SCHEDULED):
                continue
            schedule = self._parse(entry.expression)
            row = handled.get((entry.kind, entry.name))
            if schedule is None:
                continue
            if row is None or row.last_due_on is None:  # new here: ticks count from now
                store.schedules.reset(tx, entry.kind, entry.name, now)
            else:
                tick = schedule.latest_at_or_before(now)
                if tick is not None and tick > row.last_due_on:
                    missed = tick < self.started
                    if store.schedules.advance(tx, entry.kind, entry.name, tick) and (
                            not missed or self.catch_up == "latest"):
                        self._fire(tx, entry, tick, effects)
            upcoming = schedule.next_after(now)
            if upcoming is not None and (next_due is None or upcoming < next_due):
                next_due = upcoming
        self._next_due = next_due

    def _parse(self, expression: str) -> schedules.Schedule | None:
        if expression not in self._parsed:
            try:
                self._parsed[expression] = schedules.parse(expression, min_interval=self.min_interval)
            except errors.InvalidInputException as exc:  # stored under a laxer minimum interval
                log.warning("schedule not fired: %s", exc)
                self._parsed[expression] = None
        return self._parsed[expression]

    def _settle(self, tx: store.Tx, entry: Entry, now: dt.datetime) -> None:
        """StartTrigger and StopTrigger take effect here: an activated trigger counts ticks from now."""
        if entry.state == "ACTIVATING":
            store.schedules.reset(tx, entry.kind, entry.name, now)
            store.definitions.set_state(tx, "trigger", entry.name, "ACTIVATED")
        else:
            store.definitions.set_state(tx, "trigger", entry.name, "DEACTIVATED")
        self.refresh = True

    def _fire(self, tx: store.Tx, entry: Entry, tick: dt.datetime, effects: Effects) -> None:
        log.info("schedule fired", extra={"schedule": f"{entry.kind}:{entry.name}", "tick": tick.isoformat()})
        if entry.kind == "crawler":
            self._crawl(tx, entry.name, effects)
            return
        row = store.definitions.get(tx, "trigger", entry.name)
        if row is None or row.state != "ACTIVATED":
            return
        if row.workflow_name:
            trigger.start_workflow(tx, row)
        else:
            trigger.fire_standalone(tx, row)
            effects.unowned = True

    def _crawl(self, tx: store.Tx, name: str, effects: Effects) -> None:
        """A crawler's schedule starts a crawl; one already crawling is Glue's "Scheduled Crawler
        Invocation Failure" event, not a failed crawl."""
        try:
            crawl.start(tx, name, direct=True)
        except (errors.CrawlerRunningException, errors.EntityNotFoundException) as exc:
            notice = events.scheduled_crawler_invocation_failure(name, str(exc), time=store.now(),
                                                                 account=self.account, region=self.region)
            deliveries.record(tx, notice, None, None, effects)


def _entries(tx: store.Tx) -> list[Entry]:
    """The schedules that exist: SCHEDULED triggers, and crawlers with a Schedule (each has a row
    in ``store.schedules``, made when it was saved)."""
    found = [Entry("trigger", row.name, row.glue.get("Schedule") or "", row.state or "CREATED")
             for row in store.definitions.triggers_of_type(tx, TriggerType.SCHEDULED.value) if row.glue.get("Schedule")]
    states = {name: s.state for (kind, name), s in store.schedules.all_of(tx).items() if kind == "crawler"}
    for row in store.definitions.get_many(tx, "crawler", states).values():
        if expression := row.glue.get("Schedule"):
            found.append(Entry("crawler", row.name, expression, states[row.name] or store.schedules.SCHEDULED))
    return found
