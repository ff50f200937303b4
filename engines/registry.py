"""Engines by Glue ``Command.Name``: the built-ins, then the ``adhere.engines`` entry points.

Nothing is imported until an engine is asked for, so the orchestrator starts without Ray or
PySpark, and a missing extra is a clear EngineNotInstalled, not an ImportError.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import threading
from collections.abc import Mapping
from pathlib import Path

from engines import base
from orchestrator import errors

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "adhere.engines"

BUILTIN: dict[str, str] = {
    "pythonshell": "engines.python_shell:PythonShellEngine",
    "glueray": "engines.ray:RayEngine",
    "glueetl": "engines.spark:SparkEngine",
}
# The extra to install when a built-in's import fails on a third-party module.
_EXTRAS: dict[str, tuple[str, str]] = {"glueray": ("Ray", "ray"), "glueetl": ("Spark", "spark")}
_OWN_PACKAGES = ("engines", "orchestrator", "catalog")


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def names() -> list[str]:
    """Every known command name (built-ins and installed plug-ins), sorted."""
    return sorted(set(BUILTIN) | set(_entry_points()))


def _load(target: str) -> object:
    module_name, _, attr = target.partition(":")
    obj: object = importlib.import_module(module_name)
    for part in attr.split(".") if attr else []:
        obj = getattr(obj, part)
    return obj


def engine_class(command: str) -> type[base.Engine]:
    """The Engine class for ``command``; built-ins win over a plug-in of the same name."""
    if command in BUILTIN:
        target = BUILTIN[command]
        try:
            cls = _load(target)
        except ImportError as exc:
            missing = (exc.name or "").split(".")[0]
            if command in _EXTRAS and missing and missing not in _OWN_PACKAGES:
                label, extra = _EXTRAS[command]
                raise errors.EngineNotInstalled(
                    f"{label} engine needs: pip install 'adhere[{extra}]' (no module {exc.name!r})"
                ) from exc
            raise errors.EngineNotInstalled(
                f"engine {command!r} is not available: cannot import {target} ({exc})"
            ) from exc
    else:
        entry_point = _entry_points().get(command)
        if entry_point is None:
            raise errors.InvalidInputException(
                f"unknown engine {command!r}; known engines: {', '.join(names())}"
            )
        target = entry_point.value
        try:
            cls = entry_point.load()
        except ImportError as exc:
            dist = entry_point.dist.name if entry_point.dist else target
            raise errors.EngineNotInstalled(
                f"engine {command!r} from {dist} cannot be imported: {exc}"
            ) from exc
    if not (isinstance(cls, type) and issubclass(cls, base.Engine)):
        raise errors.EngineError(f"engine {command!r} ({target}) is not an engines.base.Engine")
    return cls


class Registry:
    """One long-lived instance per engine, created on first use (thread-safe)."""

    def __init__(
        self, home: Path, options_by_command: Mapping[str, Mapping[str, str]] | None = None
    ) -> None:
        self.home = Path(home)
        self._options = dict(options_by_command or {})
        self._engines: dict[str, base.Engine] = {}
        self._lock = threading.Lock()

    def get(self, command: str) -> base.Engine:
        """The engine for ``command``; a failure is raised again on the next call, not cached."""
        engine = self._engines.get(command)
        if engine is not None:
            return engine
        with self._lock:
            engine = self._engines.get(command)
            if engine is None:
                cls = engine_class(command)
                engine = cls(self.home / "engines" / command, self._options.get(command))
                self._engines[command] = engine
            return engine

    def close(self) -> None:
        """Close every engine created so far; their running jobs are left to a later adopter."""
        with self._lock:
            engines, self._engines = list(self._engines.values()), {}
        for engine in engines:
            try:
                engine.close()
            except Exception:  # one engine's trouble must not keep the others open
                log.exception("closing engine %s failed", engine.command)
