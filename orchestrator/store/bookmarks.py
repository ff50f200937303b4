"""Job bookmarks: the versions of each job's state, what runs staged, and when they listed.

A version is never changed or deleted (but with its job): a commit, a reset or a rewind adds
one. The versions' primary key (job, version) makes two promotions over the same version
impossible; the job's definition row is locked before one (``job_run.complete``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from orchestrator.store import tables
from orchestrator.store.database import Tx, values

_v = tables.job_bookmarks
_s = tables.job_bookmark_stages
_l = tables.job_bookmark_listings
_BP = sa.bindparam
COMMIT, RESET, REWIND = "COMMIT", "RESET", "REWIND"


@dataclasses.dataclass(frozen=True, slots=True)
class Version:
    """One version of a job's bookmark (the table's columns, in order)."""

    job_name: str
    version: int
    run: int
    attempt: int
    run_id: str | None
    previous_run_id: str | None
    job_bookmark: str
    listed: Mapping[str, Any] | None
    reason: str
    committed_on: dt.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class Stage:
    job_run_id: str
    job_name: str
    base_version: int
    job_bookmark: str
    listed: Mapping[str, Any] | None
    staged_on: dt.datetime


_LATEST = sa.select(_v).where(_v.c.job_name == _BP("_job")).order_by(_v.c.version.desc()).limit(1)
_BY_RUN = sa.select(_v).where(_v.c.job_name == _BP("_job"), _v.c.run_id == _BP("_run"), _v.c.reason == COMMIT)


def latest(tx: Tx, job_name: str) -> Version | None:
    row = tx.execute(_LATEST, {"_job": job_name}).first()
    return Version(*row) if row else None


def committed_by(tx: Tx, job_name: str, run_id: str) -> Version | None:
    """The version a run committed (None when it committed none)."""
    row = tx.execute(_BY_RUN, {"_job": job_name, "_run": run_id}).first()
    return Version(*row) if row else None


def last_commit_until(tx: Tx, job_name: str, moment: dt.datetime) -> Version | None:
    """The latest version committed at or before ``moment`` (a run that committed nothing
    stands for the input processed until then)."""
    query = (sa.select(_v).where(_v.c.job_name == job_name, _v.c.reason == COMMIT, _v.c.committed_on <= moment)
             .order_by(_v.c.version.desc()).limit(1))
    row = tx.execute(query).first()
    return Version(*row) if row else None


def history(tx: Tx, job_name: str, limit: int | None = None) -> list[Version]:
    query = sa.select(_v).where(_v.c.job_name == job_name).order_by(_v.c.version.desc())
    return [Version(*row) for row in tx.execute(query.limit(limit) if limit else query)]


def add(tx: Tx, version: Version) -> None:
    tx.execute(sa.insert(_v), values(version))


def stage(tx: Tx, stage: Stage) -> None:
    """Record (or replace: a script may commit twice) what a run committed."""
    tx.execute(sa.delete(_s).where(_s.c.job_run_id == stage.job_run_id))
    tx.execute(sa.insert(_s), values(stage))


def staged(tx: Tx, job_run_id: str) -> Stage | None:
    row = tx.execute(sa.select(_s).where(_s.c.job_run_id == job_run_id)).first()
    return Stage(*row) if row else None


def unstage(tx: Tx, job_run_id: str) -> None:
    tx.execute(sa.delete(_s).where(_s.c.job_run_id == job_run_id))


def record_listing(tx: Tx, job_run_id: str, context: str, job_name: str, base_version: int, listed_at_ms: int) -> None:
    """When a run listed a source (the first listing of each context counts: a retry of the
    script's read keeps the window it started with)."""
    exists = tx.execute(sa.select(_l.c.job_run_id).where(_l.c.job_run_id == job_run_id, _l.c.context == context))
    if exists.first() is None:
        tx.execute(sa.insert(_l).values(job_run_id=job_run_id, context=context, job_name=job_name,
                                        base_version=base_version, listed_at_ms=listed_at_ms))


def listings(tx: Tx, job_run_id: str) -> tuple[int | None, dict[str, int]]:
    """(the version the run started from, context -> when it listed) of a run's listings."""
    rows = tx.execute(sa.select(_l.c.context, _l.c.base_version, _l.c.listed_at_ms).where(_l.c.job_run_id == job_run_id))
    found = list(rows)
    return (found[0][1] if found else None), {context: at for context, _, at in found}


def version(tx: Tx, job_name: str, number: int) -> Version | None:
    row = tx.execute(sa.select(_v).where(_v.c.job_name == job_name, _v.c.version == number)).first()
    return Version(*row) if row else None


def delete_job(tx: Tx, job_name: str) -> None:
    """A deleted job's bookmark goes with it (Glue's rule)."""
    for table in (_v, _s, _l):
        tx.execute(sa.delete(table).where(table.c.job_name == job_name))
