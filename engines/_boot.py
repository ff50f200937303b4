"""Run a job script as ``python SCRIPT ARGS...`` would, then record its exit code.

Started as ``python _boot.py SCRIPT ARGS...`` with ADHERE_RUN_DIR set; the file
``$ADHERE_RUN_DIR/exit_status`` lets an orchestrator that is not this process's parent (one
restarted since) learn how the job ended. It sits on every job's start path, so it imports
only sys and os, and must not import adhere (the job's sys.path is the script's).
``runpy.run_path`` would cost 4-9 ms more per job (it imports pkgutil, then typing), so a
source file is compiled and run here the way the interpreter runs ``python script.py``;
runpy, imported only then, handles a folder or zip with ``__main__.py``.
"""


import os
import sys


def _record(code: int) -> None:
    """Write the exit code atomically (the protocol of engines/process.py)."""
    run_dir = os.environ.get("ADHERE_RUN_DIR")
    if not run_dir:
        return
    path = os.path.join(run_dir, "exit_status")
    tmp = f"{path}.{os.getpid()}.tmp"
    for stream in (sys.stdout, sys.stderr):  # the logs are complete before the status appears
        try:  # noqa: SIM105 (contextlib costs imports on the start path)
            stream.flush()
        except Exception:
            pass
    try:
        with open(tmp, "w") as f:
            f.write(f"{code}\n")
        os.replace(tmp, path)
    except OSError:
        pass  # the parent, if alive, records the code itself


def _system_exit_code(exc: SystemExit) -> int:
    """The code the OS will see, as Python computes it for an uncaught SystemExit."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code & 0xFF
    return 1  # Python prints the object to stderr and exits 1


def _run(script: str) -> None:
    """Execute ``script`` as the ``__main__`` module, as ``python script`` does."""
    if os.path.isdir(script):
        import runpy

        runpy.run_path(script, run_name="__main__")
        return
    with open(script, "rb") as f:
        source = f.read()
    if source[:4] == b"PK\x03\x04" or script.endswith((".pyc", ".pyz")):
        import runpy

        runpy.run_path(script, run_name="__main__")
        return
    main_module = type(sys)("__main__")
    main_module.__file__ = script
    main_module.__cached__ = None
    main_module.__loader__ = None
    main_module.__package__ = None
    main_module.__spec__ = None
    main_module.__builtins__ = sys.modules["builtins"]
    # For good (unlike runpy's temporary swap): pickle and multiprocessing find the script's
    # classes in __main__ even from atexit handlers and threads that outlive it.
    sys.modules["__main__"] = main_module
    # dont_inherit: this file's `from __future__ import annotations` must not leak into the job.
    code = compile(source, script, "exec", dont_inherit=True)
    exec(code, main_module.__dict__)


def main() -> None:
    if len(sys.argv) < 2:
        sys.stderr.write("usage: python _boot.py SCRIPT [ARG ...]\n")
        sys.exit(2)
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    # As for `python script.py`: the script's (resolved) folder, not this file's (engines/).
    sys.path[0] = os.path.dirname(os.path.realpath(script))
    # Glue's --extra-py-files (engines/python_shell.py): after the script's folder, as PYTHONPATH
    # would be (which a forked interpreter has read already).
    extra = os.environ.get("ADHERE_EXTRA_PY_PATH")
    if extra:
        sys.path[1:1] = extra.split(os.pathsep)
    try:  # noqa: SIM105
        # Line-buffered so that the log files show each line as it is printed.
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    except Exception:
        pass
    try:
        _run(script)
    except SystemExit as exc:
        _record(_system_exit_code(exc))
        raise  # Python prints a non-int code and exits, as it would without us
    except BaseException as exc:
        # Drop this file's (and runpy's) frames so the traceback reads as Python's own.
        # (A KeyboardInterrupt exits 1 here, where bare Python would die of SIGINT.)
        tb = exc.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != script:
            tb = tb.tb_next
        # The default hook prints exc.__traceback__, not its tb argument: set both.
        sys.excepthook(type(exc), exc.with_traceback(tb), tb)
        _record(1)
        sys.exit(1)
    _record(0)


if __name__ == "__main__":
    main()
