"""Job bookmarks, the pure part: options, file / key / partition states, the JobBookmark string."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator import bookmarks as bm
from orchestrator.errors import InvalidInputException

BOUNDED = settings(max_examples=200, deadline=None)
P = "s3://bucket/in/"
BAND = 100  # a short band keeps the clock arithmetic readable


# --- options ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "mode", "from_run", "to_run"),
    [
        ({}, bm.DISABLE, None, None),
        ({"--other": "x"}, bm.DISABLE, None, None),
        ({"--job-bookmark-option": "job-bookmark-disable"}, bm.DISABLE, None, None),
        ({"--job-bookmark-option": "job-bookmark-enable"}, bm.ENABLE, None, None),
        ({"--job-bookmark-option": "job-bookmark-pause"}, bm.PAUSE, None, None),
        (
            {
                "--job-bookmark-option": "job-bookmark-pause",
                "--job-bookmark-from": "jr_a",
                "--job-bookmark-to": "jr_b",
            },
            bm.PAUSE,
            "jr_a",
            "jr_b",
        ),
        # from == to: an empty window, allowed (the input up to "to" minus the input up to "from")
        (
            {
                "--job-bookmark-option": "job-bookmark-pause",
                "--job-bookmark-from": "jr_a",
                "--job-bookmark-to": "jr_a",
            },
            bm.PAUSE,
            "jr_a",
            "jr_a",
        ),
        ({"--continuation-option": "continuation-enabled"}, bm.ENABLE, None, None),
        ({"--continuation-option": "continuation-readonly"}, bm.PAUSE, None, None),
        ({"--continuation-option": "continuation-ignore"}, bm.DISABLE, None, None),
        (
            {
                "--continuation-option": "continuation-readonly",
                "--job-bookmark-from": "jr_a",
                "--job-bookmark-to": "jr_b",
            },
            bm.PAUSE,
            "jr_a",
            "jr_b",
        ),
        (
            {
                "--continuation-option": "continuation-enabled",
                "--job-bookmark-option": "job-bookmark-enable",
            },
            bm.ENABLE,
            None,
            None,
        ),
        (
            {
                "--continuation-option": "continuation-ignore",
                "--job-bookmark-option": "job-bookmark-disable",
            },
            bm.DISABLE,
            None,
            None,
        ),
        (
            {
                "--continuation-option": "continuation-readonly",
                "--job-bookmark-option": "job-bookmark-pause",
            },
            bm.PAUSE,
            None,
            None,
        ),
    ],
)
def test_options_accepted(arguments, mode, from_run, to_run):
    opts = bm.options(arguments)
    assert opts == bm.Options(mode, from_run, to_run)
    assert opts.advances is (mode == bm.ENABLE)
    assert opts.windowed is (from_run is not None)


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        (
            {"--job-bookmark-option": "job-bookmark-enabled"},
            "is not one of job-bookmark-enable, job-bookmark-pause, job-bookmark-disable",
        ),
        ({"--job-bookmark-option": ""}, "'' is not one of job-bookmark-enable"),
        ({"--job-bookmark-option": "JOB-BOOKMARK-ENABLE"}, "is not one of"),
        ({"--job-bookmark-option": "enable"}, "is not one of"),
        (
            {"--continuation-option": "continuation-enable"},
            "is not one of continuation-enabled, continuation-readonly, continuation-ignore",
        ),
        (
            {
                "--job-bookmark-option": "job-bookmark-enable",
                "--continuation-option": "continuation-ignore",
            },
            "disagree",
        ),
        (
            {
                "--job-bookmark-option": "job-bookmark-pause",
                "--continuation-option": "continuation-enabled",
            },
            "disagree",
        ),
        (
            {"--job-bookmark-option": "job-bookmark-pause", "--job-bookmark-from": "jr_a"},
            "--job-bookmark-from needs --job-bookmark-to",
        ),
        (
            {"--job-bookmark-option": "job-bookmark-pause", "--job-bookmark-to": "jr_b"},
            "--job-bookmark-to needs --job-bookmark-from",
        ),
        (
            {
                "--job-bookmark-option": "job-bookmark-enable",
                "--job-bookmark-from": "jr_a",
                "--job-bookmark-to": "jr_b",
            },
            "apply only with --job-bookmark-option job-bookmark-pause, not job-bookmark-enable",
        ),
        (
            {
                "--job-bookmark-option": "job-bookmark-disable",
                "--job-bookmark-from": "jr_a",
                "--job-bookmark-to": "jr_b",
            },
            "not job-bookmark-disable",
        ),
        # no option at all means disable, which takes no window
        ({"--job-bookmark-from": "jr_a", "--job-bookmark-to": "jr_b"}, "apply only with"),
        (
            {
                "--continuation-option": "continuation-enabled",
                "--job-bookmark-from": "jr_a",
                "--job-bookmark-to": "jr_b",
            },
            "apply only with",
        ),
        (
            {
                "--job-bookmark-option": "job-bookmark-pause",
                "--job-bookmark-from": " ",
                "--job-bookmark-to": "jr_b",
            },
            "--job-bookmark-from must be a job run id",
        ),
        (
            {
                "--job-bookmark-option": "job-bookmark-pause",
                "--job-bookmark-from": "jr_a",
                "--job-bookmark-to": "",
            },
            "--job-bookmark-to must be a job run id",
        ),
        ({"--job-bookmark-option": 1}, "--job-bookmark-option must be a string"),
    ],
)
def test_options_refused(arguments, fragment):
    with pytest.raises(InvalidInputException) as raised:
        bm.options(arguments)
    assert fragment in raised.value.message


def test_options_built_directly_are_checked_too():
    with pytest.raises(InvalidInputException, match="is not one of"):
        bm.Options("pause")
    with pytest.raises(InvalidInputException, match="needs"):
        bm.Options(bm.PAUSE, "jr_a")
    assert bm.Options(bm.ENABLE).advances
    assert not bm.Options(bm.PAUSE).advances
    assert not bm.Options(bm.DISABLE).advances


# --- files: examples -------------------------------------------------------------------------


def run(state, listing, listed_at, band=BAND, prefix=P):
    """One committed run: the files it processes and the state it commits."""
    new = bm.new_files(state, listing, prefix=prefix)
    return new, bm.advance(state, listing, prefix=prefix, listed_at_ms=listed_at, band_ms=band)


def test_first_run_reads_everything_in_mtime_then_key_order():
    listing = [("c", 5), ("b", 7), ("a", 7), ("d", 1)]
    assert bm.new_files(None, listing, prefix=P) == ["d", "c", "a", "b"]
    assert bm.new_files(None, iter(listing), prefix=P) == ["d", "c", "a", "b"]


def test_processed_file_is_never_new_again_unless_modified():
    listing = [("old", 10), ("young", 950), ("during", 1_005)]  # listed at 1000, band 100
    new, state = run(None, listing, 1_000)
    assert new == ["old", "young", "during"]
    assert state.watermark_ms == 900
    assert dict(state.in_band) == {"young": 950, "during": 1_005}
    for listed_at in (1_010, 1_050, 2_000, 10_000):
        new, state = run(state, listing, listed_at)
        assert new == []
    assert dict(state.in_band) == {}  # all under the watermark by now


def test_late_visible_file_inside_the_band_is_still_new():
    # "late" was written at 950, before the listing at 1000, but the listing did not show it
    new, state = run(None, [("a", 10)], 1_000)
    assert new == ["a"]
    new, state = run(state, [("a", 10), ("late", 950)], 1_500)
    assert new == ["late"]
    new, state = run(state, [("a", 10), ("late", 950)], 3_000)
    assert new == []


def test_file_modified_after_processing_is_new_again():
    new, state = run(None, [("a", 10), ("b", 960)], 1_000)
    assert new == ["a", "b"]
    # b is modified while still in the band
    new, state = run(state, [("a", 10), ("b", 990)], 1_050)
    assert new == ["b"]
    # a is modified long after it went under the watermark
    new, state = run(state, [("a", 2_000), ("b", 990)], 2_500)
    assert new == ["a"]
    new, state = run(state, [("a", 2_000), ("b", 990)], 2_600)
    assert new == []
    # an mtime that goes back (a copy that kept an older mtime) inside the band is new too
    new, state = run(state, [("a", 2_550), ("b", 990)], 2_610)
    assert new == ["a"]


def test_in_band_keeps_only_the_files_of_the_last_band():
    listing = [(f"f{i:04d}", i * 10) for i in range(1_000)]  # mtimes 0 .. 9990
    new, state = run(None, listing, 10_000, band=1_000)
    assert len(new) == 1_000
    assert state.watermark_ms == 9_000
    assert sorted(state.in_band) == [f"f{i:04d}" for i in range(901, 1_000)]
    assert all(m > 10_000 - 1_000 for m in state.in_band.values())
    _, state = run(state, listing, 20_000, band=1_000)
    assert dict(state.in_band) == {}


def test_clock_edges():
    # mtime == listed_at - band: under the watermark (it was visible to the listing)
    _, state = run(None, [("edge", 900), ("inside", 901)], 1_000)
    assert state.watermark_ms == 900
    assert dict(state.in_band) == {"inside": 901}
    # mtime == watermark is old; watermark + 1 is new unless in the band with that mtime
    assert bm.new_files(state, [("x", 900), ("y", 901), ("inside", 901)], prefix=P) == ["y"]
    # a file that shows up late with mtime == watermark was (by the band's premise) listed
    assert bm.new_files(state, [("edge", 900)], prefix=P) == []


def test_watermark_never_goes_back():
    _, state = run(None, [("a", 500)], 1_000)
    _, earlier = run(state, [("a", 500)], 200)  # a listing time before the last one
    assert earlier.watermark_ms == 900
    assert bm.new_files(earlier, [("a", 500)], prefix=P) == []


def test_zero_band_and_bad_arguments():
    _, state = run(None, [("a", 999), ("b", 1_000), ("c", 1_001)], 1_000, band=0)
    assert state.watermark_ms == 1_000
    assert dict(state.in_band) == {"c": 1_001}
    with pytest.raises(InvalidInputException, match="maxBand"):
        bm.advance(None, [], prefix=P, listed_at_ms=0, band_ms=-1)
    with pytest.raises(InvalidInputException, match="listed_at_ms"):
        bm.advance(None, [], prefix=P, listed_at_ms=1.5)
    assert bm.advance(None, [], prefix=P, listed_at_ms=bm.MAX_BAND_MS).watermark_ms == 0


def test_prefix_change_starts_over():
    _, state = run(None, [("a", 10), ("b", 950)], 1_000)
    other = "s3://bucket/other/"
    assert bm.new_files(state, [("a", 10), ("b", 950)], prefix=other) == ["a", "b"]
    moved = bm.advance(state, [("c", 5)], prefix=other, listed_at_ms=50, band_ms=BAND)
    assert moved == bm.FileState(other, -50, {"c": 5})  # the old band and watermark are gone


def test_empty_listings():
    assert bm.new_files(None, [], prefix=P) == []
    state = bm.advance(None, [], prefix=P, listed_at_ms=1_000, band_ms=BAND)
    assert state == bm.FileState(P, 900, {})
    _, state = run(state, [("a", 950)], 1_010)
    assert bm.new_files(state, [], prefix=P) == []
    again = bm.advance(state, [], prefix=P, listed_at_ms=1_020, band_ms=BAND)
    assert dict(again.in_band) == {"a": 950}  # not listed this time, still in the band


def test_duplicate_keys_in_a_listing_count_once():
    assert bm.new_files(None, [("a", 1), ("a", 1), ("b", 2)], prefix=P) == ["a", "b"]


def test_file_state_is_immutable_and_json_round_trips():
    band = {"k": 5}
    state = bm.FileState(P, 3, band)
    band["k"] = 6
    assert state.in_band == {"k": 5}
    with pytest.raises(TypeError):
        state.in_band["k"] = 7  # type: ignore[index]
    data = state.to_json()
    assert data == {"kind": "files", "prefix": P, "watermark_ms": 3, "in_band": {"k": 5}}
    assert bm.FileState.from_json(json.loads(json.dumps(data))) == state


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (None, "must be a JSON object"),
        ([], "must be a JSON object"),
        ({"prefix": P, "watermark_ms": 0, "in_band": {}}, "kind None"),
        ({"kind": "keys", "keys": ["id"], "order": "asc", "last": None}, "kind 'keys'"),
        ({"kind": "files", "watermark_ms": 0, "in_band": {}}, "string prefix"),
        ({"kind": "files", "prefix": P, "watermark_ms": "0", "in_band": {}}, "int watermark"),
        ({"kind": "files", "prefix": P, "watermark_ms": True, "in_band": {}}, "int watermark"),
        ({"kind": "files", "prefix": P, "watermark_ms": 1.5, "in_band": {}}, "int watermark"),
        ({"kind": "files", "prefix": P, "watermark_ms": 0}, "in_band"),
        ({"kind": "files", "prefix": P, "watermark_ms": 0, "in_band": {"a": "1"}}, "in_band"),
        ({"kind": "files", "prefix": P, "watermark_ms": 0, "in_band": [["a", 1]]}, "in_band"),
    ],
)
def test_file_state_garbage(data, fragment):
    with pytest.raises(ValueError, match=fragment):
        bm.FileState.from_json(data)


# --- files: window and pinned ----------------------------------------------------------------


def test_window_is_what_the_runs_after_start_up_to_end_processed():
    s0 = None
    new1, s1 = run(s0, [("a", 10)], 1_000)
    new2, s2 = run(s1, [("a", 10), ("b", 1_100)], 2_000)
    new3, s3 = run(s2, [("a", 10), ("b", 1_100), ("c", 2_500), ("d", 2_950)], 3_000)
    now = [("a", 10), ("b", 1_100), ("c", 2_500), ("d", 2_950), ("e", 3_500)]
    assert (new1, new2, new3) == (["a"], ["b"], ["c", "d"])
    assert bm.window(s1, s3, now, prefix=P) == ["b", "c", "d"]  # runs 2 and 3; e is later
    assert bm.window(s1, s2, now, prefix=P) == ["b"]
    assert bm.window(s0, s1, now, prefix=P) == ["a"]
    assert bm.window(s2, s2, now, prefix=P) == []  # from == to: an empty window
    with pytest.raises(InvalidInputException, match="later run"):
        bm.window(s3, s1, now, prefix=P)


def test_window_excludes_a_file_modified_since():
    _, s1 = run(None, [("a", 10)], 1_000)
    _, s2 = run(s1, [("a", 10), ("b", 1_500)], 2_000)
    # b was rewritten after run 2: its current version was processed by no run in the window
    assert bm.window(s1, s2, [("a", 10), ("b", 2_500)], prefix=P) == []


def test_pinned_rerun_reads_the_attempts_window_only():
    _, state = run(None, [("a", 10)], 1_000)
    # the failed attempt listed at 2000 from ``state``; the retry lists at 2600
    later = [("a", 10), ("b", 1_500), ("c", 1_990), ("d", 2_000), ("e", 2_010), ("f", 2_500)]
    assert bm.pinned(state, later, prefix=P, listed_at_ms=2_000) == ["b", "c", "d"]
    assert bm.pinned(None, later, prefix=P, listed_at_ms=1_000) == ["a"]
    # committing over the same filtered listing leaves the later arrivals new
    kept = [(k, m) for k, m in later if m <= 2_000]
    after = bm.advance(state, kept, prefix=P, listed_at_ms=2_000, band_ms=BAND)
    assert bm.new_files(after, later, prefix=P) == ["e", "f"]


# --- files: properties -----------------------------------------------------------------------

KEYS = ("a", "b", "c", "d", "e")

steps = st.one_of(
    # write a new version of key: the clock moves on by dt, visible after a delay <= band
    st.tuples(st.just("write"), st.sampled_from(KEYS), st.integers(1, 8), st.integers(0, 10**6)),
    # list and process: the clock moves on by wait; the listing started ``ran`` ms earlier and
    # misses the files of the ``drop`` bitmask whose mtime is within the band of its start
    st.tuples(st.just("list"), st.integers(0, 40), st.integers(0, 40), st.integers(0, 31)),
)


def simulate(band, ops):
    """Runs over a store where a version with mtime m may stay invisible until m + band, and a
    listing may miss any file whose mtime is within the band of the listing's start."""
    now, ended = 0, 0
    versions: dict[str, list[tuple[int, int]]] = {}  # key -> [(mtime, visible_at)]
    states, processed, shown = [None], [set()], set()

    def process(listed_at, drop=0):
        listing = []
        for key, history in versions.items():
            visible = [m for m, at in history if at <= now]
            missed = drop >> KEYS.index(key) & 1 and max(visible, default=0) > listed_at - band
            if visible and not missed:
                listing.append((key, max(visible)))
        shown.update(listing)
        mtimes = dict(listing)
        new = bm.new_files(states[-1], listing, prefix=P)
        state = bm.advance(states[-1], listing, prefix=P, listed_at_ms=listed_at, band_ms=band)
        # the band holds the last band only; the watermark keeps up with the clock
        assert state.watermark_ms >= listed_at - band
        assert all(m > listed_at - band for m in state.in_band.values())
        states.append(state)
        processed.append({(k, mtimes[k]) for k in new})
        return listing

    for op in ops:
        if op[0] == "write":
            _, key, dt, delay = op
            now += dt
            versions.setdefault(key, []).append((now, now + delay % (band + 1)))
        else:
            _, wait, ran, drop = op
            now += wait
            listed_at = max(ended, now - ran)
            process(listed_at, drop)
            ended = now
    now += band + 1  # everything is visible by now
    final = process(now)
    return versions, states, processed, shown, final


@BOUNDED
@given(st.integers(0, 30), st.lists(steps, max_size=40))
def test_every_version_shown_is_processed_exactly_once(band, ops):
    versions, _, processed, shown, _ = simulate(band, ops)
    returned = Counter(v for run_ in processed for v in run_)
    assert all(n == 1 for n in returned.values()), returned
    assert set(returned) == shown  # nothing shown by a listing is skipped, nothing is invented
    for key, history in versions.items():
        assert (key, history[-1][0]) in returned  # the last version of every file is read
    order: dict[str, int] = {}
    for run_ in processed:  # per key, versions are read in order, never an older one again
        for key, mtime in sorted(run_):
            assert mtime > order.get(key, -1)
            order[key] = mtime


@BOUNDED
@given(st.integers(0, 30), st.lists(steps, max_size=40), st.data())
def test_window_is_the_union_of_the_runs_in_between(band, ops, data):
    _, states, processed, _, final = simulate(band, ops)
    n = len(states) - 1
    for _ in range(5):
        i = data.draw(st.integers(0, n))
        j = data.draw(st.integers(i, n))
        union = set().union(*processed[i + 1 : j + 1])
        expected = [k for m, k in sorted((m, k) for k, m in final if (k, m) in union)]
        assert bm.window(states[i], states[j], final, prefix=P) == expected


@BOUNDED
@given(st.integers(0, 30), st.lists(steps, max_size=30), st.integers(0, 400))
def test_pinned_is_new_files_up_to_the_listing_time(band, ops, listed_at):
    _, states, _, _, final = simulate(band, ops)
    mtimes = dict(final)
    for state in states:
        new = bm.new_files(state, final, prefix=P)
        assert bm.pinned(state, final, prefix=P, listed_at_ms=listed_at) == [
            k for k in new if mtimes[k] <= listed_at
        ]


# --- rows: bookmark keys ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "order", "expected"),
    [
        (["id"], "asc", (("id",), "asc")),
        ("id", "desc", (("id",), "desc")),
        ("a, b", "ASC", (("a", "b"), "asc")),
        (("a", "b", "c"), "Desc", (("a", "b", "c"), "desc")),
    ],
)
def test_key_options_accepted(keys, order, expected):
    assert bm.key_options(keys, order) == expected


@pytest.mark.parametrize(
    ("keys", "order", "fragment"),
    [
        ([], "asc", "one or more columns"),
        ("", "asc", "one or more columns"),
        ("a,,b", "asc", "one or more columns"),
        (["a", " "], "asc", "one or more columns"),
        (["a", "b", "a"], "asc", "repeats a"),
        ([1], "asc", "column names"),
        (["id"], "ascending", "'asc' or 'desc'"),
        (["id"], None, "'asc' or 'desc'"),
    ],
)
def test_key_options_refused(keys, order, fragment):
    with pytest.raises(InvalidInputException) as raised:
        bm.key_options(keys, order)
    assert fragment in raised.value.message


def test_keys_advance_ascending():
    state = bm.advance_keys(None, ["id"], "asc", [(3,), (1,), (2,)])
    assert state == bm.KeyState(("id",), "asc", (3,))
    assert bm.key_filter(state) == ("gt", (3,))
    assert bm.key_filter(None) is None
    state = bm.advance_keys(state, ["id"], "asc", [(10,), (4,)])  # gaps are allowed
    assert state.last == (10,)
    assert bm.advance_keys(state, ["id"], "asc", []) == state  # no rows: nothing moves
    assert bm.advance_keys(None, ["id"], "asc", []) == bm.KeyState(("id",), "asc", None)
    assert bm.key_filter(bm.KeyState(("id",), "asc", None)) is None


def test_keys_advance_descending():
    state = bm.advance_keys(None, "id", "desc", [(10,), (30,), (20,)])
    assert state.last == (10,)
    assert bm.key_filter(state) == ("lt", (10,))
    assert bm.advance_keys(state, "id", "desc", [(9,), (1,)]).last == (1,)
    with pytest.raises(InvalidInputException, match="strictly monotonically decreasing"):
        bm.advance_keys(state, "id", "desc", [(5,), (11,)])


def test_keys_composite_are_lexicographic():
    state = bm.advance_keys(None, ["day", "seq"], "asc", [("2024-01-01", 7), ("2024-01-02", 1)])
    assert state.last == ("2024-01-02", 1)
    assert bm.key_filter(state) == ("gt", ("2024-01-02", 1))
    state = bm.advance_keys(state, ["day", "seq"], "asc", [("2024-01-02", 2), ("2024-01-03", 0)])
    assert state.last == ("2024-01-03", 0)
    with pytest.raises(InvalidInputException) as raised:
        bm.advance_keys(state, ["day", "seq"], "asc", [("2024-01-02", 9)])
    assert "bookmark key day goes from '2024-01-03' back to '2024-01-02'" in raised.value.message
    with pytest.raises(InvalidInputException) as raised:
        bm.advance_keys(state, ["day", "seq"], "asc", [("2024-01-03", 0)])
    assert "bookmark keys day, seq repeat the last bookmarked value" in raised.value.message


def test_keys_non_monotonic_row_names_the_key():
    state = bm.advance_keys(None, ["id"], "asc", [(5,)])
    with pytest.raises(InvalidInputException) as raised:
        bm.advance_keys(state, ["id"], "asc", [(6,), (4,)])
    message = raised.value.message
    assert "bookmark key id goes from 5 back to 4" in message
    assert "strictly monotonically increasing" in message
    with pytest.raises(InvalidInputException, match="repeat the last bookmarked value"):
        bm.advance_keys(state, ["id"], "asc", [(5,)])


@pytest.mark.parametrize(
    ("rows", "fragment"),
    [
        ([(1, 2)], "a row has 2 bookmark key values for the keys id"),
        ([(None,)], "bookmark key id has the value None"),
        ([(float("nan"),)], "has the value nan"),
        ([(True,)], "has the value True"),
        ([([1],)], "has the value [1]"),
        ([(1,), ("x",)], "cannot be compared"),
    ],
)
def test_keys_bad_values_refused(rows, fragment):
    with pytest.raises(InvalidInputException) as raised:
        bm.advance_keys(None, ["id"], "asc", rows)
    assert fragment in raised.value.message


def test_keys_of_another_type_than_the_state_are_refused():
    state = bm.advance_keys(None, ["id"], "asc", [(5,)])
    with pytest.raises(InvalidInputException, match="cannot be compared"):
        bm.advance_keys(state, ["id"], "asc", [("6",)])


def test_keys_datetimes_are_stored_as_iso_strings():
    t1 = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
    t2 = datetime(2024, 1, 1, 12, 0, 0, 500_000, tzinfo=UTC)
    state = bm.advance_keys(None, ["ts"], "asc", [(t1,), (t2,)])
    assert state.last == (t2.isoformat(),)
    assert bm.advance_keys(state, ["ts"], "asc", [(datetime(2024, 1, 2, tzinfo=UTC),)])
    assert bm.advance_keys(None, ["d"], "asc", [(date(2024, 3, 1),)]).last == ("2024-03-01",)
    with pytest.raises(InvalidInputException, match="back to"):
        bm.advance_keys(state, ["ts"], "asc", [(t1,)])


def test_keys_changed_configuration_starts_over():
    state = bm.advance_keys(None, ["id"], "asc", [(5,)])
    assert bm.key_filter(state, ["id"], "asc") == ("gt", (5,))
    assert bm.key_filter(state, ["id"], "desc") is None
    assert bm.key_filter(state, ["other"]) is None
    assert bm.advance_keys(state, ["id"], "desc", [(1,)]) == bm.KeyState(("id",), "desc", (1,))
    assert bm.advance_keys(state, ["k"], "asc", [(1,)]).last == (1,)


def test_key_state_json():
    state = bm.KeyState(("a", "b"), "desc", (1.5, "x"))
    data = state.to_json()
    assert data == {"kind": "keys", "keys": ["a", "b"], "order": "desc", "last": [1.5, "x"]}
    assert bm.KeyState.from_json(json.loads(json.dumps(data))) == state
    empty = bm.KeyState(("a",), "asc", None)
    assert bm.KeyState.from_json(empty.to_json()) == empty


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ("x", "must be a JSON object"),
        ({"kind": "files", "keys": ["a"], "order": "asc", "last": None}, "kind 'files'"),
        ({"kind": "keys", "keys": [], "order": "asc", "last": None}, "distinct keys"),
        ({"kind": "keys", "keys": ["a", "a"], "order": "asc", "last": None}, "distinct keys"),
        ({"kind": "keys", "keys": "a", "order": "asc", "last": None}, "distinct keys"),
        ({"kind": "keys", "keys": ["a"], "order": "up", "last": None}, "order"),
        ({"kind": "keys", "keys": ["a"], "order": "asc", "last": [1, 2]}, "last as 1"),
        ({"kind": "keys", "keys": ["a"], "order": "asc", "last": [None]}, "last as 1"),
        ({"kind": "keys", "keys": ["a"], "order": "asc", "last": [True]}, "last as 1"),
        ({"kind": "keys", "keys": ["a"], "order": "asc", "last": 1}, "last as 1"),
    ],
)
def test_key_state_garbage(data, fragment):
    with pytest.raises(ValueError, match=fragment):
        bm.KeyState.from_json(data)


composite_keys = st.tuples(st.integers(-50, 50), st.text("ab", max_size=2))


@BOUNDED
@given(
    st.lists(composite_keys, unique=True, max_size=30),
    st.sampled_from(["asc", "desc"]),
    st.lists(st.integers(1, 6), max_size=10),
    st.randoms(use_true_random=False),
)
def test_keys_monotonic_batches(values, order, sizes, rnd):
    ordered = sorted(values, reverse=order == "desc")
    state, done = None, 0
    for size in [*sizes, len(ordered)]:
        batch = ordered[done : done + size]
        rnd.shuffle(batch)  # a batch may come in any order: only the last key matters
        state = bm.advance_keys(state, ["n", "s"], order, batch)
        done += len(batch)
        if done:
            assert state.last == ordered[done - 1]
            op, last = bm.key_filter(state)
            # the filter selects exactly the rows not processed yet
            left = [v for v in ordered if (v > last if op == "gt" else v < last)]
            assert left == ordered[done:]
            for old in ordered[:done]:  # any row already processed is refused
                with pytest.raises(InvalidInputException, match="strictly monotonically"):
                    bm.advance_keys(state, ["n", "s"], order, [old])
        else:
            assert bm.key_filter(state) is None


# --- partitions ------------------------------------------------------------------------------


def test_partitions_new_and_advance():
    table = "db.events"
    listing = [("2024", "02"), ("2024", "01"), ("2024", "01")]
    assert bm.new_partitions(None, listing, table=table) == [("2024", "01"), ("2024", "02")]
    state = bm.advance_partitions(None, listing, table=table)
    assert state.seen == {("2024", "01"), ("2024", "02")}
    listing2 = [["2024", "01"], ["2024", "03"]]  # lists are fine; ("2024", "02") was dropped
    assert bm.new_partitions(state, listing2, table=table) == [("2024", "03")]
    state = bm.advance_partitions(state, listing2, table=table)
    assert state.seen == {("2024", "01"), ("2024", "02"), ("2024", "03")}
    assert bm.new_partitions(state, listing2, table=table) == []
    assert bm.new_partitions(state, [], table=table) == []
    # another table starts over
    assert bm.new_partitions(state, listing2, table="db.other") == [("2024", "01"), ("2024", "03")]
    assert bm.advance_partitions(state, [], table="db.other").seen == frozenset()


def test_partition_state_json():
    state = bm.PartitionState("db.t", frozenset({("b", "1"), ("a", "2"), ()}))
    data = state.to_json()
    assert data == {"kind": "partitions", "table": "db.t", "seen": [[], ["a", "2"], ["b", "1"]]}
    assert bm.PartitionState.from_json(json.loads(json.dumps(data))) == state
    for bad in (
        {"kind": "partitions", "table": "", "seen": []},
        {"kind": "partitions", "table": "db.t", "seen": [["a", 1]]},
        {"kind": "partitions", "table": "db.t", "seen": {"a": 1}},
        {"kind": "partitions", "table": "db.t"},
        {"kind": "files", "table": "db.t", "seen": []},
    ):
        with pytest.raises(ValueError):
            bm.PartitionState.from_json(bad)


@BOUNDED
@given(st.lists(st.lists(st.tuples(st.sampled_from("xyz"), st.sampled_from("12")), max_size=6)))
def test_partitions_each_read_once(listings):
    state, read = None, Counter()
    for listing in listings:
        read.update(bm.new_partitions(state, listing, table="db.t"))
        state = bm.advance_partitions(state, listing, table="db.t")
    assert set(read) == {p for listing in listings for p in listing}
    assert all(n == 1 for n in read.values())


# --- the whole bookmark ----------------------------------------------------------------------


def test_load_and_dump():
    assert bm.load(None) == {} and bm.load("") == {} and bm.load("  ") == {}
    files = bm.FileState(P, 900, {"b": 950, "a": 960})
    keys = bm.KeyState(("id",), "asc", (7,))
    parts = bm.PartitionState("db.t", frozenset({("1",)}))
    text = bm.dump({"src_z": files, "src_a": keys.to_json(), "src_m": parts})
    assert text.startswith('{"src_a":{"keys":["id"],"kind":"keys"')
    assert " " not in text.replace(P, "")
    states = bm.load(text)
    assert bm.state_for(states, "src_z", bm.FileState) == files
    assert bm.state_for(states, "src_a", bm.KeyState) == keys
    assert bm.state_for(states, "src_m", bm.PartitionState) == parts
    assert bm.state_for(states, "missing", bm.FileState) is None
    # the same states in another order give the same string
    assert bm.dump(dict(reversed(list(states.items())))) == text
    assert bm.dump({}) == "{}"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{", "not JSON"),
        ("[]", "must be a JSON object"),
        ("null", "must be a JSON object"),
        ('"x"', "must be a JSON object"),
        ('{"ctx": 1}', "'ctx' is not a JSON object"),
        ('{"ctx": [1]}', "'ctx' is not a JSON object"),
    ],
)
def test_load_garbage(text, fragment):
    with pytest.raises(ValueError, match=fragment):
        bm.load(text)


def test_dump_refuses_what_json_cannot_hold():
    with pytest.raises(ValueError):
        bm.dump({"ctx": {"kind": "keys", "last": [float("nan")]}})
    with pytest.raises(ValueError, match="transformation_ctx"):
        bm.dump({1: {}})


def test_a_ctx_used_with_another_kind_is_refused():
    states = bm.load(bm.dump({"src": bm.FileState(P, 0, {})}))
    with pytest.raises(InvalidInputException) as raised:
        bm.state_for(states, "src", bm.KeyState)
    assert "transformation_ctx 'src' holds a 'files' bookmark, not a 'keys' one" in str(
        raised.value
    )
    broken = bm.load('{"src": {"kind": "files", "prefix": 1}}')
    with pytest.raises(ValueError, match=r"transformation_ctx 'src': .*prefix"):
        bm.state_for(broken, "src", bm.FileState)
    glue = bm.load('{"src": {"jsonClass": "HadoopDataSourceJobBookmarkState"}}')
    with pytest.raises(ValueError, match="kind None"):
        bm.state_for(glue, "src", bm.FileState)


file_states = st.builds(
    bm.FileState,
    st.text(max_size=8),
    st.integers(-(10**13), 10**13),
    st.dictionaries(st.text(max_size=8), st.integers(0, 10**13), max_size=5),
)
key_states = st.integers(1, 3).flatmap(
    lambda n: st.builds(
        bm.KeyState,
        st.lists(st.text(min_size=1, max_size=4), min_size=n, max_size=n, unique=True).map(tuple),
        st.sampled_from(["asc", "desc"]),
        st.none()
        | st.tuples(
            *[st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()] * n
        ),
    )
)
partition_states = st.builds(
    bm.PartitionState,
    st.text(min_size=1, max_size=8),
    st.frozensets(st.lists(st.text(max_size=3), max_size=3).map(tuple), max_size=5),
)


@BOUNDED
@given(st.dictionaries(st.text(max_size=6), file_states | key_states | partition_states))
def test_load_dump_round_trip(states):
    text = bm.dump(states)
    loaded = bm.load(text)
    assert {ctx: bm.state_for(loaded, ctx, type(s)) for ctx, s in states.items()} == states
    assert bm.dump(loaded) == text
