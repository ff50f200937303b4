"""How a leaf folder's classified files add up, and which files a crawl skips (pure)."""

from __future__ import annotations

from catalog import classifiers, inventory

PARQUET = classifiers.Classification("parquet", "none", (("id", "bigint"),), "serde", "in", "out",
                                     {"serialization.format": "1"}, {}, 10, 50)  # fmt: skip
CSV = classifiers.Classification("csv", "none", (("a", "bigint"), ("b", "string")), "lazy", "text", "hive",
                                 {"field.delim": "|"}, {"delimiter": "|"}, 4, 8)  # fmt: skip


def tally(found: classifiers.Classification, *keys: str, size: int = 100) -> inventory.Tally:
    out = inventory.Tally()
    for key in keys:
        out.add(key, size, found)
    return out


def folder(*tallies: tuple[classifiers.Classification, inventory.Tally], unsampled: int = 0,
           unsampled_size: int = 0) -> inventory.Folder:  # fmt: skip
    out = inventory.Folder(sampled=sum(t.files for _, t in tallies), unsampled=unsampled, unsampled_size=unsampled_size)
    for found, t in tallies:
        out.absorb(inventory.Kind.of(found), t)
    return out


def settle(folders: dict[tuple[str, ...], inventory.Folder]) -> tuple[list[inventory.Leaf], list[str]]:
    lines: list[str] = []
    skips = inventory.Skips("s3://b/data/", lines.append)
    return inventory.settle(folders, skips), lines


def test_a_kind_is_the_format_and_its_fixed_settings() -> None:
    kind = inventory.Kind.of(CSV)
    assert (kind.classification, kind.delimiter, kind.label) == ("csv", "|", "csv||")
    assert inventory.Kind.of(PARQUET).label == "parquet"
    assert inventory.Kind.of(classifiers.UNKNOWN).classification == inventory.UNKNOWN


def test_a_tally_adds_up_and_merges_each_schema_once() -> None:
    wider = classifiers.Classification("parquet", "none", (("id", "bigint"), ("x", "int")), "serde", "in", "out",
                                       record_count=30, average_record_size=10)  # fmt: skip
    t = tally(PARQUET, "a", "b")
    t.add("c", 100, wider)
    t.add("d", 100, PARQUET)  # seen already: no merge
    assert (t.files, t.size, t.records, t.record_bytes) == (4, 400, 60, 3 * 500 + 300)
    assert t.columns == (("id", "bigint"), ("x", "int"))
    other = tally(CSV, "e")
    t.absorb(other)
    assert t.columns == (("id", "bigint"), ("x", "int"), ("a", "bigint"), ("b", "string"))
    assert t.examples == ["a", "b", "c", "d", "e"]


def test_examples_are_bounded() -> None:
    t = tally(PARQUET, *(f"k{i}" for i in range(inventory.MAX_EXAMPLES + 5)))
    t.absorb(tally(PARQUET, "more"))
    assert len(t.examples) == inventory.MAX_EXAMPLES


def test_a_folder_is_its_most_common_kind_and_the_rest_is_skipped() -> None:
    leaves, lines = settle({("p=1",): folder((PARQUET, tally(PARQUET, "p=1/a", "p=1/b")),
                                             (CSV, tally(CSV, "p=1/c.csv")),
                                             (classifiers.UNKNOWN, tally(classifiers.UNKNOWN, "p=1/x.bin")))})  # fmt: skip
    [only] = leaves
    assert (only.kind.classification, only.objects, only.size, only.records, only.average_record_size) == (
        "parquet", 2, 200, 20, 50)
    assert lines == ["skipped s3://b/data/p=1/c.csv: csv|| beside parquet files",
                     "skipped s3://b/data/p=1/x.bin: not a format adhere recognises, or corrupt"]  # fmt: skip


def test_a_tie_goes_to_the_include_paths_most_common_kind() -> None:
    leaves, _ = settle({("p=1",): folder((CSV, tally(CSV, "p=1/a.csv")), (PARQUET, tally(PARQUET, "p=1/b"))),
                        ("p=2",): folder((PARQUET, tally(PARQUET, "p=2/c")))})  # fmt: skip
    assert [leaf.kind.classification for leaf in leaves] == ["parquet", "parquet"]


def test_unknown_folders_are_skipped_beside_known_ones_and_kept_alone() -> None:
    unknown = (classifiers.UNKNOWN, tally(classifiers.UNKNOWN, "blobs/a.bin"))
    leaves, lines = settle({("blobs",): folder(unknown), ("t",): folder((PARQUET, tally(PARQUET, "t/a")))})
    assert [leaf.parts for leaf in leaves] == [("t",)]
    assert lines == ["skipped s3://b/data/blobs/a.bin: not a format adhere recognises, or corrupt"]
    leaves, lines = settle({("blobs",): folder(unknown)})
    assert [(leaf.parts, leaf.kind.classification, leaf.columns) for leaf in leaves] == [(("blobs",), "UNKNOWN", ())]
    assert lines == []


def test_files_past_the_sample_size_count_and_are_estimated() -> None:
    leaves, _ = settle({(): folder((PARQUET, tally(PARQUET, "a", size=100)), unsampled=3, unsampled_size=600)})
    [only] = leaves
    assert (only.objects, only.size, only.records) == (4, 700, 10 + 60)


def test_skipped_lines_are_capped() -> None:
    lines: list[str] = []
    skips = inventory.Skips("/data", lines.append)
    for i in range(inventory.MAX_LOGGED + 7):
        skips.file(f"f{i}", "empty")
    skips.close()
    assert len(lines) == inventory.MAX_LOGGED + 1
    assert lines[0] == "skipped /data/f0: empty"
    assert lines[-1] == "7 more skipped files under /data not listed"
    assert skips.count == inventory.MAX_LOGGED + 7


def test_many_skipped_files_of_one_folder_are_summed_up() -> None:
    lines: list[str] = []
    skips = inventory.Skips("/data", lines.append)
    skips.files(["p/a", "p/b"], 50, "empty")
    assert lines == ["skipped /data/p/a: empty", "skipped /data/p/b: empty", "skipped 48 more files in /data/p: empty"]
    assert skips.count == 50


def test_join_keeps_the_include_paths_form() -> None:
    assert inventory.join("s3://b/data/", ("x", "y")) == "s3://b/data/x/y"
    assert inventory.join("/srv/data", ()) == "/srv/data"
