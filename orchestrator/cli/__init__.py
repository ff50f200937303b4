"""The ``adhere`` command: arguments in, service calls, Glue's shapes out.

A mistake prints one line naming Glue's exception, as the AWS CLI does (``An error occurred
(EntityNotFoundException): Workflow nightly not found``), or with ``--json`` the error as JSON
(``{"Error": {"Code": ..., "Message": ...}}``), and exits non-zero; ``--debug`` adds the
traceback. Only what a command uses is imported, so read commands answer quickly.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

from orchestrator import errors
from orchestrator.cli.parser import join_job_args, parser

log = logging.getLogger("adhere")
MAX_PROBLEMS_SHOWN = 200  # a file with more problems lists these and counts the rest


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(join_job_args(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    app = None
    try:
        from orchestrator.cli.commands import App

        app = App(args)
        return args.handler(app)
    except errors.AdhereError as exc:
        if args.debug:
            log.exception("failed")
        report(exc, as_json=args.json, debug=args.debug)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        os._exit(0)
    finally:
        if app is not None:
            app.close()


def report(exc: errors.AdhereError, *, as_json: bool, debug: bool = False) -> None:
    """An error on stderr: one line (plus a file's problems), or JSON with ``--json``."""
    problems = getattr(exc, "problems", None)
    if as_json:
        import json

        error: dict[str, object] = {"Code": exc.code, "Message": exc.summary}
        if problems is not None:
            error["Problems"] = [{"Where": p.where, "Message": p.message} for p in problems]
        sys.stderr.write(json.dumps({"Error": error}, indent=2) + "\n")
        return
    lines = [f"An error occurred ({exc.code}): {exc.summary}"]
    if problems is not None:
        lines += [f"  {p}" for p in problems[:MAX_PROBLEMS_SHOWN]]
        if len(problems) > MAX_PROBLEMS_SHOWN:
            lines.append(f"  ... and {len(problems) - MAX_PROBLEMS_SHOWN} more")
    if debug and exc.__cause__ is not None:
        lines.append(f"  caused by: {exc.__cause__}")
    sys.stderr.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
