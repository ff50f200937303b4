"""Listing and reading an include path: one tree on local disk (a path, ``file://``) and in a moto
bucket lists the same keys, sizes and order; exclusions, ``under``, hidden files, errors, and a
local walk that streams."""

from __future__ import annotations

import os
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC
from pathlib import Path

import pytest
from integration.s3_fixtures import s3_client

from catalog import globs, storage

# Visible files (key → body). The names test the order: S3 sorts whole keys by UTF-8 bytes, so
# "a-b.csv" < "a/x.csv" < "a0.csv" ('-' < '/' < '0'), and "ünï" comes after every ASCII name.
VISIBLE = {
    "a-b.csv": b"x,y\n1,2\n",
    "a/x.csv": b"x,y\n3,4\n5,6\n",
    "a0.csv": b"x\n",
    "logs/2024/app.log": b"started\n" * 10,
    "logs/2024/app.tmp": b"",
    "notes.txt": b"0123456789abcdef",
    "year=2024/month=01/part-0.json": b'{"a": 1}\n' * 3,
    "year=2024/month=01/part-1.json": b'{"a": 2}\n',
    "year=2024/month=02/part-0.json": b'{"a": 3}\n' * 7,
    "ünï/fïle.json": '{"ü": 1}\n'.encode(),
}
# What Hadoop readers (and so we) skip: names starting with '_' or '.', and "_$folder$" markers.
HIDDEN = {
    "year=2024/month=02/_SUCCESS": b"",
    "year=2024/_temporary/0/part-9.json": b"{}\n",
    "year=2024/month=01/.part-0.json.crc": b"crc",
    ".hive-staging/x.json": b"{}\n",
    "_metadata": b"meta",
    "year=2024_$folder$": b"",
}
KEYS = sorted(VISIBLE)


def local_tree(root: Path) -> Path:
    for key, body in {**VISIBLE, **HIDDEN}.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    (root / "empty").mkdir()
    return root


def s3_tree(endpoint: str, bucket: str, prefix: str = "lake/data") -> str:
    client = s3_client(endpoint)
    for key, body in {**VISIBLE, **HIDDEN}.items():
        client.put_object(Bucket=bucket, Key=f"{prefix}/{key}", Body=body)
    client.put_object(Bucket=bucket, Key=f"{prefix}/empty/", Body=b"")  # a console "folder"
    client.put_object(Bucket=bucket, Key=f"{prefix}-other/x.json", Body=b"{}")  # beside, not below
    return f"s3://{bucket}/{prefix}"


@pytest.fixture(params=["path", "file", "s3"])
def include(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same tree as a plain path, a file:// URL and an s3:// URL."""
    if request.param == "s3":
        endpoint = request.getfixturevalue("s3_server")
        return s3_tree(endpoint, request.getfixturevalue("s3_bucket"))
    root = local_tree(tmp_path / "data")
    return str(root) if request.param == "path" else f"file://{root}"


def listed(include_path: str, **options: object) -> list[tuple[str, int]]:
    return [(o.key, o.size) for o in storage.list_objects(include_path, **options)]  # type: ignore[arg-type]


def test_every_backend_lists_the_same_keys_sizes_and_order(include: str) -> None:
    objects = list(storage.list_objects(include))
    assert [(o.key, o.size) for o in objects] == [(key, len(VISIBLE[key])) for key in KEYS]
    for obj in objects:
        assert obj.modified.tzinfo is not None and obj.modified.utcoffset() == UTC.utcoffset(None)
        assert obj.url.endswith(f"/{obj.key}")
    assert objects[0].url == f"{include}/a-b.csv"  # an absolute path, file:// or s3:// as given


def test_read_returns_byte_ranges(include: str) -> None:
    [obj] = [o for o in storage.list_objects(include) if o.key == "notes.txt"]
    assert obj.read(0, 4) == b"0123"
    assert obj.read(10, 3) == b"abc"
    assert obj.read(14, 100) == b"ef"  # short at the end
    assert obj.read(16, 5) == b"" and obj.read(3, 0) == b""
    assert obj.read(0, 1 << 20) == VISIBLE["notes.txt"]
    with pytest.raises(ValueError):
        obj.read(-1, 2)


def test_exclusions_apply_to_keys_relative_to_the_include_path(include: str) -> None:
    exclude = globs.compile(["logs/**", "**.csv", "year=2024/month=0[2-9]/**"])
    assert [key for key, _ in listed(include, exclude=exclude)] == [
        "notes.txt", "year=2024/month=01/part-0.json", "year=2024/month=01/part-1.json", "ünï/fïle.json",
    ]  # fmt: skip
    assert [key for key, _ in listed(include, exclude=lambda key: "2024" not in key)] == [
        k for k in KEYS if "2024" in k
    ]


def test_under_lists_only_those_folders(include: str) -> None:
    under = ["year=2024/month=02", "a", "year=2024", "missing", "/logs/2024/"]
    assert [key for key, _ in listed(include, under=under)] == [
        "a/x.csv", "logs/2024/app.log", "logs/2024/app.tmp",
        "year=2024/month=01/part-0.json", "year=2024/month=01/part-1.json", "year=2024/month=02/part-0.json",
    ]  # fmt: skip
    assert listed(include, under=[]) == []
    assert listed(include, under=["year=2024/_temporary"]) == []  # hidden stays hidden
    assert [key for key, _ in listed(include, under=["year=2024"], exclude=globs.compile(["**/part-1.*"]))] == [
        "year=2024/month=01/part-0.json", "year=2024/month=02/part-0.json",
    ]  # fmt: skip


def test_list_folders_reads_folders_at_a_depth(include: str) -> None:
    assert list(storage.list_folders(include, 1)) == ["a", "empty", "logs", "year=2024", "ünï"]
    assert list(storage.list_folders(include, 2)) == ["logs/2024", "year=2024/month=01", "year=2024/month=02"]
    assert list(storage.list_folders(include, 2, exclude=globs.compile(["year=2024/month=01/**"]))) == [
        "logs/2024", "year=2024/month=02",
    ]  # fmt: skip
    assert list(storage.list_folders(include, 4)) == []
    with pytest.raises(ValueError):
        storage.list_folders(include, 0)


def test_an_include_path_naming_one_file_lists_that_file(include: str) -> None:
    [obj] = storage.list_objects(f"{include}/year=2024/month=02/part-0.json")
    assert (obj.key, obj.size) == ("part-0.json", len(VISIBLE["year=2024/month=02/part-0.json"]))
    assert obj.read(0, 8) == b'{"a": 3}'
    assert obj.url == f"{include}/year=2024/month=02/part-0.json"
    assert listed(f"{include}/notes.txt", exclude=globs.compile(["*.txt"])) == []
    assert list(storage.list_folders(f"{include}/notes.txt", 1)) == []


def test_include_name_and_level() -> None:
    assert storage.include_name("s3://bucket/sales/") == "sales"
    assert storage.include_name("s3://bucket") == "bucket"
    assert storage.include_name("file:///data/sales") == "sales"
    assert storage.include_level("s3://bucket") == 1
    assert storage.include_level("s3://bucket/a/b/") == 3
    assert storage.include_level("/data/sales") == 2
    assert storage.include_level("file:///data/sales/") == 2


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["{path}", "file://{path}"])
def test_a_missing_local_path_is_a_clear_error_at_once(tmp_path: Path, form: str) -> None:
    missing = form.format(path=tmp_path / "nowhere")
    with pytest.raises(storage.StorageError) as caught:
        storage.list_objects(missing)  # not at the first next()
    assert caught.value.message == f"include path {missing} does not exist"
    assert caught.value.code == "InvalidInputException"


def test_a_missing_bucket_is_a_clear_error_at_once(s3_server: str) -> None:
    with pytest.raises(storage.StorageError) as caught:
        storage.list_objects("s3://adhere-no-such-bucket/sales/")
    assert caught.value.message == (
        "cannot list s3://adhere-no-such-bucket/sales/: the bucket adhere-no-such-bucket does not exist"
    )
    with pytest.raises(storage.StorageError, match="does not exist"):
        storage.list_folders("s3://adhere-no-such-bucket", 1)


def test_an_empty_s3_prefix_lists_nothing(s3_bucket: str) -> None:
    assert listed(f"s3://{s3_bucket}/nothing/here/") == []
    assert listed(f"s3://{s3_bucket}") == []


def test_a_vanished_s3_object_fails_to_read_clearly(s3_server: str, s3_bucket: str) -> None:
    s3_client(s3_server).put_object(Bucket=s3_bucket, Key="t/gone.json", Body=b"{}")
    [obj] = storage.list_objects(f"s3://{s3_bucket}/t/")
    s3_client(s3_server).delete_object(Bucket=s3_bucket, Key="t/gone.json")
    with pytest.raises(storage.StorageError) as caught:
        obj.read(0, 2)
    assert caught.value.message == f"cannot read s3://{s3_bucket}/t/gone.json: the object no longer exists"


@pytest.mark.parametrize("location", ["gs://bucket/x", "s3://", "https://example.com/data"])
def test_other_locations_are_refused(location: str) -> None:
    with pytest.raises(storage.StorageError, match="not "):
        storage.list_objects(location)


# --- the local walk --------------------------------------------------------------------------------


def test_a_covered_folder_is_never_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = local_tree(tmp_path / "data")
    read: list[str] = []
    scandir = os.scandir

    def recording(path: str) -> Iterator[os.DirEntry[str]]:
        read.append(os.path.relpath(path, root))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", recording)
    keys = [key for key, _ in listed(str(root), exclude=globs.compile(["year=*/**", "logs**"]))]
    assert keys == ["a-b.csv", "a/x.csv", "a0.csv", "notes.txt", "ünï/fïle.json"]
    assert sorted(read) == [".", "a", "empty", "ünï"]


def test_symlinked_files_are_read_and_symlinked_folders_not_followed(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "real").mkdir(parents=True)
    (root / "real" / "f.json").write_bytes(b"{}")
    (root / "link.json").symlink_to(root / "real" / "f.json")
    (root / "loop").symlink_to(root, target_is_directory=True)
    (root / "dangling.json").symlink_to(root / "nowhere")
    assert listed(str(root)) == [("link.json", 2), ("real/f.json", 2)]


def _tree_of(root: Path, folders: int, files: int) -> None:
    for i in range(folders):
        folder = root / f"f{i:03}"
        folder.mkdir(parents=True)
        for j in range(files):
            (folder / f"part-{j:03}.json").touch()


def test_listing_twenty_thousand_files_streams(tmp_path: Path) -> None:
    root = tmp_path / "big"
    _tree_of(root, 200, 100)

    objects = storage.list_objects(str(root))
    first = next(objects)
    assert first.key == "f000/part-000.json"
    (root / "f199" / "zzz-late.json").touch()  # the walk has not reached f199 yet
    rest = list(objects)
    assert len(rest) == 20_000 and rest[-1].key == "f199/zzz-late.json"

    def peak(consume: Callable[[], object]) -> tuple[int, int]:
        tracemalloc.start()
        try:
            kept = consume()
            current, top = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        del kept
        return current, top

    _, streaming = peak(lambda: sum(1 for _ in storage.list_objects(str(root))))
    held, _ = peak(lambda: list(storage.list_objects(str(root))))
    assert streaming * 10 < held, (streaming, held)
