"""The files under a crawler's include path, on local disk (a path or ``file://``) or in S3.

The only I/O of the catalog (STYLE 15). Listings stream in key order, the order S3's
ListObjectsV2 returns (UTF-8 binary order of whole keys), so a local tree and a bucket holding
the same files list alike: a local folder's entries are sorted with ``/`` after a folder's name.
S3 goes through boto3's usual chain (``AWS_ENDPOINT_URL_S3``, the environment's keys...), as
``orchestrator.scripts`` does; boto3 is imported on first use.

Skipped, as Hadoop's ``FileInputFormat`` skips them (and so Glue ETL, Spark and Athena when
they read a table): every file or folder below the include path whose name starts with ``_`` or
``.`` (``_SUCCESS``, ``_temporary/``, ``_metadata``, ``_delta_log/``, ``.part-0.crc``), Hadoop's
``*_$folder$`` markers, S3 "folder" objects (keys ending in ``/``) and keys with an empty
segment (``a//b``), which no folder can hold. Glue does not document this; cataloguing files no
reader reads would only make tables fail. Symlinked files are read; symlinked folders are not
followed (loops).

An include path naming one file lists that file, keyed by its name. A local path that does not
exist, a missing bucket, or refused access is a ``StorageError`` when ``list_objects`` is
called; an S3 prefix without objects is simply empty (S3 has no folders to be missing).
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from catalog import globs
from orchestrator import errors

S3 = "s3://"
FILE = "file://"
_CLIENTS: dict[tuple[str | None, ...], Any] = {}
_CLIENTS_LOCK = threading.Lock()
_CLIENT_ENV = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_PROFILE",
               "AWS_DEFAULT_REGION", "AWS_REGION")  # fmt: skip


class StorageError(errors.InvalidInputException):
    """An include path cannot be listed or read."""


@dataclass(frozen=True, slots=True)
class Object:
    """One file under an include path (the classifiers' ``Readable``: key, size, read)."""

    url: str  # "/abs/path/f.parquet" or "file:///abs/path/f.parquet" (as the include path), or "s3://bucket/key"
    key: str  # relative to the include path, '/'-separated: "year=2024/month=01/part-0.parquet"
    size: int
    modified: datetime  # UTC

    def read(self, start: int, length: int) -> bytes:
        """Up to ``length`` bytes from ``start`` (fewer at the end of the file)."""
        if start < 0 or length < 0:
            raise ValueError(f"bad range: start={start}, length={length}")
        if length == 0 or start >= self.size:
            return b""
        if _is_s3(self.url):
            return _read_s3(self.url, start, length)
        path = _local_path(self.url)
        try:
            with open(path, "rb") as file:
                file.seek(start)
                return file.read(length)
        except OSError as exc:
            raise StorageError(f"cannot read {self.url}: {exc.strerror or exc}") from exc


def list_objects(
    include_path: str,
    *,
    exclude: Callable[[str], bool] | None = None,
    under: Iterable[str] | None = None,
) -> Iterator[Object]:
    """The files below ``include_path`` in key order, streamed (one folder or page at a time).

    ``exclude(key)`` drops a file (``globs.compile(...)`` also lets the walk skip whole local
    folders); ``under`` limits the listing to these folders relative to the include path (an
    incremental crawl's new folders; a missing one lists nothing). Checks the include path
    now, so a bad one raises here rather than at the first ``next``.
    """
    prefixes = None if under is None else _folders(under)
    if _is_s3(include_path):
        bucket, base = _parse_s3(include_path)
        single = _check_s3(include_path, bucket, base)
        if single is not None:
            return _single(single, exclude, prefixes)
        return _walk_s3(include_path, bucket, base, exclude, prefixes)
    root = _local_path(include_path)
    scheme = FILE if include_path[:7].lower() == FILE else ""  # URLs keep the include path's form
    mode = _check_local(include_path, root)
    if not stat.S_ISDIR(mode):
        name = os.path.basename(root)
        return _single(_local_object(f"{scheme}{root}", name, os.stat(root)), exclude, prefixes)
    base_url = f"{scheme}{root.rstrip(os.sep)}"
    covers = exclude.covers if isinstance(exclude, globs.Exclusions) else None
    return _walk_local(root, base_url, exclude, covers, prefixes)


def list_files_in(include_path: str, folders: Iterable[str], *,
                  exclude: Callable[[str], bool] | None = None) -> Iterator[Object]:  # fmt: skip
    """The files directly in ``folders`` (relative to the include path, ``""`` for the include
    path itself), not in their subfolders: folder after folder, in key order.

    For CRAWL_EVENT_MODE, which lists the folders its S3 events name and nothing else (S3: one
    delimiter listing per folder). A missing folder lists nothing, as do hidden ones and those
    ``exclude`` covers; ``exclude(key)`` drops a file. The include path must be a folder (the
    mode's rule): one naming a file is a ``StorageError``, raised here, as a bad one is.
    """
    wanted = sorted({f.strip("/") for f in folders}, key=lambda f: f"{f}/" if f else "")
    if any(".." in f.split("/") for f in wanted):
        raise StorageError(f"a folder to list leaves the include path: {sorted(folders)}")
    covers = exclude.covers if isinstance(exclude, globs.Exclusions) else None
    wanted = [f for f in wanted if not f or not (_hidden_key(f) or (covers is not None and covers(f)))]
    if _is_s3(include_path):
        bucket, base = _parse_s3(include_path)
        if _check_s3(include_path, bucket, base) is not None:
            raise StorageError(f"include path {include_path} is a file, not a folder")
        return _files_in_s3(include_path, bucket, base, wanted, exclude)
    root = _local_path(include_path)
    if not stat.S_ISDIR(_check_local(include_path, root)):
        raise StorageError(f"include path {include_path} is a file, not a folder")
    scheme = FILE if include_path[:7].lower() == FILE else ""
    return _files_in_local(root, f"{scheme}{root.rstrip(os.sep)}", wanted, exclude)


def list_folders(include_path: str, depth: int, *, exclude: globs.Exclusions | None = None) -> Iterator[str]:
    """The folders exactly ``depth`` levels below ``include_path`` (relative, in key order).

    For incremental crawls (CRAWL_NEW_FOLDERS_ONLY): compare these with the folders already
    catalogued, then ``list_objects(..., under=new)``. Only folders are read (S3: delimiter
    listings, one per folder above ``depth``), never the files inside them. Hidden folders are
    skipped, as are folders ``exclude`` excludes entirely.
    """
    if depth < 1:
        raise ValueError(f"depth must be at least 1, not {depth}")
    covers = exclude.covers if exclude is not None else None
    if _is_s3(include_path):
        bucket, base = _parse_s3(include_path)
        if _check_s3(include_path, bucket, base) is not None:
            return iter(())
        return _folders_s3(include_path, bucket, base, "", depth, covers)
    root = _local_path(include_path)
    if not stat.S_ISDIR(_check_local(include_path, root)):
        return iter(())
    return _folders_local(root, "", depth, covers)


def include_name(include_path: str) -> str:
    """The include path's last segment (the bucket for a whole bucket): a root table's name."""
    path = include_path[len(S3):] if _is_s3(include_path) else _local_path(include_path)
    segments = [s for s in path.replace(os.sep, "/").split("/") if s]
    return segments[-1] if segments else ""


def real_path(location: str) -> str | None:
    """A local location's absolute path with its symbolic links resolved (None for S3), as a
    watched folder names itself in its events."""
    return None if _is_s3(location) else os.path.realpath(_local_path(location))


def include_level(include_path: str) -> int:
    """The include path's level for TableLevelConfiguration: the bucket is level 1; for a
    local path, its first segment (``/data`` is 1, ``/data/sales`` is 2)."""
    path = include_path[len(S3):] if _is_s3(include_path) else _local_path(include_path)
    return len([s for s in path.replace(os.sep, "/").split("/") if s])


# --- shared --------------------------------------------------------------------------------------


def hidden(name: str) -> bool:
    """Whether a file or folder name is one Hadoop readers skip."""
    return name[:1] in ("_", ".") or name.endswith("_$folder$")


def _hidden_key(key: str) -> bool:
    return any(not name or hidden(name) for name in key.split("/"))


def _folders(under: Iterable[str]) -> list[str]:
    """``under`` cleaned: no slashes at the ends, no folder inside another, in key order."""
    cleaned = sorted({u.strip("/") for u in under if u.strip("/")}, key=lambda u: f"{u}/")
    if any(".." in u.split("/") for u in cleaned):
        raise StorageError(f"a folder to list leaves the include path: {under}")
    kept: list[str] = []
    for folder in cleaned:
        if not kept or not folder.startswith(f"{kept[-1]}/"):
            kept.append(folder)
    return kept


def _single(obj: Object, exclude: Callable[[str], bool] | None, prefixes: list[str] | None) -> Iterator[Object]:
    """An include path that is one file: no folders, so ``under`` selects nothing."""
    if prefixes is None and not (exclude is not None and exclude(obj.key)):
        yield obj


# --- local ---------------------------------------------------------------------------------------


def _is_s3(location: str) -> bool:
    return location[:5].lower() == S3


def _local_path(location: str) -> str:
    """The absolute path of a plain path or a ``file://`` URL (``file://localhost/`` too)."""
    if location[:7].lower() == FILE:
        location = location[7:]
        if location.startswith("localhost/"):
            location = location[len("localhost"):]
    elif "://" in location:
        raise StorageError(f"{location}: not a local path, a file:// URL or an s3:// URL")
    if "\x00" in location:
        raise StorageError(f"{location!r}: not a path (a NUL character)")
    return os.path.abspath(os.path.expanduser(location))


def _check_local(include_path: str, root: str) -> int:
    try:
        return os.stat(root).st_mode
    except FileNotFoundError as exc:
        raise StorageError(f"include path {include_path} does not exist") from exc
    except OSError as exc:
        raise StorageError(f"cannot read include path {include_path}: {exc.strerror or exc}") from exc


def _local_object(url: str, key: str, info: os.stat_result) -> Object:
    return Object(url, key, info.st_size, datetime.fromtimestamp(info.st_mtime, UTC))


def _scan(path: str, rel: str) -> list[tuple[str, os.DirEntry[str]]]:
    """A folder's visible entries in key order (a folder's name sorts with its ``/``)."""
    try:
        with os.scandir(path) as it:
            entries = []
            for entry in it:
                if hidden(entry.name):
                    continue
                folder = entry.is_dir(follow_symlinks=False)
                entries.append((f"{entry.name}/" if folder else entry.name, entry))
    except FileNotFoundError:  # removed since its parent was read
        return []
    except OSError as exc:
        raise StorageError(f"cannot list {path}: {exc.strerror or exc}") from exc
    entries.sort(key=lambda item: item[0])
    return entries


def _walk_local(root: str, base_url: str, exclude: Callable[[str], bool] | None,
                covers: Callable[[str], bool] | None, prefixes: list[str] | None) -> Iterator[Object]:  # fmt: skip
    for prefix in prefixes if prefixes is not None else [""]:
        if prefix and (_hidden_key(prefix) or (covers is not None and covers(prefix))):
            continue
        yield from _walk_folder(root, base_url, prefix, exclude, covers)


def _walk_folder(root: str, base_url: str, rel: str, exclude: Callable[[str], bool] | None,
                 covers: Callable[[str], bool] | None) -> Iterator[Object]:  # fmt: skip
    path = os.path.join(root, *rel.split("/")) if rel else root
    for sort_key, entry in _scan(path, rel):
        key = f"{rel}/{entry.name}" if rel else entry.name
        if sort_key.endswith("/"):
            if covers is None or not covers(key):
                yield from _walk_folder(root, base_url, key, exclude, covers)
            continue
        if exclude is not None and exclude(key):
            continue
        found = _file(entry, base_url, key)
        if found is not None:
            yield found


def _file(entry: os.DirEntry[str], base_url: str, key: str) -> Object | None:
    """A folder entry's file (None when it is gone, or not a regular file)."""
    try:
        info = entry.stat()  # follows a symlinked file to its target
    except FileNotFoundError:  # removed since the folder was read, or a dangling link
        return None
    except OSError as exc:
        raise StorageError(f"cannot read {entry.path}: {exc.strerror or exc}") from exc
    return _local_object(f"{base_url}/{key}", key, info) if stat.S_ISREG(info.st_mode) else None


def _files_in_local(root: str, base_url: str, folders: list[str],
                    exclude: Callable[[str], bool] | None) -> Iterator[Object]:  # fmt: skip
    for rel in folders:
        path = os.path.join(root, *rel.split("/")) if rel else root
        if not os.path.isdir(path):  # gone, or a file now
            continue
        for sort_key, entry in _scan(path, rel):
            key = f"{rel}/{entry.name}" if rel else entry.name
            if sort_key.endswith("/") or (exclude is not None and exclude(key)):
                continue
            found = _file(entry, base_url, key)
            if found is not None:
                yield found


def _folders_local(root: str, rel: str, depth: int, covers: Callable[[str], bool] | None) -> Iterator[str]:
    path = os.path.join(root, *rel.split("/")) if rel else root
    for sort_key, entry in _scan(path, rel):
        if not sort_key.endswith("/"):
            continue
        key = f"{rel}/{entry.name}" if rel else entry.name
        if covers is not None and covers(key):
            continue
        if depth == 1:
            yield key
        else:
            yield from _folders_local(root, key, depth - 1, covers)


# --- S3 ------------------------------------------------------------------------------------------


def _parse_s3(include_path: str) -> tuple[str, str]:
    """(bucket, prefix) where the prefix is empty or ends in ``/``."""
    bucket, _, prefix = include_path[len(S3):].partition("/")
    if not bucket or "\x00" in prefix:
        raise StorageError(f"{include_path}: not an S3 location (s3://bucket/prefix)")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


def _client() -> Any:
    """An S3 client for the current environment (one per distinct endpoint and credentials)."""
    signature = tuple(os.environ.get(name) for name in _CLIENT_ENV)
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(signature)
        if client is None:
            import boto3
            import botocore.config

            config = botocore.config.Config(
                connect_timeout=5, read_timeout=60, retries={"mode": "standard", "max_attempts": 5}
            )
            client = _CLIENTS[signature] = boto3.session.Session().client("s3", config=config)
        return client


def _s3_error(verb: str, url: str, exc: Exception) -> StorageError:
    """A clear StorageError for a boto3 failure to ``verb`` (list, read) ``url``."""
    import botocore.exceptions

    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode"))
        if code == "NoSuchBucket":
            reason = f"the bucket {url[len(S3):].partition('/')[0]} does not exist"
        elif code in ("NoSuchKey", "404"):
            reason = "the object no longer exists"
        elif code in ("AccessDenied", "403", "AllAccessDisabled"):
            reason = "access denied"
        else:
            message = error.get("Message") or ""
            reason = f"{code}: {message}" if message and message != code else code
    elif isinstance(exc, botocore.exceptions.NoCredentialsError):
        reason = "no AWS credentials (set AWS_ACCESS_KEY_ID or a profile)"
    else:
        reason = str(exc)
    return StorageError(f"cannot {verb} {url}: {reason}")


def _s3_errors() -> tuple[type[Exception], ...]:
    import botocore.exceptions

    return (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, OSError)


def _check_s3(include_path: str, bucket: str, base: str) -> Object | None:
    """Raise if the bucket cannot be listed; the object when the include path names one file."""
    client = _client()
    try:
        page = client.list_objects_v2(Bucket=bucket, Prefix=base, MaxKeys=1)
        if page.get("KeyCount", 0) or not base or include_path.endswith("/"):
            return None
        head = client.head_object(Bucket=bucket, Key=base[:-1])
    except _s3_errors() as exc:
        if getattr(exc, "response", {}).get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise _s3_error("list", include_path, exc) from exc
    key = base[:-1]
    url = f"{S3}{bucket}/{key}"
    return Object(url, key.rpartition("/")[2], head["ContentLength"], head["LastModified"].astimezone(UTC))


def _walk_s3(include_path: str, bucket: str, base: str, exclude: Callable[[str], bool] | None,
             prefixes: list[str] | None) -> Iterator[Object]:  # fmt: skip
    paginator = _client().get_paginator("list_objects_v2")
    for prefix in prefixes if prefixes is not None else [""]:
        if prefix and _hidden_key(prefix):
            continue
        try:
            for page in paginator.paginate(Bucket=bucket, Prefix=f"{base}{prefix}/" if prefix else base):
                for item in page.get("Contents", ()):
                    key = item["Key"][len(base):]
                    if not key or key.endswith("/") or _hidden_key(key):
                        continue
                    if exclude is not None and exclude(key):
                        continue
                    url = f"{S3}{bucket}/{item['Key']}"
                    yield Object(url, key, item["Size"], item["LastModified"].astimezone(UTC))
        except _s3_errors() as exc:
            raise _s3_error("list", include_path, exc) from exc


def _files_in_s3(include_path: str, bucket: str, base: str, folders: list[str],
                 exclude: Callable[[str], bool] | None) -> Iterator[Object]:  # fmt: skip
    paginator = _client().get_paginator("list_objects_v2")
    for rel in folders:
        try:
            for page in paginator.paginate(Bucket=bucket, Prefix=f"{base}{rel}/" if rel else base, Delimiter="/"):
                for item in page.get("Contents", ()):
                    key = item["Key"][len(base):]
                    if not key or key.endswith("/") or _hidden_key(key) or (exclude is not None and exclude(key)):
                        continue
                    url = f"{S3}{bucket}/{item['Key']}"
                    yield Object(url, key, item["Size"], item["LastModified"].astimezone(UTC))
        except _s3_errors() as exc:
            raise _s3_error("list", include_path, exc) from exc


def _folders_s3(include_path: str, bucket: str, base: str, rel: str, depth: int,
                covers: Callable[[str], bool] | None) -> Iterator[str]:  # fmt: skip
    paginator = _client().get_paginator("list_objects_v2")
    prefix = f"{base}{rel}/" if rel else base
    try:
        # Collected per folder: recursing mid-page would hold a connection per level.
        found = [common["Prefix"][len(base):-1]
                 for page in paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/")
                 for common in page.get("CommonPrefixes", ())]  # fmt: skip
    except _s3_errors() as exc:
        raise _s3_error("list", include_path, exc) from exc
    for key in found:
        name = key.rpartition("/")[2]
        if not name or hidden(name) or (covers is not None and covers(key)):
            continue
        if depth == 1:
            yield key
        else:
            yield from _folders_s3(include_path, bucket, base, key, depth - 1, covers)


def _read_s3(url: str, start: int, length: int) -> bytes:
    bucket, _, key = url[len(S3):].partition("/")
    try:
        response = _client().get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{start + length - 1}")
        return response["Body"].read()
    except _s3_errors() as exc:
        if getattr(exc, "response", {}).get("Error", {}).get("Code") == "InvalidRange":
            return b""  # the object shrank since it was listed
        raise _s3_error("read", url, exc) from exc
