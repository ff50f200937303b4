"""Table boundaries and partitions from a folder tree: Glue's documented examples and the edges."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pytest

from catalog import layout

Leaf = layout.Leaf
A = (("a", "int"), ("b", "string"))
B = (("c", "int"), ("d", "string"))
TEN = tuple((f"c{i}", "int") for i in range(10))


def shared_names(a: Sequence[tuple[str, str]], b: Sequence[tuple[str, str]]) -> float:
    """The tests' similarity: shared column names over the larger schema's count."""
    names_a, names_b = {n for n, _ in a}, {n for n, _ in b}
    return len(names_a & names_b) / max(len(names_a), len(names_b), 1)


def leaf(path: str, columns: tuple[tuple[str, str], ...] = A, fmt: str = "json", compression: str = "none") -> Leaf:
    return Leaf(tuple(path.split("/")) if path else (), fmt, compression, columns)


def plan(leaves: list[Leaf], name: str = "data", **options: object) -> list[layout.TablePlan]:
    return layout.plan(name, leaves, similar=shared_names, **options)  # type: ignore[arg-type]


def summary(tables: list[layout.TablePlan]) -> list[tuple[str, str, tuple[str, ...], int]]:
    return [(t.name, "/".join(t.root), t.partition_keys, len(t.partitions)) for t in tables]


# --- AWS's examples (glue-semantics.md §5.4) ------------------------------------------------------


def test_hive_partitions_make_one_table_named_after_the_include_path() -> None:
    leaves = [leaf(f"year=2019/month={m}/day={d}") for m in ("Jan", "Feb") for d in (1, 2)]
    [table] = plan(leaves, "sales")
    assert (table.name, table.root, table.partition_keys) == ("sales", (), ("year", "month", "day"))
    assert table.partitions == (
        (("2019", "Feb", "1"), ("year=2019", "month=Feb", "day=1")),
        (("2019", "Feb", "2"), ("year=2019", "month=Feb", "day=2")),
        (("2019", "Jan", "1"), ("year=2019", "month=Jan", "day=1")),
        (("2019", "Jan", "2"), ("year=2019", "month=Jan", "day=2")),
    )
    assert [lf.parts for lf in table.leaves] == [p for _, p in table.partitions]


def test_similar_table_folders_become_one_table_with_unnamed_keys() -> None:
    leaves = [leaf(f"table1/partition{i}") for i in (1, 2, 3)] + [leaf(f"table2/partition{i}") for i in (4, 5)]
    [table] = plan(leaves, "folder1")
    assert (table.name, table.partition_keys) == ("folder1", ("partition_0", "partition_1"))
    assert [values for values, _ in table.partitions] == [
        ("table1", "partition1"), ("table1", "partition2"), ("table1", "partition3"),
        ("table2", "partition4"), ("table2", "partition5"),
    ]  # fmt: skip


def test_dissimilar_siblings_become_tables_named_after_their_folders() -> None:
    leaves = [leaf("year=2017", A), leaf("year=2018", B)]
    assert summary(plan(leaves)) == [("year_2017", "year=2017", (), 0), ("year_2018", "year=2018", (), 0)]


def test_combine_compatible_schemas_makes_one_table_per_include_path() -> None:
    leaves = [leaf("year=2017", A), leaf("year=2018", B)]
    [table] = plan(leaves, combine_compatible=True)
    assert (table.name, table.root, table.partition_keys) == ("data", (), ("year",))
    assert table.partitions == ((("2017",), ("year=2017",)), (("2018",), ("year=2018",)))


@pytest.mark.parametrize(
    ("other", "reason"),
    [(leaf("b/p=1", fmt="csv"), "format"), (leaf("b/p=1", compression="gzip"), "compression")],
)
def test_different_formats_or_compression_make_separate_tables(other: Leaf, reason: str) -> None:
    leaves = [leaf("a/p=1"), leaf("a/p=2"), other]
    expected = [("a", "a", ("p",), 2), ("b", "b", ("p",), 1)]
    assert summary(plan(leaves)) == expected, reason
    assert summary(plan(leaves, combine_compatible=True)) == expected, reason


# --- partitions --------------------------------------------------------------------------------------


def test_deep_hive_partitions() -> None:
    keys = ("y", "m", "d", "h", "region")
    leaves = [leaf("/".join(f"{k}={i}" for k in keys)) for i in range(3)]
    [table] = plan(leaves)
    assert table.partition_keys == keys and [v for v, _ in table.partitions] == [(str(i),) * 5 for i in range(3)]


def test_mixed_named_and_unnamed_levels_number_by_level() -> None:
    leaves = [leaf(f"year={y}/{region}/kind=x") for y in (2023, 2024) for region in ("eu", "us")]
    [table] = plan(leaves)
    assert table.partition_keys == ("year", "partition_1", "kind")
    assert table.partitions[0][0] == ("2023", "eu", "x")


def test_a_level_mixing_styles_or_keys_is_unnamed_and_keeps_folder_names() -> None:
    leaves = [leaf("year=2023/a"), leaf("2024/b"), leaf("yr=2025/c")]
    [table] = plan(leaves)
    assert table.partition_keys == ("partition_0", "partition_1")
    assert [v for v, _ in table.partitions] == [("2024", "b"), ("year=2023", "a"), ("yr=2025", "c")]


def test_partition_values_are_unescaped_and_keys_lowercased() -> None:
    leaves = [leaf("Ts=2024-01-01 10%3A00%3A00/Dt=a=b"), leaf("Ts=x%2Fy/Dt=")]
    [table] = plan(leaves)
    assert table.partition_keys == ("ts", "dt")
    assert [v for v, _ in table.partitions] == [("2024-01-01 10:00:00", "a=b"), ("x/y", "")]


def test_a_repeated_key_is_numbered_instead() -> None:
    [table] = plan([leaf("a=1/a=2"), leaf("a=3/a=4")])
    assert table.partition_keys == ("a", "partition_1")
    assert [v for v, _ in table.partitions] == [("1", "a=2"), ("3", "a=4")]


# --- similarity ----------------------------------------------------------------------------------


def test_schema_drift_within_the_threshold_stays_one_table() -> None:
    eleven = (*TEN, ("extra", "string"))  # 10/11 = 0.91 against the common schema
    leaves = [leaf(f"p={i}", TEN) for i in range(3)] + [leaf("p=3", eleven)]
    assert summary(plan(leaves)) == [("data", "", ("p",), 4)]


def test_schema_drift_past_the_threshold_splits() -> None:
    seven = TEN[:7]  # 7/10 = 0.7 is not higher than 0.7
    leaves = [leaf(f"p={i}", TEN) for i in range(3)] + [leaf("p=3", seven)]
    assert [name for name, *_ in summary(plan(leaves))] == ["p_0", "p_1", "p_2", "p_3"]
    eight = TEN[:8]  # 0.8
    assert summary(plan([*leaves[:3], leaf("p=3", eight)])) == [("data", "", ("p",), 4)]


def test_similarity_is_measured_against_the_most_common_schema() -> None:
    # 8 and 12 columns are each close to the common 10 (0.8, 0.83), not to each other (0.67).
    leaves = [leaf(f"p={i}", TEN) for i in range(4)] + [leaf("p=8", TEN[:8]), leaf("p=9", (*TEN, ("x", "int"), ("y", "int")))]
    assert summary(plan(leaves)) == [("data", "", ("p",), 6)]


def test_more_than_five_distinct_schemas_split_even_when_similar() -> None:
    def variant(i: int) -> tuple[tuple[str, str], ...]:
        return (*TEN, (f"extra{i}", "int"))

    five = [leaf(f"p={i}", variant(i)) for i in range(4)] + [leaf("p=4", TEN)]
    assert len(plan(five)) == 1
    six = [*five, leaf("p=5", variant(5))]
    assert len(plan(six)) == 6
    assert len(plan(six, combine_compatible=True)) == 1


def test_similarity_is_asked_once_per_pair() -> None:
    calls: list[int] = []

    def counting(a: Sequence[tuple[str, str]], b: Sequence[tuple[str, str]]) -> float:
        calls.append(1)
        return shared_names(a, b)

    leaves = [leaf(f"x={i}/y={j}", TEN if j else TEN[:9]) for i in range(50) for j in range(2)]
    assert len(layout.plan("t", leaves, similar=counting)) == 1
    assert len(calls) == 1


def test_a_dissimilar_subtree_splits_only_where_it_must() -> None:
    leaves = [leaf(f"sales/year={y}") for y in (2023, 2024)] + [leaf(f"users/day={d}", B) for d in (1, 2)]
    assert summary(plan(leaves, "lake")) == [("sales", "sales", ("year",), 2), ("users", "users", ("day",), 2)]


def test_different_depths_below_a_folder_split_it() -> None:
    leaves = [leaf("a/x=1"), leaf("a/x=2/y=1")]
    assert summary(plan(leaves)) == [("x_1", "a/x=1", (), 0), ("x_2", "a/x=2", ("y",), 1)]


# --- files at a folder beside subfolders ---------------------------------------------------------


def test_files_at_the_include_path_alone_make_an_unpartitioned_table() -> None:
    [table] = plan([leaf("")], "sales")
    assert (table.name, table.root, table.partition_keys, table.partitions) == ("sales", (), (), ())


def test_files_beside_partition_folders_split_the_tree() -> None:
    """AWS's "table explosion": one stray file beside partition folders."""
    leaves = [leaf(""), *(leaf(f"year={y}") for y in (2023, 2024))]
    assert summary(plan(leaves, "sales")) == [
        ("sales", "", (), 0), ("year_2023", "year=2023", (), 0), ("year_2024", "year=2024", (), 0),
    ]  # fmt: skip
    [root, *_] = plan(leaves, "sales")
    assert [lf.parts for lf in root.leaves] == [()]


def test_files_beside_subfolders_deeper_down() -> None:
    leaves = [leaf("t"), leaf("t/p=1"), leaf("t/p=2"), leaf("u/p=1")]
    assert summary(plan(leaves)) == [("t", "t", (), 0), ("p_1", "t/p=1", (), 0), ("p_2", "t/p=2", (), 0),
                                     ("u", "u", ("p",), 1)]  # fmt: skip


# --- names ---------------------------------------------------------------------------------------


def test_names_are_sanitised_prefixed_and_truncated() -> None:
    assert layout.table_name("", "My-Table.v2") == "my_table_v2"
    assert layout.table_name("Raw-", "ünï code") == "raw__n__code"
    assert layout.table_name("p_", "x" * 200) == "p_" + "x" * 126
    assert layout.table_name("", "") == "table"
    [table] = plan([leaf("")], "Sales Data", table_prefix="stg_")
    assert table.name == "stg_sales_data"


def test_colliding_names_get_a_short_hash_suffix() -> None:
    leaves = [leaf("a/data", A), leaf("a/other", B), leaf("b/Data", TEN), leaf("b/more", B)]
    names = [t.name for t in plan(leaves)]
    assert names[:2] == ["data", "other"] and names[3] == "more"
    assert names[2].startswith("data_") and len(names[2]) == len("data_") + 8
    assert names == [t.name for t in plan(list(reversed(leaves)))]  # deterministic


def test_names_taken_elsewhere_in_the_crawl_collide_too() -> None:
    [table] = plan([leaf("")], "sales", taken={"sales"})
    assert table.name.startswith("sales_") and len(table.name) == 14


def test_a_collision_at_the_length_limit_stays_within_it() -> None:
    long = "x" * 130
    leaves = [leaf(f"a/{long}", A), leaf("a/z", B), leaf(f"b/{long}", TEN), leaf("b/z", B)]
    first, _, second, _ = (t.name for t in plan(leaves))
    assert first == "x" * 128 and len(second) == 128 and second.startswith("x" * 119 + "_")


# --- table level ---------------------------------------------------------------------------------


def test_table_level_puts_tables_at_an_absolute_depth() -> None:
    """AWS's example: s3://mydataset/year/month/day/hour with level 3 → tables at mydataset/year/month."""
    leaves = [leaf(f"{y}/{m}/{d}/{h}") for y in ("2023", "2024") for m in ("01", "02") for d in ("01",) for h in ("00", "01")]
    tables = plan(leaves, "mydataset", table_level=3, include_level=1)
    assert [("/".join(t.root), t.partition_keys) for t in tables] == [
        (f"{y}/{m}", ("partition_0", "partition_1")) for y in ("2023", "2024") for m in ("01", "02")
    ]
    assert [t.name[:3] for t in tables] == ["01", "02", "01_", "02_"]  # named after the folder
    assert [v for v, _ in tables[0].partitions] == [("01", "00"), ("01", "01")]


def test_table_level_ignores_schemas_at_its_level_and_below() -> None:
    leaves = [leaf("t/p=1", A), leaf("t/p=2", B)]
    assert summary(plan(leaves, "b", table_level=2)) == [("t", "t", ("p",), 2)]


def test_table_level_above_the_include_path_roots_tables_there() -> None:
    leaves = [leaf(f"p={i}", A if i else B) for i in range(2)]
    assert summary(plan(leaves, "sales", table_level=1, include_level=3)) == [("sales", "", ("p",), 2)]


def test_table_level_falls_back_for_incompatible_folders_and_files_above_it() -> None:
    leaves = [leaf("x"), leaf("x/t/p=1", fmt="csv"), leaf("x/t/p=2", fmt="parquet"), leaf("x/u/p=1")]
    assert summary(plan(leaves, "b", table_level=3)) == [
        ("x", "x", (), 0), ("p_1", "x/t/p=1", (), 0), ("p_2", "x/t/p=2", (), 0), ("u", "x/u", ("p",), 1),
    ]  # fmt: skip


# --- contract and scale ----------------------------------------------------------------------------


def test_no_leaves_no_tables_and_duplicates_are_refused() -> None:
    assert plan([]) == []
    with pytest.raises(ValueError, match="two leaves at a/b"):
        plan([leaf("a/b"), leaf("a/b")])


def test_a_thousand_hive_partitions_plan_quickly() -> None:
    leaves = [leaf(f"year={2000 + i // 100}/month={i % 12:02}/day={i % 100:03}", TEN) for i in range(1000)]
    start = time.perf_counter()
    [table] = plan(list(reversed(leaves)))
    elapsed = time.perf_counter() - start
    assert len(table.partitions) == 1000 and table.partition_keys == ("year", "month", "day")
    assert [p for _, p in table.partitions] == sorted(lf.parts for lf in leaves)
    assert elapsed < 0.5


def test_planning_scales_linearly() -> None:
    def timed(n: int) -> float:
        leaves = [leaf(f"a={i // 100}/b={i % 100}", TEN if i % 7 else TEN[:9]) for i in range(n)]
        start = time.perf_counter()
        plan(leaves)
        return time.perf_counter() - start

    timed(2000)  # warm up
    small, large = min(timed(2000) for _ in range(3)), min(timed(20000) for _ in range(3))
    assert large < small * 25  # 10x the leaves: linear would be ~10x; quadratic ~100x
