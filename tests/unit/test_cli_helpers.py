"""The pure parts of the CLI's repair loop: durations as `show` prints them, the graph order it
lists nodes in, `--since`, `--arg JOB:--key=value`, and the new lines `logs -f` prints."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator import errors, graph
from orchestrator.cli import display, follow, repair


@pytest.mark.parametrize(("seconds", "text"), [
    (None, ""), (0, "0.000s"), (0.0434, "0.043s"), (0.9994, "0.999s"), (0.9996, "1.0s"), (12.54, "12.5s"),
    (59.94, "59.9s"), (59.96, "1m00s"), (184.2, "3m04s"), (3723, "1h02m03s"), (2 * 86400 + 3 * 3600 + 240, "2d03h04m"),
])  # fmt: skip
def test_durations_are_exact_to_the_millisecond_below_a_second(seconds: float | None, text: str) -> None:
    assert display.duration(seconds) == text


def _trigger(name: str, watched: list[str], started: list[str]) -> dict[str, object]:
    out: dict[str, object] = {"Name": name, "Type": "CONDITIONAL" if watched else "ON_DEMAND",
                              "Actions": [{"JobName": j} for j in started]}
    if watched:
        out["Predicate"] = {"Logical": "AND", "Conditions": [{"JobName": w, "State": "SUCCEEDED"} for w in watched]}
    return out


@given(st.lists(st.tuples(st.integers(0, 7), st.integers(0, 7)), max_size=12))
def test_upstream_first_is_the_topological_order_without_networkx(pairs: list[tuple[int, int]]) -> None:
    edges = {(min(a, b), max(a, b)) for a, b in pairs if a != b}  # acyclic: node a feeds node b > a
    names = [f"job{7 - i}" for i in range(8)]  # names sort against the flow, so ties are broken by name
    triggers = [_trigger("start", [], [names[0], names[3]])]
    triggers += [_trigger(f"t{b}-{a}", [names[a]], [names[b]]) for a, b in sorted(edges)]
    import networkx as nx

    order = nx.lexicographical_topological_sort(graph.workflow_graph(triggers), key=lambda n: ({"job": 0, "crawler": 1,
                                                                                              "trigger": 2}[n[0]], n[1]))
    assert graph.upstream_first(triggers) == list(order)


def test_since_takes_iso_times_and_ages() -> None:
    now = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
    assert repair.parse_since("2h", now) == now - dt.timedelta(hours=2)
    assert repair.parse_since("1h30m", now) == now - dt.timedelta(minutes=90)
    assert repair.parse_since("3d", now) == now - dt.timedelta(days=3)
    assert repair.parse_since("2026-05-31T10:00:00+02:00", now) == dt.datetime(2026, 5, 31, 8, 0, tzinfo=dt.UTC)
    local = dt.datetime(2026, 5, 31, 10, 0).astimezone()
    assert repair.parse_since("2026-05-31 10:00", now) == local.astimezone(dt.UTC)
    for bad in ("yesterday", "12", ""):
        with pytest.raises(errors.InvalidInputException, match="--since takes"):
            repair.parse_since(bad, now)


def test_arg_overrides_name_a_job_then_its_argument() -> None:
    assert repair.overrides(["load:--input=a.txt", "load:day=1", "index:--x=", "a:b:--k=v=w"]) == {
        "load": {"--input": "a.txt", "--day": "1"}, "index": {"--x": ""}, "a:b": {"--k": "v=w"},
    }
    for bad in ("load", "load:--input", ":--k=v", "load:--=v"):
        with pytest.raises(errors.InvalidInputException, match="JOB:--key=value"):
            repair.overrides([bad])


@pytest.mark.parametrize(("before", "now", "new"), [
    ([], ["a", "b"], ["a", "b"]),
    (["a"], ["a", "b"], ["b"]),
    (["out 1", "err 1"], ["out 1", "out 2", "err 1", "err 2"], ["out 2", "err 2"]),  # stdout, then stderr
    (["out 1", "hel"], ["out 1", "hello", "err"], ["hello", "err"]),  # a line read half written
    (["a", "", "b"], ["a", "", "b", "", "c"], ["", "c"]),
])  # fmt: skip
def test_follow_prints_each_new_line_once(before: list[str], now: list[str], new: list[str]) -> None:
    assert follow.new_lines(before, now) == new
