"""Glue's cron schedules (orchestrator.schedules): fire times worked out by hand from AWS's
documented rules (EventBridge's cron reference, glue-semantics 3.3), every form AWS refuses
refused with what is wrong and where, Glue's 5-minute minimum, and fuzzing: bad text only
ever raises InvalidInputException, and random valid schedules agree with a day-by-day oracle.

Calendar facts the tables rely on: 2024-01-01 is a Monday; 2024-06-01 a Saturday (so 06-15
is a Saturday and 06-30 a Sunday); 2024-09-01 and 2024-03-31 are Sundays; 2024 is a leap year.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from orchestrator import errors, schedules, settings
from orchestrator.definitions import loading

FUZZ = hypothesis.settings(max_examples=300, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])  # fmt: skip


def at(text: str) -> datetime:
    """``2024-01-05 17:50`` (or with seconds) as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


NOW = at("2024-01-01 00:00")


@pytest.fixture(autouse=True)
def _now(monkeypatch: pytest.MonkeyPatch) -> None:
    """parse refuses schedules that never fire from now on: "now" is fixed, so that the tables
    (schedules of 2025-2031) mean the same in any year."""
    monkeypatch.setattr(schedules, "_now", lambda: NOW)


# --- fire times, worked out by hand ------------------------------------------------------------

NEXT = [
    # (expression, anchor, the next fire times strictly after it)
    ("cron(15 12 * * ? *)", "2024-01-01 00:00", ["2024-01-01 12:15", "2024-01-02 12:15", "2024-01-03 12:15"]),
    ("cron(15 12 * * ? *)", "2024-01-01 12:15", ["2024-01-02 12:15", "2024-01-03 12:15"]),  # strictly after
    ("cron(15 12 * * ? *)", "2024-01-01 12:14:59", ["2024-01-01 12:15"]),
    ("cron(0 0 1 1 ? *)", "2024-12-31 23:59:30", ["2025-01-01 00:00", "2026-01-01 00:00"]),
    # weekdays: 2024-01-05 is a Friday
    ("cron(0 18 ? * MON-FRI *)", "2024-01-05 19:00", ["2024-01-08 18:00", "2024-01-09 18:00", "2024-01-10 18:00"]),
    ("cron(0 18 ? * 2-6 *)", "2024-01-05 19:00", ["2024-01-08 18:00", "2024-01-09 18:00"]),  # 1 = SUN
    ("cron(0 0 ? * 1 *)", "2024-01-01 00:00", ["2024-01-07 00:00", "2024-01-14 00:00", "2024-01-21 00:00"]),
    ("cron(0 10 ? * L *)", "2024-01-01 00:00", ["2024-01-06 10:00", "2024-01-13 10:00"]),  # L alone: Saturday
    ("cron(0/5 8-17 ? * MON-FRI *)", "2024-01-05 17:50", ["2024-01-05 17:55", "2024-01-08 08:00", "2024-01-08 08:05"]),
    # steps
    ("cron(0/15 * * * ? *)", "2024-01-01 10:07", ["2024-01-01 10:15", "2024-01-01 10:30", "2024-01-01 10:45", "2024-01-01 11:00"]),
    ("cron(*/30 * * * ? *)", "2024-01-01 23:40", ["2024-01-02 00:00", "2024-01-02 00:30", "2024-01-02 01:00"]),
    ("cron(1/10 * * * ? *)", "2024-01-01 10:51:30", ["2024-01-01 11:01", "2024-01-01 11:11", "2024-01-01 11:21"]),
    ("cron(0 8-18/4 * * ? *)", "2024-01-01 09:00", ["2024-01-01 12:00", "2024-01-01 16:00", "2024-01-02 08:00"]),
    ("cron(30 6 1/10 * ? *)", "2024-01-25 00:00", ["2024-01-31 06:30", "2024-02-01 06:30", "2024-02-11 06:30"]),
    # L: the last day, in leap and common years
    ("cron(0 0 L 2 ? *)", "2024-01-01 00:00", ["2024-02-29 00:00", "2025-02-28 00:00", "2026-02-28 00:00", "2027-02-28 00:00", "2028-02-29 00:00"]),
    ("cron(30 6 L * ? *)", "2023-01-15 00:00", ["2023-01-31 06:30", "2023-02-28 06:30", "2023-03-31 06:30", "2023-04-30 06:30"]),
    ("cron(0 12 1,L * ? *)", "2024-02-02 00:00", ["2024-02-29 12:00", "2024-03-01 12:00", "2024-03-31 12:00"]),
    # nW: the weekday nearest day n, never leaving the month
    ("cron(0 9 15W * ? *)", "2024-06-01 00:00", ["2024-06-14 09:00", "2024-07-15 09:00", "2024-08-15 09:00", "2024-09-16 09:00"]),
    ("cron(0 9 1W * ? *)", "2024-05-02 00:00", ["2024-06-03 09:00", "2024-07-01 09:00", "2024-08-01 09:00", "2024-09-02 09:00"]),
    ("cron(0 9 30W * ? *)", "2024-06-01 00:00", ["2024-06-28 09:00", "2024-07-30 09:00", "2024-08-30 09:00", "2024-09-30 09:00"]),
    # 31W fires only in months with a 31st (2024-03-31 is a Sunday: back to Friday the 29th)
    ("cron(0 9 31W * ? *)", "2024-01-01 00:00", ["2024-01-31 09:00", "2024-03-29 09:00", "2024-05-31 09:00", "2024-07-31 09:00"]),
    # LW: the last weekday (03-31 and 06-30 are Sundays, 08-31 a Saturday)
    ("cron(0 17 LW * ? *)", "2024-03-01 00:00", ["2024-03-29 17:00", "2024-04-30 17:00", "2024-05-31 17:00", "2024-06-28 17:00"]),
    ("cron(0 17 LW 8 ? *)", "2024-01-01 00:00", ["2024-08-30 17:00", "2025-08-29 17:00"]),
    # nL: the last day n of the month; n#k: the k-th day n
    ("cron(0 0 ? * 6L *)", "2024-01-01 00:00", ["2024-01-26 00:00", "2024-02-23 00:00", "2024-03-29 00:00", "2024-04-26 00:00"]),
    ("cron(0 0 ? * FRIL *)", "2024-01-01 00:00", ["2024-01-26 00:00", "2024-02-23 00:00"]),
    ("cron(0 0 ? * 2#1 *)", "2024-01-02 00:00", ["2024-02-05 00:00", "2024-03-04 00:00", "2024-04-01 00:00", "2024-05-06 00:00"]),
    ("cron(0 0 ? * MON#1 *)", "2024-01-01 00:00", ["2024-02-05 00:00"]),
    # the 5th Saturday only in months that have one
    ("cron(0 0 ? * 7#5 *)", "2024-01-01 00:00", ["2024-03-30 00:00", "2024-06-29 00:00", "2024-08-31 00:00", "2024-11-30 00:00", "2025-03-29 00:00"]),
    # years: lists, ranges, steps; and running out
    ("cron(0 12 1 1 ? 2025,2027-2029/2,2031)", "2024-06-01 00:00", ["2025-01-01 12:00", "2027-01-01 12:00", "2029-01-01 12:00", "2031-01-01 12:00"]),
    ("cron(0 0 1 JAN ? 2024/4)", "2023-01-01 00:00", ["2024-01-01 00:00", "2028-01-01 00:00", "2032-01-01 00:00"]),
    ("cron(0 0 29 2 ? 2100-2104)", "2096-03-01 00:00", ["2104-02-29 00:00"]),  # 2100 is no leap year
    ("cron(0 0 L 12 ? 2199)", "2100-01-01 00:00", ["2199-12-31 00:00"]),
    # names, lowercase
    ("cron(0 8 ? jan,jul mon-fri *)", "2024-06-28 00:00", ["2024-07-01 08:00", "2024-07-02 08:00", "2024-07-03 08:00"]),
    ("cron(0 8 1 JAN,JUL ? *)", "2024-02-01 00:00", ["2024-07-01 08:00", "2025-01-01 08:00", "2025-07-01 08:00"]),
    ("cron(0 8 1 jan-mar/2 ? *)", "2024-02-01 00:00", ["2024-03-01 08:00", "2025-01-01 08:00"]),
    ("  cron( 0  8 1 1 ?  * )  ", "2024-02-01 00:00", ["2025-01-01 08:00"]),
    # around a month's end
    ("cron(55,0 23,0 L,1 * ? *)", "2024-01-31 12:00", ["2024-01-31 23:00", "2024-01-31 23:55", "2024-02-01 00:00", "2024-02-01 00:55", "2024-02-01 23:00"]),
]  # fmt: skip


@pytest.mark.parametrize(("expression", "anchor", "expected"), NEXT)
def test_next_fire_times_are_the_ones_worked_out_by_hand(
    expression: str, anchor: str, expected: list[str]
) -> None:
    schedule = schedules.parse(expression, min_interval=0)
    assert schedule.expression == expression
    want = [at(t) for t in expected]
    assert schedule.upcoming(at(anchor), len(want)) == want
    assert schedule.next_after(at(anchor)) == want[0]
    assert all(t.tzinfo is UTC and t.second == 0 for t in want)


def test_a_schedule_stops_when_its_years_run_out() -> None:
    schedule = schedules.parse("cron(0 12 1 1 ? 2025,2027-2029/2,2031)")
    assert schedule.upcoming(at("2024-06-01 00:00"), 10)[-1] == at("2031-01-01 12:00")
    assert len(schedule.upcoming(at("2024-06-01 00:00"), 10)) == 4
    assert schedule.next_after(at("2031-01-01 12:00")) is None
    last = schedules.parse("cron(0 12 * * ? 2190)")
    assert last.next_after(at("2190-12-31 11:59")) == at("2190-12-31 12:00")
    assert last.next_after(at("2190-12-31 12:00")) is None
    every_day = schedules.parse("cron(0 12 * * ? *)")
    assert every_day.next_after(at("2199-12-31 12:00")) is None  # Glue's last year
    assert last.upcoming(at("2190-12-31 12:00"), 3) == []
    assert last.upcoming(at("2190-01-01 00:00"), 0) == []


def test_times_given_naive_are_utc_and_others_are_converted() -> None:
    schedule = schedules.parse("cron(15 12 * * ? *)")
    assert schedule.next_after(datetime(2024, 1, 1, 12, 0)) == at("2024-01-01 12:15")
    paris = timezone(timedelta(hours=1))
    assert schedule.next_after(datetime(2024, 1, 1, 13, 14, tzinfo=paris)) == at("2024-01-01 12:15")
    assert schedule.next_after(datetime(2024, 1, 1, 13, 15, tzinfo=paris)) == at("2024-01-02 12:15")


LATEST = [
    # (expression, moment, the last fire time at or before it)
    ("cron(15 12 * * ? *)", "2024-01-02 12:15", "2024-01-02 12:15"),  # at: included
    ("cron(15 12 * * ? *)", "2024-01-02 12:15:59", "2024-01-02 12:15"),
    ("cron(15 12 * * ? *)", "2024-01-02 12:14:59", "2024-01-01 12:15"),
    ("cron(0/15 * * * ? *)", "2024-01-01 00:14", "2024-01-01 00:00"),
    ("cron(0 18 ? * MON-FRI *)", "2024-01-08 17:00", "2024-01-05 18:00"),  # Monday before 18:00: Friday
    ("cron(0 17 LW * ? *)", "2024-07-01 00:00", "2024-06-28 17:00"),
    ("cron(0 9 1W * ? *)", "2024-06-02 00:00", "2024-05-01 09:00"),  # June's 1W is the 3rd
    ("cron(0 9 31W * ? *)", "2024-05-30 00:00", "2024-03-29 09:00"),  # April has no 31st
    ("cron(0 0 ? * 7#5 *)", "2024-06-01 00:00", "2024-03-30 00:00"),
    ("cron(0 12 1 1 ? 2025,2027-2029/2,2031)", "2030-06-01 00:00", "2029-01-01 12:00"),
    ("cron(0 12 * * ? 2030)", "2035-01-01 00:00", "2030-12-31 12:00"),
    ("cron(0 12 * * ? *)", "2300-01-01 00:00", "2199-12-31 12:00"),  # past Glue's last year
    ("cron(0 0 1 1 ? *)", "1970-01-01 00:00", "1970-01-01 00:00"),
]  # fmt: skip


@pytest.mark.parametrize(("expression", "moment", "expected"), LATEST)
def test_latest_at_or_before(expression: str, moment: str, expected: str) -> None:
    assert schedules.parse(expression).latest_at_or_before(at(moment)) == at(expected)


def test_latest_at_or_before_is_none_before_the_first_fire() -> None:
    in_2030 = schedules.parse("cron(0 12 * * ? 2030)")
    assert in_2030.latest_at_or_before(at("2029-12-31 23:59")) is None
    every_day = schedules.parse("cron(0 12 * * ? *)")
    assert every_day.latest_at_or_before(at("1970-01-01 11:59")) is None
    assert every_day.latest_at_or_before(at("1960-01-01 00:00")) is None


# --- what AWS refuses ---------------------------------------------------------------------------

INVALID = [
    # (expression, a fragment of the message after "Schedule <expression>")
    ("cron(0 * * * *)", " has 5 fields; Glue's cron has 6: Minutes Hours Day-of-month Month Day-of-week Year"),
    ("cron(0 0 0 * * ? *)", " has 7 fields; Glue's cron has 6"),
    ("cron()", " has 0 fields"),
    ("cron(   )", " has 0 fields"),
    ("0 12 * * ? *", ": must be written cron(Minutes Hours Day-of-month Month Day-of-week Year), e.g. cron(0 12 * * ? *)"),
    ("CRON(0 12 * * ? *)", ": must be written cron("),
    ("cron(0 12 * * ? *", ": must be written cron("),
    ("", ": must be written cron("),
    ("rate(5 minutes)", ": rate(...) is not supported for Glue; only cron(...) is"),
    ("rate(1 day)", "only cron(...) is"),
    ("cron(0 12 * * * *)", ": day-of-month and day-of-week cannot both be given; put ? in one of them"),
    ("cron(0 12 1 * MON *)", "cannot both be given; put ? in one of them"),
    ("cron(0 12 L * 6L *)", "cannot both be given"),
    ("cron(0 12 ? * ? *)", ": day-of-month and day-of-week cannot both be ?"),
    ("cron(? 12 * * ? *)", ": minutes: ? is only allowed in day-of-month or day-of-week"),
    ("cron(0 ? * * ? *)", ": hours: ? is only allowed"),
    ("cron(0 0 ? ? * *)", ": month: ? is only allowed"),
    ("cron(0 0 * * ? ?)", ": year: ? is only allowed"),
    ("cron(0 12 1,? * ? *)", ": day-of-month: ? must be the whole field"),
    ("cron(60 * * * ? *)", ": minutes: 60 is out of range 0-59"),
    ("cron(61 * * * ? *)", ": minutes: 61 is out of range 0-59"),
    ("cron(0 24 * * ? *)", ": hours: 24 is out of range 0-23"),
    ("cron(0 0 0 * ? *)", ": day-of-month: 0 is out of range 1-31"),
    ("cron(0 0 32 * ? *)", ": day-of-month: 32 is out of range 1-31"),
    ("cron(0 0 1 13 ? *)", ": month: 13 is out of range 1-12 (or JAN-DEC)"),
    ("cron(0 0 1 0 ? *)", ": month: 0 is out of range 1-12"),
    ("cron(0 0 ? * 8 *)", ": day-of-week: 8 is out of range 1-7 (1 = SUN)"),
    ("cron(0 0 ? * 0 *)", ": day-of-week: 0 is out of range 1-7 (1 = SUN)"),  # Unix cron's Sunday
    ("cron(0 0 1 1 ? 1969)", ": year: 1969 is out of range 1970-2199"),
    ("cron(0 0 1 1 ? 2200)", ": year: 2200 is out of range 1970-2199"),
    ("cron(0 0 1 1 ? 2020-2300)", ": year: 2300 is out of range"),
    ("cron(99999999999999999999 0 * * ? *)", ": minutes: 99999999999999999999 is out of range 0-59"),
    ("cron(0 0 33W * ? *)", ": day-of-month: 33 is out of range 1-31"),
    ("cron(0 0 ? * 9L *)", ": day-of-week: 9 is out of range 1-7"),
    ("cron(0 0 ? * 8#2 *)", ": day-of-week: 8 is out of range 1-7"),
    ("cron(0 0 ? * 2W *)", ": day-of-week: 2W: W (the nearest weekday) is only allowed in day-of-month"),
    ("cron(0 0 1 W ? *)", ": month: W: W (the nearest weekday) is only allowed in day-of-month"),
    ("cron(0 0 1#2 * ? *)", ": day-of-month: 1#2: # is only allowed in day-of-week"),
    ("cron(L 0 * * ? *)", ": minutes: L: L is only allowed in day-of-month or day-of-week"),
    ("cron(0 0 1 1 ? L)", ": year: L: L is only allowed"),
    ("cron(0/0 * * * ? *)", ": minutes: 0/0: the step after / must be 1 or more"),
    ("cron(*/0 * * * ? *)", "the step after / must be 1 or more"),
    ("cron(5-2 * * * ? *)", ": minutes: 5-2 runs backwards; a range goes from low to high and does not wrap around"),
    ("cron(0 22-2 * * ? *)", ": hours: 22-2 runs backwards"),
    ("cron(0 0 ? * FRI-MON *)", ": day-of-week: FRI-MON runs backwards"),
    ("cron(0 0 1 1 ? 2030-2025)", ": year: 2030-2025 runs backwards"),
    ("cron(0 0 5L * ? *)", ": day-of-month: 5L: L stands alone in day-of-month (the last day)"),
    ("cron(0 0 L-3 * ? *)", ": day-of-month: L-3: L-n (days before the last) is not in AWS's cron"),
    ("cron(0 0 1-L * ? *)", ": day-of-month: 1-L is not a day-of-month"),
    ("cron(0 0 L/2 * ? *)", ": day-of-month: L/2 is not a day-of-month"),
    ("cron(0 0 W * ? *)", ": day-of-month: W is not a day-of-month"),
    ("cron(0 0 15W,20 * ? *)", ": day-of-month: 15W must be the only item"),
    ("cron(0 0 LW,1 * ? *)", ": day-of-month: LW must be the only item"),
    ("cron(0 0 ? * 2#6 *)", ": day-of-week: 2#6: the week number after # must be 1-5, not 6"),
    ("cron(0 0 ? * 2#0 *)", "the week number after # must be 1-5, not 0"),
    ("cron(0 0 ? * #2 *)", ": day-of-week: #2: # takes a day and a week number"),
    ("cron(0 0 ? * 2# *)", "# takes a day and a week number"),
    ("cron(0 0 ? * 2#1,3#2 *)", ": day-of-week: 2#1 must be the only item"),
    ("cron(0 0 ? * 2,6L *)", ": day-of-week: 6L must be the only item"),
    ("cron(0 0 ? * L,2 *)", ": day-of-week: L must be the only item"),
    ("cron(0 0 ? * 2#1#1 *)", ": day-of-week: 2#1#1 is not a day-of-week"),
    ("cron(0 0 ? * MOM *)", ": day-of-week: 'MOM' is not a day name (SUN-SAT)"),
    ("cron(0 0 1 JANUARY ? *)", ": month: 'JANUARY' is not a month name (JAN-DEC)"),
    ("cron(0 0 1 1 ? 20x5)", ": year: '20X5' is not understood"),
    ("cron(a b c d e f)", ": minutes: 'A' is not a number"),
    ("cron(0,,5 0 * * ? *)", ": minutes: an empty item"),
    ("cron(0, 0 * * ? *)", ": minutes: an empty item"),
    ("cron(*-5 0 * * ? *)", ": minutes: *-5: * cannot start a range"),
    ("cron(1-2-3 0 * * ? *)", ": minutes: '1-2-3' is not understood"),
    ("cron(0 0 ? * fr\u0131 *)", ": day-of-week: 'fr\u0131' holds characters AWS's cron does not use"),
    ("cron(0\u00a00 * * ? * *)", ": minutes: "),  # only ASCII whitespace separates fields
    ("cron(0 0 30 2 ? *)", " never fires: no date from now on matches"),
    ("cron(0 0 31 4,6,9,11 ? *)", " never fires"),
    ("cron(0 0 31W 2 ? *)", " never fires"),
    ("cron(0 0 1 1 ? 2020)", " never fires again: its last year, 2020, is past"),
    ("cron(0 0 1 1 ? 1970-1999)", " never fires again: its last year, 1999, is past"),
]  # fmt: skip


@pytest.mark.parametrize(("expression", "says"), INVALID)
def test_what_aws_refuses_is_refused_saying_what_and_where(expression: str, says: str) -> None:
    with pytest.raises(errors.InvalidInputException) as info:
        schedules.parse(expression)
    message = info.value.message
    assert message.startswith("Schedule "), message
    assert says in message, message
    problem = schedules.problem(expression)  # the same, for a message placed at a Schedule field
    assert problem and message.endswith(problem) and not problem.startswith(("Schedule", ":"))


def test_the_message_shows_the_schedule_as_given() -> None:
    starts = r"^Schedule cron\(0 12 \* \* \* \*\): day-of"
    with pytest.raises(errors.InvalidInputException, match=starts):
        schedules.parse("cron(0 12 * * * *)")
    with pytest.raises(errors.InvalidInputException) as info:
        schedules.parse("cron(" + "1," * 500 + "x 0 * * ? *)")
    assert len(info.value.message) < 300
    with pytest.raises(errors.InvalidInputException, match="must be a string"):
        schedules.parse(None)  # type: ignore[arg-type]


def test_a_schedule_built_directly_checks_its_syntax_but_not_when_it_fires() -> None:
    assert schedules.Schedule("cron(0 0 1 1 ? 2020)").next_after(at("2024-01-01 00:00")) is None
    assert schedules.Schedule("cron(* * * * ? *)").upcoming(at("2024-01-01 00:00"), 2) == [
        at("2024-01-01 00:01"), at("2024-01-01 00:02")]  # fmt: skip
    with pytest.raises(errors.InvalidInputException, match="minutes: 60 is out of range"):
        schedules.Schedule("cron(60 * * * ? *)")
    assert schedules.Schedule("cron(0 0 * * ? *)") == schedules.parse("cron(0 0 * * ? *)")


# --- the minimum interval ----------------------------------------------------------------------

GLUE_RULE = ("Glue's minimum interval is 5 minutes (ADHERE_MIN_SCHEDULE_INTERVAL relaxes it for "
             "local use; 0 allows every minute)")  # fmt: skip

INTERVALS = [
    # (expression, min_interval, None if allowed, else a fragment of the refusal)
    ("cron(0/5 * * * ? *)", 300, None),
    ("cron(*/5 8-17 ? * MON-FRI *)", 300, None),
    ("cron(0/4 * * * ? *)", 300, " fires every 4 minutes at times (e.g. 00:00 then 00:04 UTC); " + GLUE_RULE),
    ("cron(* * * * ? *)", 300, "Schedule cron(* * * * ? *) fires every 1 minute at times"),
    ("cron(0,1 0 1 1 ? 2099)", 300, " fires every 1 minute at times (e.g. 00:00 then 00:01 UTC)"),
    ("cron(0,3,10 * * * ? *)", 300, " fires every 3 minutes"),
    # across midnight: 23:55 then 00:00 is 5 minutes; 23:58 then 00:00 is 2
    ("cron(55,0 23,0 L,1 * ? *)", 300, None),
    ("cron(58,0 23,0 L,1 * ? *)", 300, " fires every 2 minutes at times (e.g. 23:58 then 00:00 the next day, UTC)"),
    ("cron(59,0 23,0 1,L * ? *)", 300, " fires every 1 minute"),
    ("cron(59,0 23,0 1,15 * ? *)", 300, None),  # never two days running
    ("cron(59,0 23,0 28,1 2 ? *)", 300, None),  # 28 Feb then 1 Feb next year (not 1 Mar)
    ("cron(59,0 23,0 29,1 2,3 ? *)", 300, " fires every 1 minute"),  # 29 Feb then 1 Mar, in leap years
    ("cron(0,59 0,23 ? * SAT,SUN *)", 300, " fires every 1 minute at times (e.g. 23:59 then 00:00 the next day, UTC)"),
    ("cron(0,59 0,23 ? * SUN,SAT *)", 300, " fires every 1 minute"),  # Saturday then Sunday, across the week
    ("cron(0,59 0,23 ? * MON,WED *)", 300, None),
    ("cron(0,59 0,23 ? * 6L *)", 300, None),
    ("cron(0,59 0,23 LW * ? *)", 300, None),
    # relaxed, or stricter
    ("cron(* * * * ? *)", 0, None),
    ("cron(* * * * ? *)", 60, None),
    ("cron(0/4 * * * ? *)", 240, None),
    ("cron(0/30 * * * ? *)", 3600, " fires every 30 minutes at times (e.g. 00:00 then 00:30 UTC); the minimum interval "
                                   "is 1 hour (ADHERE_MIN_SCHEDULE_INTERVAL sets it; 0 allows every minute)"),
    ("cron(0 0 ? * MON,TUE *)", 2 * 86400, " fires every 1 day at times (e.g. 00:00 then 00:00 the next day, UTC)"),
    ("cron(0 0 1,3 * ? *)", 2 * 86400, None),
    ("cron(0 0 1,2 * ? *)", 2 * 86400, " fires every 1 day"),
    ("cron(0 12 * * ? *)", 86400, None),
    ("cron(0 0,12 * * ? *)", 90, None),
    ("cron(0/5 * * * ? *)", 301, " fires every 5 minutes at times (e.g. 00:00 then 00:05 UTC); the minimum interval is 301 seconds"),
]  # fmt: skip


@pytest.mark.parametrize(("expression", "min_interval", "refusal"), INTERVALS)
def test_the_minimum_interval(expression: str, min_interval: float, refusal: str | None) -> None:
    if refusal is None:
        assert schedules.parse(expression, min_interval=min_interval).expression == expression
        return
    with pytest.raises(errors.InvalidInputException) as info:
        schedules.parse(expression, min_interval=min_interval)
    assert refusal in info.value.message


def test_glues_minimum_is_the_default() -> None:
    assert schedules.MIN_INTERVAL == 300.0
    with pytest.raises(errors.InvalidInputException, match="fires every 4 minutes"):
        schedules.parse("cron(0/4 * * * ? *)")


def test_the_setting_is_read_and_checked_like_the_others() -> None:
    name = "ADHERE_MIN_SCHEDULE_INTERVAL"
    assert settings.min_schedule_interval({}) == settings.Settings().min_schedule_interval == 300.0
    assert settings.min_schedule_interval({name: ""}) == 300.0
    assert settings.min_schedule_interval({name: "60"}) == 60.0
    assert settings.load(environ={name: "0"}).min_schedule_interval == 0.0
    for bad in ("-1", "soon", "nan"):
        says = f"bad setting {name}: must be a number of seconds, not '{bad}'"
        with pytest.raises(errors.InvalidInputException, match=says):
            settings.min_schedule_interval({name: bad})
        with pytest.raises(errors.InvalidInputException, match=says):
            settings.load(environ={name: bad})


def _definitions(trigger_schedule: str | None = None, crawler_schedule: Any = None) -> list[str]:
    """The problems of a file with a SCHEDULED trigger and a crawler, as "where: message"."""
    data: dict[str, Any] = {
        "Jobs": [{"Name": "a", "Command": {"ScriptLocation": "a.py"}}],
        "Crawlers": [{"Name": "c", "Role": "r", "Targets": {"S3Targets": [{"Path": "data"}]}}],
        "Triggers": [{"Name": "t", "Type": "SCHEDULED", "Schedule": trigger_schedule or "cron(0 1 * * ? *)",
                      "Actions": [{"JobName": "a"}]}],
    }  # fmt: skip
    if crawler_schedule is not None:
        data["Crawlers"][0]["Schedule"] = crawler_schedule
    try:
        loading.load_mapping(data, Path("/defs"))
    except errors.ValidationError as exc:
        return [str(p) for p in exc.problems]
    return []


def test_definitions_refuse_a_schedule_glue_refuses_at_its_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _definitions("cron(0/5 * * * ? *)", "cron(0 3 ? * MON *)") == []
    assert _definitions(crawler_schedule="") == []  # a crawler without a schedule
    assert _definitions("cron(0 12 * * * *)") == [
        "Triggers[0].Schedule: day-of-month and day-of-week cannot both be given; put ? in one of them"
    ]
    assert _definitions(crawler_schedule="cron(0 25 * * ? *)") == [
        "Crawlers[0].Schedule: hours: 25 is out of range 0-23"
    ]
    assert _definitions(crawler_schedule={"ScheduleExpression": "rate(1 day)"}) == [
        "Crawlers[0].Schedule: rate(...) is not supported for Glue; only cron(...) is, e.g. cron(0/5 * * * ? *)"
    ]
    assert _definitions("cron(0/4 * * * ? *)")[0].startswith(
        "Triggers[0].Schedule: fires every 4 minutes"
    )
    monkeypatch.setenv("ADHERE_MIN_SCHEDULE_INTERVAL", "0")
    assert _definitions("cron(* * * * ? *)", "cron(0/2 * * * ? *)") == []
    monkeypatch.setenv("ADHERE_MIN_SCHEDULE_INTERVAL", "-5")
    with pytest.raises(
        errors.InvalidInputException, match="bad setting ADHERE_MIN_SCHEDULE_INTERVAL"
    ):
        _definitions()


def test_a_repeated_schedule_comes_from_the_cache() -> None:
    """Typical schedules take well under a millisecond each (0.2-0.7 ms measured with timeit, not
    timed here); definition files repeat schedules, and a repeat comes from a cache."""
    assert schedules.parse("cron(0/5 8-17 ? * MON-FRI *)") is schedules.parse(
        "cron(0/5 8-17 ? * MON-FRI *)"
    )


# --- fuzzing ------------------------------------------------------------------------------------

TOKENS = ["0", "5", "59", "60", "23", "24", "1", "31", "32", "12", "13", "7", "8", "1970", "2199", "2200",
          "*", "?", "L", "LW", "15W", "31W", "0W", "6L", "L6", "2#3", "7#5", "2#6", "#", "#1", "/", "-", ",",
          "0/0", "0/5", "*/15", "1/10", "5-2", "2-5", "MON-FRI", "fri-mon", "JAN", "jan,jul", "JAN-DEC/2",
          "SUN", "x", "", "L-2", "1,L", "L,1", "1-L", "W", "5L", "?,1", "1,,2", "99999999999", "\uff12", "0x1",
          "-1", "1-", "+1", "1.5", "(", ")", "cron(", "\u0131"]  # fmt: skip


@st.composite
def near_valid(draw: st.DrawFn) -> str:
    count = draw(st.sampled_from([6, 6, 6, 6, 5, 7, 0, 1]))
    fields = [draw(st.sampled_from(TOKENS)) for _ in range(count)]
    if draw(st.booleans()) and count == 6:  # make the day fields agree more often than not
        fields[draw(st.sampled_from([2, 4]))] = "?"
    spaces = draw(st.sampled_from([" ", "  ", "\t", " \n"]))
    wraps = ["cron({})", "cron({})", "cron({})", "{}", "rate({})", "cron({}", "CRON({})"]
    wrap = draw(st.sampled_from(wraps))
    return wrap.format(spaces.join(fields))


def _refused_or_parsed(expression: str, min_interval: float) -> None:
    try:
        schedule = schedules.parse(expression, min_interval=min_interval)
    except errors.InvalidInputException as exc:
        assert exc.message.startswith("Schedule "), exc.message
        assert "\n" not in exc.message
    else:
        assert schedule.next_after(NOW) is not None


RANDOM_TEXT = st.one_of(
    st.text(), st.text().map("cron({})".format), st.from_regex(r"cron\([-0-9*?/,#LW ]*\)")
)


@FUZZ
@given(RANDOM_TEXT)
def test_random_text_is_refused_with_invalid_input_only(expression: str) -> None:
    _refused_or_parsed(expression, schedules.MIN_INTERVAL)


@FUZZ
@given(near_valid(), st.sampled_from([0.0, 60.0, 300.0, 3600.0]))
def test_near_valid_schedules_are_refused_with_invalid_input_only(
    expression: str, min_interval: float
) -> None:
    _refused_or_parsed(expression, min_interval)


# A day-by-day oracle for random valid schedules, written from AWS's rules (not croniter's).

_DAY_NAMES = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
_MONTH_NAMES = [calendar.month_abbr[m].upper() for m in range(1, 13)]


def _aws_weekday(d: date) -> int:
    return d.isoweekday() % 7 + 1  # 1 = SUN


def _month_end(d: date) -> int:
    return calendar.monthrange(d.year, d.month)[1]


def _nearest_weekday(d: date, n: int) -> bool:
    last = _month_end(d)
    if n > last:
        return False
    weekday = date(d.year, d.month, n).weekday()  # 0 = Monday
    if weekday == 5:
        target = n - 1 if n > 1 else n + 2
    elif weekday == 6:
        target = n + 1 if n < last else n - 2
    else:
        target = n
    return d.day == target


def _last_weekday(d: date) -> bool:
    day = _month_end(d)
    while date(d.year, d.month, day).weekday() >= 5:
        day -= 1
    return d.day == day


@st.composite
def _numbers(
    draw: st.DrawFn, low: int, high: int, names: list[str] | None = None
) -> tuple[str, set[int]]:
    """A field of plain values: *, a/b, a-b, a-b/c or a list; and the values it means."""
    kind = draw(st.sampled_from(["*", "step", "range", "list"]))

    def name(v: int) -> str:
        return (
            draw(st.sampled_from([str(v), names[v - low], names[v - low].lower()]))
            if names
            else str(v)
        )

    if kind == "*":
        return "*", set(range(low, high + 1))
    a = draw(st.integers(low, high))
    if kind == "step":
        step = draw(st.integers(1, high - low + 1))
        start = draw(st.sampled_from([name(a), "*"])) if a == low else name(a)
        return f"{start}/{step}", set(range(a, high + 1, step))
    if kind == "range":
        b = draw(st.integers(a, high))
        step = draw(st.one_of(st.none(), st.integers(1, 5)))
        text = f"{name(a)}-{name(b)}" + (f"/{step}" if step else "")
        return text, set(range(a, b + 1, step or 1))
    values = draw(st.sets(st.integers(low, high), min_size=1, max_size=4))
    return ",".join(name(v) for v in sorted(values)), values


@st.composite
def valid_schedules(draw: st.DrawFn) -> tuple[str, Callable[[date], bool], list[int]]:
    """A random valid expression, which days it fires on and at which minutes of the day."""
    minutes_text, minutes = draw(_numbers(0, 59))
    hours_text, hours = draw(_numbers(0, 23))
    months_text, months = draw(_numbers(1, 12, _MONTH_NAMES))
    first = draw(st.integers(2024, 2032))
    year_forms = [
        ("*", set(range(1970, 2200))),
        (f"{first}-{first + 3}", set(range(first, first + 4))),
        (f"{first},{first + 2}", {first, first + 2}),
        (f"{first}/2", set(range(first, 2200, 2))),
    ]
    years_text, years = draw(st.sampled_from(year_forms))
    form = draw(st.sampled_from(["days", "L", "nW", "LW", "weekdays", "nL", "n#k", "L-dow"]))
    dom, dow = "?", "?"
    if form == "days":
        dom, days = draw(_numbers(1, 31))
        last = draw(st.booleans())
        dom += ",L" if last else ""
        rule = lambda d: d.day in days or (last and d.day == _month_end(d))  # noqa: E731
    elif form == "L":
        dom, rule = "L", lambda d: d.day == _month_end(d)
    elif form == "nW":
        n = draw(st.integers(1, 31))
        dom, rule = f"{n}W", lambda d: _nearest_weekday(d, n)
    elif form == "LW":
        dom, rule = "LW", _last_weekday
    elif form == "weekdays":
        dow, weekdays = draw(_numbers(1, 7, _DAY_NAMES))
        rule = lambda d: _aws_weekday(d) in weekdays  # noqa: E731
    elif form == "nL":
        n = draw(st.integers(1, 7))
        dow = f"{draw(st.sampled_from([str(n), _DAY_NAMES[n - 1]]))}L"
        rule = lambda d: _aws_weekday(d) == n and d.day + 7 > _month_end(d)  # noqa: E731
    elif form == "n#k":
        n, k = draw(st.integers(1, 7)), draw(st.integers(1, 5))
        dow = f"{n}#{k}"
        rule = lambda d: _aws_weekday(d) == n and (d.day - 1) // 7 + 1 == k  # noqa: E731
    else:
        dow, rule = "L", lambda d: _aws_weekday(d) == 7
    if draw(st.booleans()):
        dom, dow = dom.lower(), dow.lower()
    expression = f"cron({minutes_text} {hours_text} {dom} {months_text} {dow} {years_text})"
    times = sorted(h * 60 + m for h in hours for m in minutes)
    return expression, lambda d: d.year in years and d.month in months and rule(d), times


def _oracle_next(
    fires_on: Callable[[date], bool], times: list[int], after: datetime, days: int
) -> datetime | None:
    start = datetime(after.year, after.month, after.day, tzinfo=UTC)
    for i in range(days):
        day = start + timedelta(days=i)
        if fires_on(day.date()):
            for minute in times:
                if (fire := day + timedelta(minutes=minute)) > after:
                    return fire
    return None


_ANCHORS = st.datetimes(datetime(2023, 6, 1), datetime(2034, 1, 1), timezones=st.just(UTC))
_HORIZON = 3 * 366  # days the oracle looks ahead


@FUZZ
@given(valid_schedules(), _ANCHORS)
def test_random_valid_schedules_fire_when_aws_rules_say(
    case: tuple[str, Callable[[date], bool], list[int]], anchor: datetime
) -> None:
    expression, fires_on, times = case
    schedule = schedules.Schedule(expression)
    found = schedule.next_after(anchor)
    expected = _oracle_next(fires_on, times, anchor, _HORIZON)
    if expected is not None:
        assert found == expected, expression
        assert schedule.latest_at_or_before(expected) == expected
        before = schedule.latest_at_or_before(expected - timedelta(seconds=1))
        assert before is None or before <= anchor, expression
    else:
        assert found is None or found >= anchor + timedelta(days=_HORIZON - 1), (expression, found)


@FUZZ
@given(valid_schedules(), _ANCHORS)
def test_next_after_is_strictly_after_and_nothing_fires_in_between(
    case: tuple[str, Callable[[date], bool], list[int]], anchor: datetime
) -> None:
    try:
        schedule = schedules.parse(case[0], min_interval=0)
    except errors.InvalidInputException as exc:  # only when it never fires again
        assert "never fires" in exc.message
        return
    fire = schedule.next_after(anchor)
    if fire is None:
        return
    assert fire > anchor and fire.second == 0 and fire.tzinfo is UTC
    assert schedule.next_after(fire - timedelta(minutes=1)) == fire
    assert schedule.latest_at_or_before(fire) == fire
    before = schedule.latest_at_or_before(fire - timedelta(minutes=1))
    assert before is None or before <= anchor
