"""Job bookmarks in a job script (``from orchestrator.runtime import Job``): Glue's ``Job``.

    job = Job()
    job.init(args["JOB_NAME"], args)       # the run's mode, the version it reads, its state
    job.files(ctx, "/data/orders")          # or "s3://bucket/prefix/": the new files, sorted
    job.rows(ctx, engine_or_url, "customers", keys=["id"], order="asc")   # the new rows (dicts)
    job.partitions(ctx, "raw", "sales", expression=None)   # the new runtime_catalog.Partitions
    job.ray_dataset(ctx, "/data/orders", format="parquet", **read_options)
    job.spark_dataframe(ctx, spark, "/data/orders", format="parquet", **options)
    job.commit()                            # stages every source's new state at once

``ctx`` is Glue's ``transformation_ctx``: one state per source in the job's bookmark. A source
read without one (None or "") is not bookmarked: everything is returned and nothing recorded.
What a source returns follows the run's ``--job-bookmark-option``, as the orchestrator resolved
it (``job_bookmark_context``):

- disable (the default): everything; nothing is listed, recorded or committed.
- enable: what is new since the state the run read; ``commit()`` stages the advanced states, and
  the run's SUCCEEDED end makes them the next version (a run that fails advances nothing).
- pause: what is new since the state, or with ``--job-bookmark-from``/``--job-bookmark-to`` what
  the runs after ``from`` up to ``to`` processed; ``commit()`` records nothing.
- a re-run pinned to an earlier run's input (``--job-bookmark-pin``) reads, for each source that
  run listed, what that run read: new since its state, and no newer than its listing.

Each listing is recorded (when it started, and the version read) before its files are returned,
so that a re-run can be pinned to it. Files are tracked by key and last-modified time, Glue's S3
rule; rows by strictly monotonic bookmark keys (``orchestrator.runtime_sql``); catalog partitions
by their values. Reaches the orchestrator as the rest of the runtime does: the serve in
``ADHERE_ENDPOINT``, else the store in ``ADHERE_DB_URL``. Ray and Spark are the engines': the
orchestrator imports neither.
"""

from __future__ import annotations

import atexit
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from orchestrator import bookmarks, errors, runtime
from orchestrator.bookmarks import DISABLE, ENABLE, PAUSE, FileState, KeyState, PartitionState

__all__ = ["Job"]

RAY_FORMATS = ("parquet", "json", "csv")  # what engines.ray_reads reads
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


@dataclass(frozen=True)
class _Plan:
    """How one bookmarked read picks its input: ``how`` is "all", "new", "window" or "pinned";
    ``base`` the state new data is relative to (and advanced from), ``end`` a window's end,
    ``at`` a pinned run's listing time."""

    how: str
    base: Any = None
    end: Any = None
    at: int | None = None


class Job:
    """Glue's ``awsglue.job.Job`` for adhere's runs: ``init``, bookmarked reads, ``commit``."""

    def __init__(self, glue_context: Any = None) -> None:
        # Glue's Job takes a GlueContext; adhere needs none (the argument is accepted and unused)
        self._context: dict[str, Any] | None = None
        self._db: Any = None
        self._states: dict[str, dict[str, Any]] = {}
        self._pending: dict[str, bookmarks.State] = {}
        self._listed: dict[str, dict[str, Any]] = {}

    # --- init and commit ----------------------------------------------------------------------

    def init(self, job_name: str, args: Mapping[str, str] | None = None) -> Job:
        """Load the run's bookmark context: its mode, the version it reads and that state.

        The run is ``args["JOB_RUN_ID"]`` (``getResolvedOptions``), else the one adhere started
        this process for. Outside a run adhere started: RuntimeError.
        """
        run_id = ((args or {}).get("JOB_RUN_ID") or os.environ.get("ADHERE_JOB_RUN_ID")
                  or runtime._argv_value("--JOB_RUN_ID"))  # fmt: skip
        if not run_id or not (os.environ.get("ADHERE_ENDPOINT") or os.environ.get("ADHERE_DB_URL")):
            raise RuntimeError(
                "job bookmarks are only available to a job run started by adhere (it passes "
                "--JOB_RUN_ID and ADHERE_ENDPOINT or ADHERE_DB_URL); this process has "
                + ("no ADHERE_ENDPOINT or ADHERE_DB_URL" if run_id else "no job run id")
            )
        from orchestrator.service import bookmarks as service

        self._db = self._db or _connect()
        context = service.job_bookmark_context(self._db, job_name, run_id)
        self._states = bookmarks.load(context.get("JobBookmark"))
        self._context = context
        self._pending, self._listed = {}, {}
        return self

    @property
    def name(self) -> str:
        return str(self._require()["JobName"])

    @property
    def run_id(self) -> str:
        return str(self._require()["RunId"])

    @property
    def mode(self) -> str:
        """``job-bookmark-enable``, ``-pause`` or ``-disable``."""
        return str(self._require()["Mode"])

    @property
    def version(self) -> int:
        """The bookmark version this run read (0: none yet)."""
        return int(self._require()["Version"])

    def commit(self) -> None:
        """Glue's ``job.commit()``: stage the new state of every source read, atomically.

        Only with ``job-bookmark-enable``: pause and disable record nothing. The run's SUCCEEDED
        end makes it the next version; another run that committed over the version this one read
        makes it ConcurrentModificationException here, or fails this run at its end.
        """
        context = self._require()
        if self.mode != ENABLE:
            return
        from orchestrator.service import bookmarks as service

        states: dict[str, Any] = dict(self._states)
        states.update(self._pending)
        service.commit_job_bookmark(self._db, context["JobName"], context["RunId"], self.version,
                                    bookmarks.dump(states), dict(self._listed) or None)  # fmt: skip

    # --- files ----------------------------------------------------------------------------------

    def files(self, transformation_ctx: str | None, path: str) -> list[str]:
        """The files under ``path`` (a folder, ``file://`` URL or ``s3://bucket/prefix/``) that
        this run processes, sorted: local paths (or file:// URLs, as given) or s3:// URLs.
        Hidden files (``_SUCCESS``, ``.crc``) are skipped, as Spark skips them."""
        return self._files(transformation_ctx, path)[0]

    def _files(self, ctx: str | None, path: str) -> tuple[list[str], list[tuple[int, str]]]:
        """(the files to process, every file listed as (mtime_ms, url))."""
        from catalog import storage

        plan = self._plan(ctx, FileState)  # a ctx of another kind is refused before any I/O
        prefix = _prefix(path)
        started = _now_ms()
        objects = list(storage.list_objects(path))
        urls = {o.key: o.url for o in objects}
        listing = [(o.key, (o.modified - _EPOCH) // _MS) for o in objects]
        everything = [(mtime, urls[key]) for key, mtime in listing]
        if plan.how == "all":
            return sorted(urls.values()), everything
        self._record(ctx, started)
        advanced = None
        if plan.how == "window":
            keys = [] if plan.end is None else bookmarks.window(plan.base, plan.end, listing, prefix=prefix)
        elif plan.how == "pinned":
            assert plan.at is not None
            keys = bookmarks.pinned(plan.base, listing, prefix=prefix, listed_at_ms=plan.at)
            seen = [(k, m) for k, m in listing if m <= plan.at]  # what arrived since is left for later
            advanced = bookmarks.advance(plan.base, seen, prefix=prefix, listed_at_ms=plan.at)
        else:
            keys = bookmarks.new_files(plan.base, listing, prefix=prefix)
            advanced = bookmarks.advance(plan.base, listing, prefix=prefix, listed_at_ms=started)
        new = sorted(urls[k] for k in keys)
        self._advance(ctx, advanced, {"source": prefix, "listed": len(listing), "new": len(new),
                                      "first": new[0] if new else None, "last": new[-1] if new else None})
        return new, everything

    # --- rows (JDBC bookmark keys) ----------------------------------------------------------------

    def rows(self, transformation_ctx: str | None, engine_or_url: Any, table: str,
             keys: Sequence[str] | str | None = None, order: str = "asc") -> list[dict[str, Any]]:  # fmt: skip
        """The rows of ``table`` (``"name"`` or ``"schema.name"``) this run processes, as dicts,
        ordered by the bookmark keys (Glue's ``jobBookmarkKeys``, default the primary key; and
        ``jobBookmarkKeysSortOrder``). ``engine_or_url``: a SQLAlchemy URL, Engine or Connection.
        Keys must be strictly monotonic (gaps allowed) and non-null: a row whose key is not
        beyond the last bookmarked one is InvalidInputException, not a row skipped for good."""
        from orchestrator import runtime_sql

        plan = self._plan(transformation_ctx, KeyState)
        if keys is not None:
            bookmarks.key_options(keys, order)  # refused before anything is read
        with runtime_sql.source(engine_or_url, table, keys) as found:
            names, order = bookmarks.key_options(found.keys, order)
            started = _now_ms()
            if plan.how == "all":
                return found.select(names, order)
            self._record(transformation_ctx, started)
            if plan.how == "window":
                upto = bookmarks.key_filter(plan.end, names, order)
                if upto is None:  # nothing was processed up to the window's end
                    rows = []
                else:
                    rows = found.select(names, order, after=bookmarks.key_filter(plan.base, names, order),
                                        upto=upto[1])
            else:
                rows = found.select(names, order, after=bookmarks.key_filter(plan.base, names, order))
        tuples = [tuple(row[k] for k in names) for row in rows]
        advanced = None if plan.how == "window" else bookmarks.advance_keys(plan.base, names, order, tuples)
        first, last = (list(_plain(tuples[0])), list(_plain(tuples[-1]))) if tuples else (None, None)
        self._advance(transformation_ctx, advanced, {"source": found.name, "listed": len(rows), "new": len(rows),
                                                     "first": first, "last": last})
        return rows

    # --- Data Catalog partitions -----------------------------------------------------------------

    def partitions(self, transformation_ctx: str | None, database: str, table: str,
                   expression: str | None = None) -> list[Any]:  # fmt: skip
        """The partitions of a catalog table (``runtime_catalog.Partition``: values, location)
        this run processes, by values; ``expression`` is GetPartitions' pushdown predicate."""
        from orchestrator import runtime_catalog

        plan = self._plan(transformation_ctx, PartitionState)
        name = f"{database}.{table}".lower()
        started = _now_ms()
        found = runtime_catalog.partitions(database, table, expression)
        ordered = sorted(found, key=lambda p: tuple(p.values))
        if plan.how == "all":
            return ordered
        self._record(transformation_ctx, started)
        values = [tuple(p.values) for p in found]
        if plan.how == "window":
            wanted = set() if plan.end is None else set(
                bookmarks.new_partitions(plan.base, _seen(plan.end, name), table=name))
            advanced = None
        else:
            wanted = set(bookmarks.new_partitions(plan.base, values, table=name))
            advanced = bookmarks.advance_partitions(plan.base, values, table=name)
        new = [p for p in ordered if tuple(p.values) in wanted]
        self._advance(transformation_ctx, advanced, {
            "source": name, "listed": len(found), "new": len(new),
            "first": new[0].values if new else None, "last": new[-1].values if new else None})  # fmt: skip
        return new

    # --- Ray and Spark --------------------------------------------------------------------------

    def ray_dataset(self, transformation_ctx: str | None, path: str, format: str = "parquet",
                    **read_options: Any) -> Any:  # fmt: skip
        """``ray.data.read_<format>`` (parquet, json or csv) over the files ``files`` returns;
        none new: an empty Dataset with the schema of the newest file listed."""
        from engines import ray_reads  # Ray is the engine's to import, not the orchestrator's

        if format not in RAY_FORMATS:
            raise errors.InvalidInputException(f"format {format!r}: ray_dataset reads {', '.join(RAY_FORMATS)}")
        new, everything = self._files(transformation_ctx, path)
        if new:
            return ray_reads.read(format, new, base_dir=None, **read_options)
        if not everything:
            raise errors.InvalidInputException(
                f"{path} has no file yet: an empty Ray Dataset needs one to take its schema from")
        return ray_reads.read(format, [max(everything)[1]], base_dir=None, **read_options).limit(0)

    def spark_dataframe(self, transformation_ctx: str | None, spark: Any, path: str,
                        format: str = "parquet", **options: Any) -> Any:  # fmt: skip
        """``spark.read.format(format).options(**options).load(files)`` over the files ``files``
        returns (s3:// read as s3a://); none new: an empty DataFrame, with the schema of the newest
        file listed when there is one."""
        from orchestrator.runtime_catalog import spark_path

        new, everything = self._files(transformation_ctx, path)
        reader = spark.read.format(format).options(**options)
        if new:
            return reader.load([spark_path(p) for p in new])
        if everything:
            return reader.load([spark_path(max(everything)[1])]).limit(0)
        return spark.range(0).drop("id")

    # --- the plan of each read ------------------------------------------------------------------

    def _require(self) -> dict[str, Any]:
        if self._context is None:
            raise RuntimeError("call job.init(args['JOB_NAME'], args) first: it loads the job's bookmark")
        return self._context

    def _plan(self, ctx: str | None, kind: type[bookmarks.S]) -> _Plan:
        context = self._require()
        if not ctx or context["Mode"] == DISABLE:
            return _Plan("all")
        if not isinstance(ctx, str):
            raise errors.InvalidInputException(f"a transformation_ctx must be a string, not {ctx!r}")
        pending = self._pending.get(ctx)
        if pending is not None and not isinstance(pending, kind):
            raise errors.InvalidInputException(
                f"transformation_ctx {ctx!r} already names a {pending.KIND!r} source in this run: "
                "give each source its own transformation_ctx")
        pin = context.get("Pin")
        if pin and ctx in (pin.get("ListedAt") or {}):
            base = bookmarks.state_for(bookmarks.load(pin.get("JobBookmark")), ctx, kind)
            return _Plan("pinned", base, at=int(pin["ListedAt"][ctx]))
        if context["Mode"] == PAUSE and (context.get("From") is not None or context.get("To") is not None):
            start = bookmarks.state_for(bookmarks.load(context.get("From")), ctx, kind)
            end = bookmarks.state_for(bookmarks.load(context.get("To")), ctx, kind)
            if isinstance(start, FileState) and isinstance(end, FileState) and start.prefix != end.prefix:
                start = None  # the source was re-pointed between the runs: from the start
            return _Plan("window", start, end)
        return _Plan("new", bookmarks.state_for(self._states, ctx, kind))

    def _record(self, ctx: str | None, listed_at_ms: int) -> None:
        """A listing, when it started: what a re-run pinned to this run reads again."""
        from orchestrator.service import bookmarks as service

        context = self._require()
        service.record_job_bookmark_listing(self._db, context["JobName"], context["RunId"], ctx, self.version,
                                            listed_at_ms)  # fmt: skip

    def _advance(self, ctx: str | None, state: bookmarks.State | None, summary: dict[str, Any]) -> None:
        """Keep what commit() stages for ``ctx`` (enable only; a window advances nothing)."""
        if ctx and state is not None and self.mode == ENABLE:
            self._pending[ctx] = state
            self._listed[ctx] = summary


# --- helpers ---------------------------------------------------------------------------------


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _prefix(path: str) -> str:
    """A file source as its state names it: ``s3://bucket/prefix`` or an absolute path, so that
    ``/data/x/`` and ``file:///data/x`` are one source."""
    if not isinstance(path, str) or not path:
        raise errors.InvalidInputException(f"a file source needs a path or s3:// URL, not {path!r}")
    if path[:5].lower() == "s3://":
        return "s3://" + path[5:].strip("/")
    if path[:7].lower() == "file://":
        path = path[7:]
        path = path[len("localhost"):] if path.startswith("localhost/") else path
    return os.path.abspath(os.path.expanduser(path))


def _seen(state: PartitionState, table: str) -> Iterable[tuple[str, ...]]:
    return state.seen if state.table == table else ()


def _plain(values: Iterable[Any]) -> Iterable[Any]:
    """Key values as JSON holds them (datetimes as ISO strings, like the state)."""
    return (v.isoformat() if hasattr(v, "isoformat") else v for v in values)


_connections: dict[tuple[int, str], Any] = {}


def _connect() -> Any:
    """The serve at ``ADHERE_ENDPOINT`` (an Endpoint), else the store at ``ADHERE_DB_URL``: one
    per process (a forked worker makes its own), closed at exit."""
    endpoint, url = os.environ.get("ADHERE_ENDPOINT"), os.environ.get("ADHERE_DB_URL")
    key = (os.getpid(), f"endpoint:{endpoint}" if endpoint else f"store:{url}")
    if key not in _connections:
        close: Callable[[], Any] | None
        if endpoint:
            from orchestrator.service import remote

            found: Any = remote.Endpoint(endpoint, credentials=runtime._endpoint_credentials())
            close = getattr(found, "close", None)
        else:
            from orchestrator import service

            found = service.connect(str(url))
            close = found.close
        if close is not None:
            atexit.register(close)
        _connections[key] = found
    return _connections[key]
