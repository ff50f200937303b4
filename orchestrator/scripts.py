"""Script locations: Glue's ``Command.ScriptLocation`` and the ``--extra-py-files``,
``--extra-files`` and ``--extra-jars`` arguments, made local for an engine at run start.

A location is a local path (``file://`` allowed) or an ``s3://bucket/key`` URL. S3 objects
are fetched through boto3 (its usual endpoint and credential chain) into a cache under the
project home, revalidated on every run by ETag (``IfNoneMatch``: an unchanged object is not
downloaded again). When script roots are configured, local files must lie inside one of them
once ``..`` and symlinks are resolved; ``s3://`` locations are not subject to roots.

Cheap to import (the CLI and the service load it): boto3 is imported on the first fetch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from orchestrator import errors

# Glue's arguments naming files a job needs beside its script, each a comma-separated list.
EXTRA_KEYS = ("--extra-py-files", "--extra-files", "--extra-jars")
S3 = "s3://"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_BUCKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{2,254}$")  # 3-63 today; older ones longer
_CHUNK = 1 << 20


def is_s3(location: str) -> bool:
    return location[:5].lower() == S3


def _is_url(location: str) -> bool:
    """A URL other than ``file://`` (which names a local path)."""
    return bool(_SCHEME.match(location)) and location[:7].lower() != "file://"


def split_list(value: str) -> list[str]:
    """Glue's comma-separated list (``a.py, b.zip``) as its entries, blanks dropped."""
    return [part.strip() for part in value.split(",") if part.strip()]


def extra_entries(arguments: Mapping[str, str]) -> dict[str, list[str]]:
    """The ``--extra-*`` arguments present (the key as spelled, with or without ``--``)."""
    return {
        key: split_list(value)
        for key, value in arguments.items()
        if (key if key.startswith("--") else f"--{key}") in EXTRA_KEYS and isinstance(value, str)
    }


def _without_file_scheme(location: str) -> str:
    return location[7:] if location[:7].lower() == "file://" else location


def local_path(location: str, base: Path | None = None) -> Path:
    """The absolute (not resolved) path of a local location; ``base`` anchors a relative one
    (default: the current folder). Any URL other than ``file://`` is an EngineError."""
    if _is_url(location):
        raise errors.EngineError(
            f"not a local path: {location} (adhere fetches s3:// URLs at run start; no other scheme)"
        )
    if "\x00" in location:
        raise errors.EngineError(f"not a path (a NUL character): {location!r}")
    path = Path(os.path.expanduser(_without_file_scheme(location)))
    if not path.is_absolute():
        path = (base if base is not None else Path.cwd()) / path
    return path


def parse_s3(url: str) -> tuple[str, str]:
    """``s3://bucket/key`` as (bucket, key); EngineError when it names no object."""
    bucket, _, key = url[len(S3) :].partition("/")
    name = key.rpartition("/")[2]
    if not _BUCKET.match(bucket) or name in ("", ".", "..") or "\x00" in key:
        raise errors.EngineError(f"not an S3 object URL (s3://bucket/key): {url}")
    return bucket, key


# --- script roots --------------------------------------------------------------------------------


def root_problem(
    location: str, roots: Sequence[Path], *, base: Path | None = None, what: str = "ScriptLocation"
) -> str | None:
    """Why ``location`` may not run under ``roots``, or None (no roots, an s3:// URL, or a
    path inside a root once ``..`` and symlinks are resolved). ``base`` anchors a relative
    path (default: the current folder)."""
    if not roots or is_s3(location):
        return None
    where = ", ".join(str(root) for root in roots)
    if _is_url(location):
        return f"{what} {location} is not a local path or an s3:// URL, so not in the script roots ({where})"
    try:
        path = local_path(location, base)
    except errors.EngineError as exc:
        return f"{what}: {exc.message}"
    real = os.path.realpath(path)
    if any(_inside(real, os.path.realpath(root)) for root in roots):
        return None
    shown = f" (it resolves to {real})" if real != str(path) else ""
    return f"{what} {location} is outside the script roots ({where}){shown}"


def job_root_problem(
    script_location: str, arguments: Mapping[str, str], roots: Sequence[Path]
) -> str | None:
    """The first root problem of a job's script or of an ``--extra-*`` entry in ``arguments``
    (relative entries are relative to the script's folder, the job's working folder)."""
    if not roots:
        return None
    problem = root_problem(script_location, roots)
    if problem is not None:
        return problem
    for key, entries in extra_entries(arguments).items():
        for entry in entries:
            if is_s3(entry):
                continue
            try:
                base = _extras_base(script_location, entry, key)
            except errors.AdhereError as exc:
                return exc.message
            problem = root_problem(entry, roots, base=base, what=key)
            if problem is not None:
                return problem
    return None


def _inside(real: str, root: str) -> bool:
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def _extras_base(script_location: str, entry: str, key: str) -> Path | None:
    """The folder a relative ``--extra-*`` entry is read from: the local script's."""
    if _is_url(entry) or os.path.isabs(os.path.expanduser(_without_file_scheme(entry))):
        return None
    if _is_url(script_location):
        raise errors.EngineError(
            f"{key}: {entry} is a relative path, which needs a local ScriptLocation "
            f"(not {script_location}): give an absolute path or an s3:// URL"
        )
    return Path(os.path.realpath(local_path(script_location))).parent


# --- run start -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Local:
    """What an engine runs: the local script, and the arguments with local ``--extra-*`` files."""

    script: str
    arguments: Mapping[str, str]


def needs_fetch(script: str, arguments: Mapping[str, str]) -> bool:
    """Whether starting this needs S3 (a network round trip, so off the orchestrator's loop)."""
    return is_s3(script) or any(
        is_s3(e) for entries in extra_entries(arguments).values() for e in entries
    )


def localise(
    script: str, arguments: Mapping[str, str], roots: Sequence[Path], cache: Cache
) -> Local:
    """The script and ``--extra-*`` files of a run start, local: S3 objects fetched (or
    revalidated) into ``cache``, local paths checked against ``roots`` and then given as their
    resolved paths (so the engine runs exactly what was checked). EngineError says why not.

    Without roots and S3 this is the identity, at no cost: engines resolve local paths.
    """
    extras = extra_entries(arguments)
    if not roots and not is_s3(script) and not any(is_s3(e) for es in extras.values() for e in es):
        return Local(script, arguments)
    if is_s3(script):
        local_script = str(cache.fetch(script))
    else:
        problem = root_problem(script, roots)
        if problem is not None:
            raise errors.EngineError(problem)
        local_script = os.path.realpath(local_path(script)) if roots else script
    changed = dict(arguments)
    for key, entries in extras.items():
        local: list[str] = []
        for entry in entries:
            if is_s3(entry):
                local.append(str(cache.fetch(entry)))
                continue
            base = _extras_base(script, entry, key)
            problem = root_problem(entry, roots, base=base, what=key)
            if problem is not None:
                raise errors.EngineError(problem)
            local.append(os.path.realpath(local_path(entry, base)) if roots else entry)
        changed[key] = ",".join(local)
    return Local(local_script, changed)


def materialise(location: str, cache: Cache, roots: Sequence[Path] = ()) -> Path:
    """One location as a local file: an S3 object fetched into ``cache``, a local path
    checked against ``roots`` and resolved. EngineError names the location and the reason."""
    return Path(os.path.realpath(local_path(localise(location, {}, roots, cache).script)))


# --- the S3 cache --------------------------------------------------------------------------------


class Cache:
    """S3 objects under ``folder``: ``s3/<bucket>/<digest of the URL>/<the key's file name>``,
    each with its ETag in ``<digest>.etag`` beside the folder. Thread-safe; a file lock per
    object keeps processes sharing the home from writing one at the same time. A changed object
    replaces the cached file atomically, so a reader sees the old or the new file, whole."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._client: Any = None
        self._lock = threading.Lock()
        self.downloads = 0  # objects downloaded (not revalidated) by this cache

    def fetch(self, url: str) -> Path:
        """The local copy of ``url``, current by ETag; EngineError names the URL and why not."""
        bucket, key = parse_s3(url)
        digest = hashlib.sha256(f"{bucket}/{key}".encode()).hexdigest()[:24]
        parent = self.folder / "s3" / bucket
        target = parent / digest / key.rpartition("/")[2]
        etag_file = parent / f"{digest}.etag"
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with _file_lock(parent / f"{digest}.lock"):
                etag = _read(etag_file) if target.is_file() else None
                response = self._get(url, bucket, key, etag)
                if response is None:  # 304: the cached copy is current
                    return target
                self._write(url, response, target)
                # After the file: a crash in between leaves an old ETag, so a download next time.
                _write_atomically(etag_file, response.get("ETag", "").encode())
        except OSError as exc:  # the home not writable, a full disk...
            raise errors.EngineError(f"cannot cache {url} in {parent}: {exc}") from exc
        with self._lock:
            self.downloads += 1
        return target

    def client(self) -> Any:
        """The S3 client, made on first use (boto3's chain: AWS_ENDPOINT_URL_S3, env keys...)."""
        with self._lock:
            if self._client is None:
                import boto3
                import botocore.config

                config = botocore.config.Config(
                    connect_timeout=5,
                    read_timeout=30,
                    retries={"mode": "standard", "max_attempts": 3},
                )
                self._client = boto3.session.Session().client("s3", config=config)
            return self._client

    def _get(self, url: str, bucket: str, key: str, etag: str | None) -> dict[str, Any] | None:
        """GetObject, conditional on ``etag``; None when not modified."""
        import botocore.exceptions

        kwargs = {"Bucket": bucket, "Key": key}
        if etag:
            kwargs["IfNoneMatch"] = etag
        try:
            return self.client().get_object(**kwargs)
        except botocore.exceptions.ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 304:
                return None
            error = exc.response.get("Error", {})
            code, message = error.get("Code") or status, error.get("Message") or ""
            reason = f"{code}: {message}" if message and message != code else str(code)
            raise errors.EngineError(
                f"cannot fetch {url}: {reason}", retryable=_transient(status)
            ) from exc
        except botocore.exceptions.NoCredentialsError as exc:
            raise errors.EngineError(f"cannot fetch {url}: {exc} (set AWS credentials)") from exc
        except (botocore.exceptions.BotoCoreError, OSError) as exc:
            raise errors.EngineError(f"cannot fetch {url}: {exc}", retryable=True) from exc

    @staticmethod
    def _write(url: str, response: dict[str, Any], target: Path) -> None:
        tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            with open(tmp, "wb") as out:
                for chunk in response["Body"].iter_chunks(_CHUNK):
                    out.write(chunk)
            os.replace(tmp, target)
        except Exception as exc:  # a reset connection mid-body, a full disk...
            with contextlib.suppress(OSError):
                tmp.unlink()  # the previous copy (and its ETag) stay
            raise errors.EngineError(
                f"cannot fetch {url}: {type(exc).__name__}: {exc}", retryable=True
            ) from exc


def _transient(status: object) -> bool:
    return isinstance(status, int) and (status >= 500 or status in (408, 429))


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock
