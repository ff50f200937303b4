"""The dispatcher duty: starts the runs this process owns on their engines, within a per-engine
process limit, and records how they start and end.

Its run book, keyed by job run id, holds the runs this process follows (started or adopted);
engines report a run's end by the job run id they were given. What it learns between two
wake-ups (processes started, exits reported) is written in the next transaction, and only
forgotten here once that transaction has committed.

Script locations are made local here, once for every engine (orchestrator/scripts.py): local
paths are checked against the script roots on the loop (a few syscalls); a run that needs S3
waits in ``pending`` while a small thread pool fetches (or revalidates) its files, and is
submitted on the loop's next wake-up, so the loop never waits for the network.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import queue
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from engines import base, registry
from orchestrator import effects as fx
from orchestrator import errors, job_run, scripts, store
from orchestrator.effects import Effects
from orchestrator.settings import Settings
from orchestrator.states import JOB_RUN_TERMINAL, JobRunState
from orchestrator.store.job_runs import JobRun

log = logging.getLogger(__name__)
_J = JobRunState
FETCHERS = 4  # threads fetching scripts from S3
ENGINE_RUN_ID_FILE = "engine_run_id"  # in the run folder once the engine accepted the run: see recovery


@dataclasses.dataclass(frozen=True)
class _Started:
    """A submission since the last transaction: its engine run id, or why it failed."""

    run: JobRun
    stamp: dt.datetime
    engine_run_id: str | None
    failure: str | None = None


class Dispatcher:
    def __init__(self, settings: Settings, db_url: str, owner: str, on_exit: Callable[[], None],
                 scope: str | None = None) -> None:
        self.settings = settings
        self.db_url = db_url
        self.owner = owner
        self.scope = scope  # only runs of this workflow run (an `adhere run`)
        self.registry = registry.Registry(settings.home, settings.engine_options())
        self._wake = on_exit
        self._lock = threading.Lock()
        self._logs = settings.logs_dir.resolve()
        self.book: dict[str, JobRun] = {}  # job run id -> the run (with its engine run id), followed here
        self.pending: dict[str, JobRun] = {}  # owned STARTING runs waiting for a slot, in order
        self._started: list[_Started] = []
        self._exited: set[str] = set()  # job run ids whose engine reported an end (engine threads add)
        self._ends: dict[str, base.EngineStatus] = {}  # ended runs in the book, not yet recorded
        self._used: dict[str, int] = {}  # command -> runs in the book
        self._listening: set[str] = set()
        self._cancelled: set[str] = set()
        self.sweep = False  # poll every run in the book (the loop sets it now and then)
        self.unowned = True  # unowned STARTING runs may exist (a hint: the claim checks)
        self.scripts = scripts.Cache(settings.home / "scripts")
        self._fetching: dict[str, str] = {}  # pending run id -> command, its files being fetched
        self._fetches: dict[str, int] = {}  # command -> runs being fetched (they hold a slot)
        self._fetched: dict[str, scripts.Local | errors.EngineError] = {}  # fetch threads add
        self._to_fetch: queue.SimpleQueue[tuple[str, str, Mapping[str, str]] | None] = queue.SimpleQueue()
        self._fetchers: list[threading.Thread] = []  # started on the first fetch

    # --- what the rest of the loop asks ---------------------------------------------------------
    @property
    def busy(self) -> bool:
        return bool(self.book or self.pending or self._started)

    def capacity(self, effects: Effects | None = None) -> int:
        """Runs worth taking now, on the busiest engine's terms: free slots (counting those of
        runs that end in this wake-up, ``effects``), minus the runs waiting for one or about to."""
        used = sum(self._used.values())
        if effects is not None:
            used -= sum(1 for run_id in effects.ended if run_id in self.book)
            used += len(effects.start)
        return self.settings.max_processes * max(1, len(self._used)) - used - len(self.pending)

    def active_here(self, workflow_run_id: str, effects: Effects) -> bool:
        """Whether a run of this workflow run, not ended in this wake-up, is started or followed here."""
        return any(
            run.workflow_run_id == workflow_run_id and run.id not in effects.ended
            for runs in (self.book.values(), self.pending.values(), (s.run for s in self._started))
            for run in runs
        )

    def has_work(self) -> bool:
        """Something to write: runs that ended or were submitted since the last transaction."""
        return bool(self._ends or self._started)

    # --- the duty, in two parts: before the scheduler and after it ------------------------------
    def collect(self) -> None:
        """Ask the engines about the runs reported to have ended (every run on a sweep): outside
        the transaction, since an engine may answer over the network."""
        with self._lock:
            exited, self._exited = self._exited, set()
            arrived = [run_id for run_id in self._fetched if run_id in self._fetching]
            for run_id in [run_id for run_id in self._fetched if run_id not in self._fetching]:
                del self._fetched[run_id]  # its run was stopped meanwhile
        if arrived:  # their files are here: submit them now (recorded in this wake-up)
            self.launch()
        if self.sweep:  # a safety net under the engines' push notifications
            exited |= {run_id for run_id, run in self.book.items() if run.engine_run_id}
        for run_id in exited:
            run = self.book.get(run_id)
            if run is not None and run.engine_run_id and run_id not in self._ends:
                status = self.engine(run.command).poll(run.engine_run_id)
                if status.state in JOB_RUN_TERMINAL:
                    self._ends[run_id] = status

    def record(self, tx: store.Tx, now: dt.datetime, effects: Effects) -> None:
        """Write down the submissions since the last transaction and the runs that ended."""
        started = list(self._started)
        for item in started:
            self._record_start(tx, item, effects)
        ends = list(self._ends.items())
        for run_id, status in ends:
            self._finish(tx, self.book[run_id], status.state, status.error_message, effects)
        if started or ends:
            effects.after.append(lambda: self._recorded(len(started), [run_id for run_id, _ in ends]))

    def claim(self, tx: store.Tx, now: dt.datetime, effects: Effects) -> None:
        """Take STARTING runs no orchestrator owns (other processes', retries, promotions) while
        slots are free; skipped while there are surely none."""
        free = self.capacity(effects)
        if free <= 0 or not (self.unowned or effects.unowned):
            return
        taken = store.job_runs.claim_unowned(tx, self.owner, free, self.scope)
        effects.start.extend(taken)
        if len(taken) < free:  # none left until something writes more
            effects.after.append(lambda: setattr(self, "unowned", False))

    def finish(self, tx: store.Tx, run: JobRun, state: JobRunState, message: str | None, effects: Effects) -> None:
        """End a run (this process follows it, or it never started) and its process slot."""
        self._finish(tx, run, state, message, effects)

    def _finish(self, tx: store.Tx, run: JobRun, state: JobRunState, message: str | None, effects: Effects) -> None:
        current = store.job_runs.get(tx, run.id) if state is not _J.SUCCEEDED else run
        if current is not None:
            _, retry = job_run.complete(tx, current, state, error_message=message)
            if retry is not None and retry.state == _J.WAITING.value:
                effects.watch(retry.not_before, fx.RETRY, retry.id)
            if current.options.job_run_queuing_enabled:
                job_run.promote_waiting(tx, run.job_name)  # else upkeep's sweep
        effects.ended.add(run.id)
        effects.after.append(lambda: self._unbook(run))

    def _record_start(self, tx: store.Tx, item: _Started, effects: Effects) -> None:
        run, stamp = item.run, item.stamp
        if item.engine_run_id is None:
            store.job_runs.set_state(tx, run.id, _J.RUNNING.value, expect=[_J.STARTING.value], started_on=stamp)
            self._finish(tx, run.replace(state=_J.RUNNING.value, started_on=stamp), _J.FAILED, item.failure, effects)
            return
        timeout_at = job_run.deadline(stamp, run.options.timeout)
        delay = run.options.notify_delay_after
        notify_at = stamp + dt.timedelta(seconds=delay) if delay else None
        if store.job_runs.set_state(
            tx, run.id, _J.RUNNING.value, expect=[_J.STARTING.value], last_modified_on=stamp, started_on=stamp,
            engine_run_id=item.engine_run_id, timeout_at=timeout_at, notify_at=notify_at, state_detail=None,
        ):
            effects.watch(timeout_at, fx.TIMEOUT, run.id)
            effects.watch(notify_at, fx.NOTIFY, run.id)
        else:  # stopped while starting: keep the engine id so that the stop lands
            store.job_runs.update(tx, run.id, engine_run_id=item.engine_run_id, started_on=stamp)
            effects.cancel.append(run.id)

    # --- applied after the commit ---------------------------------------------------------------
    def start(self, runs: Iterable[JobRun]) -> None:
        for run in runs:
            self.pending[run.id] = run
        self.launch()

    def launch(self) -> None:
        """Submit the pending runs while their engines have slots, in the order they came.

        They are recorded RUNNING in the next transaction, not in one of their own: the engine's
        run id is in the run folder at once, so a process killed before that commit is adopted
        from there (see recovery).
        """
        for run_id, run in list(self.pending.items()):
            fetching = run_id in self._fetching
            if fetching and run_id not in self._fetched:
                continue  # its files are on their way
            # A fetch holds its run's slot: count the others'.
            taken = self._used.get(run.command, 0) + self._fetches.get(run.command, 0) - (1 if fetching else 0)
            if taken >= self.settings.max_processes:
                continue
            stamp = store.now()
            try:
                local = self._local(run)
                if local is None:  # fetching off the loop: launched again once its files are here
                    continue
                del self.pending[run_id]
                engine_run_id = self._submit(run, local)
            except errors.EngineError as exc:
                self.pending.pop(run_id, None)
                self._started.append(_Started(run, stamp, None, exc.message))
                continue
            self._book(run.replace(engine_run_id=engine_run_id, started_on=stamp))
            self._started.append(_Started(run, stamp, engine_run_id))

    def adopt(self, runs: Iterable[JobRun]) -> None:
        """Follow runs of a dead orchestrator, polled once now."""
        adopted = False
        for run in runs:
            self._book(run)
            with self._lock:
                self._exited.add(run.id)
            adopted = True
        if adopted:
            self._wake()

    def cancel(self, job_run_id: str) -> None:
        run = self.book.get(job_run_id)
        if run is not None and run.engine_run_id and job_run_id not in self._cancelled:
            self._cancelled.add(job_run_id)
            try:
                self.engine(run.command).cancel(run.engine_run_id, self.settings.kill_grace)
            except errors.EngineError as exc:
                log.warning("cannot stop %s: %s", job_run_id, exc.message)

    def _book(self, run: JobRun) -> None:
        if run.id not in self.book:
            self._used[run.command] = self._used.get(run.command, 0) + 1
        self.book[run.id] = run
        if run.engine_run_id:
            self.engine(run.command).follow(run.id, run.engine_run_id)

    def _unbook(self, run: JobRun) -> None:
        if self.book.pop(run.id, None) is not None:
            self._used[run.command] -= 1
        self.pending.pop(run.id, None)
        self._fetch_done(run.id)
        self._cancelled.discard(run.id)

    def _recorded(self, started: int, ended: list[str]) -> None:
        del self._started[:started]
        for run_id in ended:
            del self._ends[run_id]

    def _exit(self, job_run_id: str) -> None:
        """An engine's report (on its thread)."""
        with self._lock:
            self._exited.add(job_run_id)
        self._wake()

    # --- script locations -----------------------------------------------------------------------
    def _local(self, run: JobRun) -> scripts.Local | None:
        """The run's script and --extra-* files, local; None while they are fetched from S3."""
        with self._lock:
            fetched = self._fetched.pop(run.id, None)
        if fetched is not None:
            self._fetch_done(run.id)
            if isinstance(fetched, errors.EngineError):
                raise fetched
            return fetched
        script, arguments = str(run.options.script or ""), run.options.effective_arguments
        if not scripts.needs_fetch(script, arguments):  # local paths: a few syscalls at most
            return self._localise(run.id, script, arguments)
        if not self._fetchers:
            for n in range(FETCHERS):
                # Daemons: a fetch stuck on the network must not hold up the process's exit.
                thread = threading.Thread(target=self._fetch, name=f"adhere-fetch-{n}", daemon=True)
                thread.start()
                self._fetchers.append(thread)
        self._fetching[run.id] = run.command
        self._fetches[run.command] = self._fetches.get(run.command, 0) + 1
        self._to_fetch.put((run.id, script, arguments))
        return None

    def _fetch(self) -> None:
        """A fetcher thread: fetch, then hand the result to the loop and wake it."""
        while (item := self._to_fetch.get()) is not None:
            run_id, script, arguments = item
            result: scripts.Local | errors.EngineError
            try:
                result = self._localise(run_id, script, arguments)
            except errors.EngineError as exc:
                result = exc
            with self._lock:
                self._fetched[run_id] = result
            self._wake()

    def _localise(self, run_id: str, script: str, arguments: Mapping[str, str]) -> scripts.Local:
        try:
            return scripts.localise(script, arguments, self.settings.script_roots, self.scripts)
        except errors.EngineError:
            raise
        except Exception as exc:  # a bug fails the run, not the loop
            log.exception("making the scripts of %s local failed", run_id)
            raise errors.EngineError(f"cannot prepare {script}: {type(exc).__name__}: {exc}") from exc

    def _fetch_done(self, run_id: str) -> None:
        command = self._fetching.pop(run_id, None)
        if command is not None:
            self._fetches[command] -= 1

    # --- engines --------------------------------------------------------------------------------
    def engine(self, command: str) -> base.Engine:
        engine = self.registry.get(command)
        if command not in self._listening:
            engine.set_listener(self._exit)
            self._listening.add(command)
        return engine

    def _submit(self, run: JobRun, local: scripts.Local) -> str:
        """Start ``run``; its engine run id, or EngineError (an engine's bug fails the run, not us)."""
        options = run.options
        args = dict(local.arguments)
        args["--JOB_NAME"] = run.job_name
        args["--JOB_RUN_ID"] = run.id
        env = {
            "ADHERE_JOB_NAME": run.job_name,
            "ADHERE_JOB_RUN_ID": run.id,
            "ADHERE_HOME": str(self.settings.home.resolve()),
        }
        env.update(self.runtime_env)
        if run.workflow_run_id and run.workflow_name:
            args["--WORKFLOW_NAME"] = run.workflow_name
            args["--WORKFLOW_RUN_ID"] = run.workflow_run_id
            env["ADHERE_WORKFLOW_NAME"] = run.workflow_name
            env["ADHERE_WORKFLOW_RUN_ID"] = run.workflow_run_id
        run_dir = self.run_dir(run.id)
        run_dir.mkdir(parents=True, exist_ok=True)  # before the engine call: see recovery
        request = base.RunRequest(
            job_run_id=run.id, job_name=run.job_name, script=local.script, arguments=args, env=env,
            run_dir=run_dir, python_version=options.python_version, worker_type=options.worker_type,
            number_of_workers=options.number_of_workers, max_capacity=options.max_capacity,
        )  # fmt: skip
        try:
            engine_run_id = self.engine(run.command).submit(request)
        except errors.EngineError:
            raise
        except Exception as exc:
            log.exception("engine %s failed to submit %s", run.command, run.id)
            raise errors.EngineError(f"{type(exc).__name__}: {exc}") from exc
        (run_dir / ENGINE_RUN_ID_FILE).write_text(engine_run_id)
        return engine_run_id

    @property
    def runtime_env(self) -> dict[str, str]:
        """How a job's runtime API (orchestrator/runtime.py) reaches the orchestrator: a serve's
        endpoint (``settings.endpoint``: jobs on a remote cluster need no store URL), else the
        store's URL (an `adhere run`: direct store access is faster)."""
        if not self.settings.endpoint:
            return {"ADHERE_DB_URL": self.db_url}
        env = {"ADHERE_ENDPOINT": self.settings.endpoint}
        if self.settings.access_keys:  # the serve checks signatures: the job signs with this key
            env["ADHERE_ACCESS_KEYS"] = ":".join(self.settings.access_keys[0])
        return env

    def run_dir(self, job_run_id: str) -> Path:
        """The run's folder (logs, exit status, engine bookkeeping)."""
        return self._logs / job_run_id

    def close(self) -> None:
        with contextlib.suppress(queue.Empty):  # runs not fetched yet stay STARTING (recovery)
            while True:
                self._to_fetch.get_nowait()
        for _ in self._fetchers:  # a fetch under way ends on its own
            self._to_fetch.put(None)
        self.registry.close()
