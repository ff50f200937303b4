"""A fork server for python-shell jobs: an interpreter of adhere's environment, started once,
that forks one child per job. The child skips the interpreter's start (about 8 ms of CPU and
latency per job), then runs the job exactly as ``_boot.py`` does: its own session, its log
files, Glue's argv, its exit status recorded in the run folder.

Protocol: requests on stdin, each a 4-byte big-endian length and a ``marshal``-ed dict {argv,
cwd, env, stdout, stderr, run_dir}; one "pid start_ticks" line per request on stdout, written
after the same line is in the run folder's ``pid`` file (where a later orchestrator finds the
job). EOF on stdin, or a request read after the orchestrator died, ends the server; its jobs
live on in their own sessions. Kept as small as ``_boot.py``: children inherit what it imports, and pay for
every inherited page they touch (marshal, not json: json imports re, enum, collections...).
"""

import _signal as signal  # the C module: `signal` would import enum, functools, collections...
import gc
import marshal
import os
import sys

import engines._boot as boot  # preloaded: every child inherits it compiled

_run_dirs: dict[int, str] = {}


def _write(path: str, text: str) -> None:
    """Write atomically, or not at all (a run folder removed under the job)."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError:
        pass


def _start_ticks(pid: int) -> int:
    # engines.process.proc_stat's parse, not imported: its modules would load into every child.
    with open(f"/proc/{pid}/stat", "rb") as f:
        raw = f.read()
    return int(raw[raw.rindex(b")") + 2 :].split()[19])  # field 22; comm may hold spaces


def _write_status(run_dir: str, code: int) -> None:
    path = os.path.join(run_dir, "exit_status")
    if os.path.exists(path):
        return  # _boot.py recorded it
    _write(path, f"{code}\n")


def _reap(_signum: int, _frame: object) -> None:
    """Record how children ended that _boot.py could not record (signals, os._exit)."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        run_dir = _run_dirs.pop(pid, None)
        if run_dir is not None:
            _write_status(run_dir, -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status))


def _child(request: dict) -> None:
    """In the forked child: become the job. Never returns to the server loop."""
    try:
        gc.enable()  # the job's own objects are collected as usual; the server's stay frozen
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
        os.setsid()
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
            f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(f, fd)
            os.close(f)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = ["_boot.py", *request["argv"]]
        sys.path[0] = ""
    except BaseException as exc:  # the job cannot start: say why where its log would be
        try:
            os.write(2, f"adhere fork server: cannot start the job: {exc}\n".encode())
        finally:
            os._exit(127)
    boot.main()
    raise SystemExit(0)  # the interpreter ends as after `python script.py`: atexit, threads, flush


def serve() -> None:
    # Objects frozen before a fork are never traversed by the child's collector: without it a
    # job's collections (and the one at its exit) touch, and so copy, every inherited page.
    gc.disable()
    signal.signal(signal.SIGCHLD, _reap)
    out, requests = sys.stdout.buffer, sys.stdin.buffer
    parent = os.getppid()
    while len(size := requests.read(4)) == 4:
        request = marshal.loads(requests.read(int.from_bytes(size, "big")))
        if os.getppid() != parent:
            # The orchestrator died with requests in the pipe: whoever adopts its runs finds no
            # pid file for these and fails them as lost, so they must not start behind its back.
            return
        # SIGCHLD waits until the child's run folder is known, so its end is never missed.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
        gc.freeze()
        pid = os.fork()
        if pid == 0:
            _child(request)
        _run_dirs[pid] = request["run_dir"]
        answer = f"{pid} {_start_ticks(pid)}\n"  # unreaped yet: its /proc entry is the child's
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
        _write(os.path.join(request["run_dir"], "pid"), answer)
        out.write(answer.encode())
        out.flush()
