"""AWS Glue's schedules: ``cron(Minutes Hours Day-of-month Month Day-of-week Year)``, in UTC.

Glue takes EventBridge's cron syntax (glue-semantics 3.3). Every field is checked here before
croniter sees it, so that a bad schedule is refused with what is wrong and in which field
(croniter's errors name neither, and it accepts forms AWS refuses). croniter then gets an
expression in its own syntax with every value listed: no ranges or steps, which the two read
differently (croniter takes ``5-5`` for the whole field), and day-of-week shifted to its 0-6.

What croniter cannot express is applied to the candidates it yields, skipping past what fails
rather than stepping through it: the Year field (to the next allowed year), ``LW`` (croniter
gets days 26-31, the only ones a last weekday can fall on; others skip to the next day), and
``nW`` in a month without day n (no fire that month; croniter would use the month's last day).

Pure: no I/O. croniter is imported on first use (it costs 40 ms; most commands never need it).
"""

from __future__ import annotations

import bisect
import calendar
import dataclasses
import functools
import itertools
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from orchestrator import errors

MIN_INTERVAL = 300.0  # Glue's minimum, seconds

_FIRST_YEAR, _LAST_YEAR = 1970, 2199
_MINUTE = timedelta(minutes=1)
_SECOND = timedelta(seconds=1)
_DAY = timedelta(days=1)
_GAP_YEARS = 5  # fire dates scanned for the shortest day gap: a leap year and a common year
_FIELD_NAMES = "Minutes Hours Day-of-month Month Day-of-week Year"
_MONTHS = {name.upper(): i for i, name in enumerate(calendar.month_abbr) if name}
_DAYS = {name: i for i, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), 1)}
_ITEM = re.compile(r"(\*|[0-9]+|[A-Z]+)(?:-([0-9]+|[A-Z]+))?(?:/([0-9]+))?", re.ASCII)
_NEAREST = re.compile(r"([0-9]+)W", re.ASCII)
_LAST_OF = re.compile(r"([0-9]+|[A-Z]+)L", re.ASCII)
_NTH = re.compile(r"([0-9]+|[A-Z]+)?#([0-9]*)", re.ASCII)
_LOOKS_L = re.compile(r"[0-9]*L(-[0-9]*)?W?|L?W", re.ASCII)  # an L/W form, not a name
_SPACE = re.compile(r"[^ \t\n\r\f\v]+")  # ASCII whitespace separates fields, as AWS's does


class _Refused(Exception):
    """What is wrong, as it follows the schedule's text in a message (": minutes: ...")."""

    def __init__(self, tail: str) -> None:
        super().__init__(tail)
        self.tail = tail

    @property
    def problem(self) -> str:
        return self.tail.removeprefix(":").strip()


@dataclasses.dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: Mapping[str, int] = dataclasses.field(default_factory=dict)
    bounds: str = ""
    syntax: str = ", - * /"

    def refuse(self, problem: str) -> _Refused:
        return _Refused(f": {self.name}: {problem}")

    def value(self, token: str, item: str) -> int:
        """A number or a name of this field, within its bounds; ``item`` is what holds it."""
        if token.isdigit():
            number = int(token) if len(token) < 10 else self.high + 1
            if not self.low <= number <= self.high:
                raise self.refuse(f"{_clip(token)} is out of range {self.bounds}")
            return number
        if token in self.names:
            return self.names[token]
        if _LOOKS_L.fullmatch(token):
            raise self.refuse(_misplaced(self, item))
        what = {_DOW.name: "a day name (SUN-SAT)", _MONTH.name: "a month name (JAN-DEC)"}.get(
            self.name, "a number"
        )
        raise self.refuse(f"{_clip(token)!r} is not {what}; use {self.bounds}")


_FIELDS = (
    _MIN := _Field("minutes", 0, 59, bounds="0-59"),
    _HOUR := _Field("hours", 0, 23, bounds="0-23"),
    _DOM := _Field("day-of-month", 1, 31, bounds="1-31", syntax=", - * ? / L W"),
    _MONTH := _Field("month", 1, 12, _MONTHS, bounds="1-12 (or JAN-DEC)"),
    _DOW := _Field("day-of-week", 1, 7, _DAYS, bounds="1-7 (1 = SUN)", syntax=", - * ? / L #"),
    _YEAR := _Field("year", _FIRST_YEAR, _LAST_YEAR, bounds=f"{_FIRST_YEAR}-{_LAST_YEAR}"),
)


def _misplaced(field: _Field, item: str) -> str:
    """Why an item with ?, #, W or L is refused here (they belong to the day fields, alone)."""
    shown = _clip(item)
    if "?" in item:
        if field in (_DOM, _DOW):
            return "? must be the whole field (no specific day)"
        return "? is only allowed in day-of-month or day-of-week"
    if "#" in item and field is not _DOW:
        return f"{shown}: # is only allowed in day-of-week (e.g. 6#3, the third Friday)"
    if "W" in item and field is not _DOM:
        return f"{shown}: W (the nearest weekday) is only allowed in day-of-month"
    if "L" in item and field not in (_DOM, _DOW):
        return f"{shown}: L is only allowed in day-of-month or day-of-week"
    if field is _DOM and re.fullmatch(r"L-[0-9]*", item):
        return f"{shown}: L-n (days before the last) is not in AWS's cron; use L, LW or a day"
    if field is _DOM and re.fullmatch(r"[0-9]+L", item):
        return f"{shown}: L stands alone in day-of-month (the last day); nL belongs in day-of-week"
    if field is _DOM:
        return (
            f"{shown} is not a day-of-month: use 1-31 with , - * /, L (the last day), "
            "or alone LW (the last weekday) or nW (the weekday nearest day n)"
        )
    return (
        f"{shown} is not a day-of-week: use 1-7 or SUN-SAT with , - * /, or alone "
        "L (Saturday), nL (the last day n of the month) or n#k (the k-th day n)"
    )


# --- what a day field says --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Days:
    """A parsed day field: ``values`` (and ``last``, dom's L) or one special form."""

    values: frozenset[int] = frozenset()
    last: bool = False  # dom L: the last day of the month
    nearest: int | None = None  # dom nW
    last_weekday: bool = False  # dom LW
    last_of: int | None = None  # dow nL: the last day n of the month
    nth: tuple[int, int] | None = None  # dow n#k: (n, k)

    @property
    def plain(self) -> bool:
        return (
            self.nearest is None
            and not self.last_weekday
            and self.last_of is None
            and self.nth is None
        )


def _field_values(field: _Field, text: str) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        values |= _item_values(field, item)
    return frozenset(values)


def _item_values(field: _Field, item: str) -> set[int]:
    if not item:
        raise field.refuse("an empty item (two commas, or a comma at an end)")
    match = _ITEM.fullmatch(item)
    if match is None:
        if any(c in item for c in "?#LW"):
            raise field.refuse(_misplaced(field, item))
        raise field.refuse(
            f"{_clip(item)!r} is not understood; {field.name} takes {field.bounds} with {field.syntax}"
        )
    start, end, step = match.groups()
    if start == "*" and end is not None:
        raise field.refuse(f"{_clip(item)}: * cannot start a range")
    low = field.low if start == "*" else field.value(start, item)
    if end is not None:
        high = field.value(end, item)
    else:  # a/b runs from a to the field's end
        high = field.high if step is not None or start == "*" else low
    if high < low:
        raise field.refuse(
            f"{_clip(item)} runs backwards; a range goes from low to high and does not wrap around"
        )
    stride = 1
    if step is not None:
        stride = int(step) if len(step) < 10 else 10**9
        if stride < 1:
            raise field.refuse(f"{_clip(item)}: the step after / must be 1 or more")
    return set(range(low, high + 1, stride))


def _dom(text: str) -> _Days | None:
    """Day-of-month: None for ``?``; values, L (the last day) in a list; LW or nW alone."""
    if text == "?":
        return None
    items = text.split(",")
    values: set[int] = set()
    last = False
    for item in items:
        if item == "L":
            last = True
        elif item == "LW" or _NEAREST.fullmatch(item):
            if len(items) > 1:
                raise _DOM.refuse(f"{_clip(item)} must be the only item (W takes a single day)")
            if item == "LW":
                return _Days(last_weekday=True)
            return _Days(nearest=_DOM.value(item[:-1], item))
        else:
            values |= _item_values(_DOM, item)
    return _Days(frozenset(values), last=last)


def _dow(text: str) -> _Days | None:
    """Day-of-week: None for ``?``; values; or alone, L (Saturday), nL or n#k."""
    if text == "?":
        return None
    alone = text.count(",") == 0
    for item in text.split(","):
        special = item == "L" or _LAST_OF.fullmatch(item) or "#" in item
        if special and not alone:
            raise _DOW.refuse(f"{_clip(item)} must be the only item of day-of-week")
    if text == "L":
        return _Days(frozenset({7}))
    if match := _LAST_OF.fullmatch(text):
        return _Days(last_of=_DOW.value(match.group(1), text))
    if match := _NTH.fullmatch(text):
        day, week = match.groups()
        if not day or not week:
            raise _DOW.refuse(
                f"{_clip(text)}: # takes a day and a week number, e.g. 6#3 (the third Friday)"
            )
        week_number = int(week) if len(week) < 3 else 99
        if not 1 <= week_number <= 5:
            raise _DOW.refuse(
                f"{_clip(text)}: the week number after # must be 1-5, not {_clip(week)}"
            )
        return _Days(nth=(_DOW.value(day, text), week_number))
    return _Days(_field_values(_DOW, text))


# --- the compiled form --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Plan:
    """croniter's 5-field expression, and the filters for what it cannot say."""

    cron: str
    years: tuple[int, ...]  # sorted
    year_set: frozenset[int]
    day_ok: Callable[[int, int, int], bool] | None  # (year, month, day) -> fires that day?

    def walk(self, start: datetime, backward: bool) -> Iterator[datetime]:
        """Fire times strictly after (or before) ``start``, a whole-minute UTC time, in order."""
        from croniter import CroniterBadDateError, croniter

        years = self.years
        while True:
            if start.year < _FIRST_YEAR if backward else start.year > _LAST_YEAR:
                return
            step = getattr(croniter(self.cron, start), "get_prev" if backward else "get_next")
            while True:
                try:
                    found = datetime.fromtimestamp(step(float), UTC)
                except CroniterBadDateError:  # no such day for 50 years: there is none
                    return
                if found.year not in self.year_set:
                    i = bisect.bisect_left(years, found.year)
                    if i == (0 if backward else len(years)):
                        return
                    year = years[i - 1] if backward else years[i]
                    start = (
                        datetime(year + 1, 1, 1, tzinfo=UTC)
                        if backward
                        else datetime(year, 1, 1, tzinfo=UTC) - _SECOND
                    )
                    break
                if self.day_ok is not None and not self.day_ok(found.year, found.month, found.day):
                    midnight = datetime(found.year, found.month, found.day, tzinfo=UTC)
                    start = midnight if backward else midnight + _DAY - _SECOND
                    break
                yield found


def _listed(values: frozenset[int], field: _Field, shift: int = 0) -> str:
    if len(values) == field.high - field.low + 1:
        return "*"
    return ",".join(str(v - shift) for v in sorted(values))


def _day_filter(dom: _Days | None) -> Callable[[int, int, int], bool] | None:
    if dom is None:
        return None
    if dom.last_weekday:
        return lambda year, month, day: day == _last_weekday(year, month)
    if (nearest := dom.nearest) is not None and nearest > 28:
        return lambda year, month, day: calendar.monthrange(year, month)[1] >= nearest
    return None


def _last_weekday(year: int, month: int) -> int:
    last = calendar.monthrange(year, month)[1]
    return last - max(0, calendar.weekday(year, month, last) - 4)  # Sat -> Fri, Sun -> Fri


def _compile(expression: str) -> tuple[_Plan, _Plan, tuple[int, ...], _Days | None, _Days | None]:
    """The plan of fire times, the plan of fire dates, the minutes of the day it fires at,
    and the two day fields; _Refused saying what is wrong."""
    if not isinstance(expression, str):
        raise _Refused(
            f": must be a string such as cron(15 12 * * ? *), not {type(expression).__name__}"
        )
    text = expression.strip()
    if text[:5].lower() == "rate(":
        raise _Refused(
            ": rate(...) is not supported for Glue; only cron(...) is, e.g. cron(0/5 * * * ? *)"
        )
    if not (text.startswith("cron(") and text.endswith(")")):
        fields = _SPACE.findall(text)
        example = (
            f"cron({' '.join(fields)})"
            if len(fields) == 6 and "(" not in text
            else "cron(15 12 * * ? *)"
        )
        raise _Refused(f": must be written cron({_FIELD_NAMES}), e.g. {_clip(example)}")
    fields = _SPACE.findall(text[5:-1])
    if len(fields) != 6:
        raise _Refused(
            f" has {len(fields)} field{'s' if len(fields) != 1 else ''}; Glue's cron has 6: {_FIELD_NAMES}"
        )
    for field, value in zip(_FIELDS, fields, strict=True):
        if not value.isascii():  # checked before str.upper(), which makes some letters ASCII
            raise field.refuse(f"{_clip(value)!r} holds characters AWS's cron does not use")
    upper = [f.upper() for f in fields]
    for field, value in zip(_FIELDS, upper, strict=True):
        if "?" in value and (field not in (_DOM, _DOW) or value != "?"):
            raise field.refuse(_misplaced(field, value))
    minutes = _field_values(_MIN, upper[0])
    hours = _field_values(_HOUR, upper[1])
    dom = _dom(upper[2])
    months = _field_values(_MONTH, upper[3])
    dow = _dow(upper[4])
    years = tuple(sorted(_field_values(_YEAR, upper[5])))
    if dom is not None and dow is not None:
        raise _Refused(": day-of-month and day-of-week cannot both be given; put ? in one of them")
    if dom is None and dow is None:
        raise _Refused(
            ": day-of-month and day-of-week cannot both be ?; give one of them (* for every day)"
        )

    if dom is not None:
        if dom.last_weekday:
            dom_cron = "26-31"  # where a last weekday can fall; the filter picks it
        elif dom.nearest is not None:
            dom_cron = f"{dom.nearest}W"
        elif len(dom.values) == 31:
            dom_cron = "*"  # L adds nothing to every day
        else:
            dom_cron = ",".join(
                [*(str(v) for v in sorted(dom.values)), *(["L"] if dom.last else [])]
            )
        days = f"{dom_cron} {_listed(months, _MONTH)} *"
    else:
        assert dow is not None
        if dow.last_of is not None:
            dow_cron = f"L{dow.last_of - 1}"
        elif dow.nth is not None:
            dow_cron = f"{dow.nth[0] - 1}#{dow.nth[1]}"
        else:
            dow_cron = _listed(dow.values, _DOW, shift=1)
        days = f"* {_listed(months, _MONTH)} {dow_cron}"
    day_ok = _day_filter(dom)
    times = tuple(sorted(h * 60 + m for h in hours for m in minutes))
    year_set = frozenset(years)
    fires = _Plan(
        f"{_listed(minutes, _MIN)} {_listed(hours, _HOUR)} {days}", years, year_set, day_ok
    )
    dates = _Plan(f"0 0 {days}", years, year_set, day_ok)
    return fires, dates, times, dom, dow


# --- the public surface ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Schedule:
    """A checked Glue cron expression and its fire times (whole UTC minutes).

    ``Schedule(text)`` checks the syntax only; ``parse`` also refuses a schedule that never fires
    again or fires too often. Naive datetimes given are taken as UTC; results are aware, in UTC.
    """

    expression: str  # as given, e.g. "cron(15 12 * * ? *)"
    _plan: _Plan = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            plan = _compile(self.expression)[0]
        except _Refused as exc:
            raise _refusal(self.expression, exc) from None
        object.__setattr__(self, "_plan", plan)

    def next_after(self, moment: datetime) -> datetime | None:
        """The first fire time strictly after ``moment``; None if it never fires again."""
        return next(self._plan.walk(_minute(moment), backward=False), None)

    def latest_at_or_before(self, moment: datetime) -> datetime | None:
        """The last fire time at or before ``moment`` (for catch-up); None if there is none.

        The search is bounded by Glue's Year field: it goes back no further than 1970-01-01
        (a moment after 2199 counts as the end of 2199) and jumps over the years the field
        leaves out, so even a schedule that last fired decades ago takes a few croniter searches.
        """
        end = _minute(moment)
        if end.year > _LAST_YEAR:
            end = datetime(_LAST_YEAR, 12, 31, 23, 59, tzinfo=UTC)
        return next(self._plan.walk(end + _MINUTE, backward=True), None)

    def upcoming(self, after: datetime, n: int) -> list[datetime]:
        """The next ``n`` fire times strictly after ``after`` (fewer if it stops firing)."""
        return list(itertools.islice(self._plan.walk(_minute(after), backward=False), max(n, 0)))


def parse(expression: str, *, min_interval: float = MIN_INTERVAL) -> Schedule:
    """``expression`` as a Schedule; InvalidInputException if Glue's cron syntax refuses it,
    if it never fires from now on, or if two fire times can be closer than ``min_interval``
    seconds (Glue's 5 minutes by default; 60 or less allows every minute)."""
    try:
        return _checked(expression, float(min_interval), _now())
    except _Refused as exc:
        raise _refusal(expression, exc) from None


def problem(expression: str, *, min_interval: float = MIN_INTERVAL) -> str | None:
    """What ``parse`` would refuse, without the leading ``Schedule <text>`` (for a message placed
    at a Schedule field, which already says where); None if it parses."""
    try:
        _checked(expression, float(min_interval), _now())
    except _Refused as exc:
        return exc.problem
    return None


def _now() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


def _checked(expression: str, min_interval: float, now: datetime) -> Schedule:
    if not isinstance(expression, str):  # not hashable, maybe; refused by _compile
        _compile(expression)
    return _checked_str(expression, min_interval, now)


@functools.lru_cache(maxsize=512)  # definition files repeat the same few schedules
def _checked_str(expression: str, min_interval: float, now: datetime) -> Schedule:
    fires, dates, times, dom, dow = _compile(expression)
    first = next(fires.walk(now, backward=False), None)
    if first is None:
        if fires.years[-1] < now.year:
            raise _Refused(f" never fires again: its last year, {fires.years[-1]}, is past")
        raise _Refused(
            " never fires: no date from now on matches its day-of-month, day-of-week, month and year"
        )
    if min_interval > 60:
        _check_gap(times, dates, dom, dow, first, min_interval)
    return Schedule(expression)


def _check_gap(
    times: tuple[int, ...],
    dates: _Plan,
    dom: _Days | None,
    dow: _Days | None,
    first: datetime,
    min_interval: float,
) -> None:
    """Refuse fire times closer than ``min_interval`` seconds.

    Every fire day has the same times, so the shortest gap is the shortest between two times of
    one day (exact), or from the day's last time to the first time of the next fire day:
    ``days * 1440 - span`` minutes. Only when that could be too short are fire dates looked at:
    a plain day-of-week list gives its shortest day gap outright (every month holds every pair
    of weekdays); otherwise the dates from the first fire on are scanned for 5 years (a leap
    year and a common year), stopping at a gap of one day, the shortest there is. The forms
    that fire once a month (nW, LW, nL, n#k) vary with the weekdays over 28 years, but their
    gaps of 4-5 weeks matter only to a minimum interval of weeks.
    """
    limit = min_interval / 60  # minutes
    gaps = [(b - a, a, b) for a, b in itertools.pairwise(times)]
    shortest = min(gaps) if gaps else None
    span = times[-1] - times[0]
    days = 0
    if 1440 - span < min(limit, shortest[0] if shortest else limit):
        days = _shortest_day_gap(dates, dom, dow, first)
    if days and (shortest is None or days * 1440 - span < shortest[0]):
        gap = days * 1440 - span
        later = "the next day" if days == 1 else f"{days} days later"
        detail = f"{_clock(times[-1])} then {_clock(times[0])} {later}, UTC"
    elif shortest is not None:
        gap = shortest[0]
        detail = f"{_clock(shortest[1])} then {_clock(shortest[2])} UTC"
    else:
        return
    if gap >= limit:
        return
    if min_interval == MIN_INTERVAL:
        rule = "Glue's minimum interval is 5 minutes (ADHERE_MIN_SCHEDULE_INTERVAL relaxes it for local use"
    else:
        rule = (
            f"the minimum interval is {_span(min_interval)} (ADHERE_MIN_SCHEDULE_INTERVAL sets it"
        )
    raise _Refused(
        f" fires every {_span(gap * 60)} at times (e.g. {detail}); {rule}; 0 allows every minute)"
    )


def _shortest_day_gap(dates: _Plan, dom: _Days | None, dow: _Days | None, first: datetime) -> int:
    """The fewest days between two fire dates (0: it fires on one date only)."""
    if dow is not None and dow.plain:
        ordered = sorted(dow.values)
        if len(ordered) == 1:
            return 7
        return min(b - a for a, b in itertools.pairwise([*ordered, ordered[0] + 7]))
    start = datetime(first.year, first.month, first.day, tzinfo=UTC) - _SECOND
    end = date(min(first.year + _GAP_YEARS, _LAST_YEAR + 1), 1, 1)
    shortest = 0
    previous: date | None = None
    for fire in dates.walk(start, backward=False):
        day = fire.date()
        if day >= end:
            break
        if previous is not None:
            gap = (day - previous).days
            shortest = gap if not shortest else min(shortest, gap)
            if shortest == 1:
                break
        previous = day
    return shortest


# --- helpers ----------------------------------------------------------------------------------


def _minute(moment: datetime) -> datetime:
    """``moment`` in UTC (naive = UTC), down to its minute, within the years Glue allows."""
    if not isinstance(moment, datetime):
        raise TypeError(f"expected a datetime, not {type(moment).__name__}")
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    utc = utc.replace(second=0, microsecond=0)
    floor = datetime(_FIRST_YEAR, 1, 1, tzinfo=UTC) - _MINUTE
    return max(utc, floor)


def _refusal(expression: Any, exc: _Refused) -> errors.InvalidInputException:
    return errors.InvalidInputException(f"Schedule {_shown(expression)}{exc.tail}")


def _shown(expression: Any) -> str:
    text = " ".join(expression.split()) if isinstance(expression, str) else repr(expression)
    return _clip(text if text.isprintable() else repr(text)[1:-1], 80)


def _clip(text: str, limit: int = 20) -> str:
    return text if len(text) <= limit else f"{text[:limit]}…"


def _clock(minute_of_day: int) -> str:
    return f"{minute_of_day // 60:02d}:{minute_of_day % 60:02d}"


def _span(seconds: float) -> str:
    """``5 minutes``, ``1 hour``, ``90 seconds``: a duration as a message says it."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds:g} second{'s' if seconds != 1 else ''}"
