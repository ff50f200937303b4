"""``adhere trigger start|stop``, ``next``, ``crawler-schedule`` and ``events put|list|show``:
schedules and events from the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator import errors
from orchestrator.cli import display

if TYPE_CHECKING:
    from orchestrator.cli.commands import App


def trigger(app: App) -> int:
    """StartTrigger / StopTrigger, then the trigger's state as Glue reports it."""
    from orchestrator.service import orchestration, triggers

    name = app.args.trigger
    (triggers.start_trigger if app.args.action == "start" else triggers.stop_trigger)(app.db, name)
    found = triggers.get_trigger(app.db, name)["Trigger"]

    def render() -> None:
        app.say(f"trigger {name}: ", display.styled(found["State"]))
        if found["State"] in ("ACTIVATING", "DEACTIVATING") and not orchestration.serving_orchestrators(app.db):
            app.say("  it settles when `adhere serve` runs on this store (no serve is running)")

    app.out({"Name": name, "TriggerState": found["State"]}, render)
    return 0


def next_times(app: App) -> int:
    """The next fire times of a SCHEDULED trigger, or of a crawler's schedule."""
    from orchestrator.service import triggers

    try:
        found = triggers.next_fire_times(app.db, app.settings, app.args.name, app.args.n)
    except errors.EntityNotFoundException:
        found = triggers.next_fire_times(app.db, app.settings, app.args.name, app.args.n, kind="crawler")

    def render() -> None:
        app.say(f"{found['Name']}: {found['Schedule']} (UTC)")
        for moment in found["FireTimes"]:
            local = moment.astimezone()
            app.say(f"  {moment:%Y-%m-%d %H:%M} UTC  ({local:%a %Y-%m-%d %H:%M %Z})")

    app.out(found, render)
    return 0


def crawler_schedule(app: App) -> int:
    """StartCrawlerSchedule, StopCrawlerSchedule, UpdateCrawlerSchedule."""
    from orchestrator.service import crawlers

    name, action = app.args.crawler, app.args.action
    if action == "start":
        crawlers.start_crawler_schedule(app.db, name)
    elif action == "stop":
        crawlers.stop_crawler_schedule(app.db, name)
    else:
        if not app.args.expression:
            raise errors.InvalidInputException("crawler-schedule update needs the new schedule, e.g. 'cron(0 3 * * ? *)'")
        crawlers.update_crawler_schedule(app.db, app.settings, name, app.args.expression)
    schedule = crawlers.get_crawler(app.db, name)["Crawler"].get("Schedule") or {}
    app.out({"Schedule": schedule}, lambda: app.say(
        f"crawler {name}: {schedule.get('ScheduleExpression', 'no schedule')} ", display.styled(schedule.get("State"))))
    return 0


def events_put(app: App) -> int:
    """Events from a file or stdin: a JSON list, PutEvents' ``{"Entries": [...]}``, one event, or
    one event per line; each stored before it is acknowledged. Exits 1 when one was refused."""
    from orchestrator.service import events

    text = sys.stdin.read() if app.args.file in (None, "-") else _read(Path(app.args.file))
    entries = events.read_entries(_values(text))
    if app.args.workflow:  # addressed to a workflow, as an EventBridge rule targets its ARN
        arn = f"arn:aws:glue:{app.settings.region}:{app.settings.account_id}:workflow/{app.args.workflow}"
        entries = [_addressed(e, arn) for e in entries]
    found = events.put_events(app.db, app.settings, entries, limit=None)

    def render() -> None:
        taken = len(found["Entries"]) - found["FailedEntryCount"]
        app.say(f"{taken} event{'s' if taken != 1 else ''} received")
        for i, entry in enumerate(found["Entries"]):
            if "ErrorCode" in entry:
                app.say(f"  event {i + 1}: {entry['ErrorCode']}: {entry['ErrorMessage']}")

    app.out(found, render)
    return 1 if found["FailedEntryCount"] else 0


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise errors.InvalidInputException(f"cannot read {path}: {exc.strerror or exc}") from None


def _values(text: str) -> list[Any]:
    """One JSON document, or JSON lines."""
    if not text.strip():
        raise errors.InvalidInputException("no events given: pass --file FILE or JSON on stdin")
    try:
        return [json.loads(text)]
    except json.JSONDecodeError as whole:
        values = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    values.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    where = f"line {number}" if number > 1 else f"line {whole.lineno}, column {whole.colno}"
                    raise errors.InvalidInputException(f"events are not valid JSON ({exc.msg} at {where})") from None
        return values


def _addressed(entry: Any, arn: str) -> Any:
    if not isinstance(entry, dict):
        return entry
    key = "resources" if "detail-type" in entry or "detail" in entry else "Resources"
    return {**entry, key: [*entry.get(key, []), arn]}


def events_list(app: App) -> int:
    from orchestrator.service import events

    found = events.list_events(app.db, state=app.args.state, trigger_name=app.args.trigger, max_results=app.args.limit)

    def render() -> None:
        rows = [(e["EventId"], display.styled(e["State"]), e.get("TriggerName", "-"), e.get("WorkflowRunId", "-"),
                 f"{e['Source']} / {e['DetailType']}", display.when(e["ReceivedOn"]), e.get("Reason", ""))
                for e in found["Events"]]
        app.console.print(display.table(["event", "state", "trigger", "run", "source / type", "received", "why"], rows))

    app.out(found, render)
    return 0


def events_show(app: App) -> int:
    from orchestrator.service import events

    found = events.get_event(app.db, app.args.event_id)
    lines = events.list_events(app.db, event_id=app.args.event_id)["Events"]
    data = {**found, "Outcomes": lines}

    def render() -> None:
        display.print_json(found["Event"])
        for e in lines:
            app.say(display.styled(e["State"]), f" {e.get('TriggerName') or ''} {e.get('WorkflowRunId') or ''}"
                    f" {e.get('Reason') or ''}".rstrip())

    app.out(data, render)
    return 0
