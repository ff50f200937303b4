"""The failure branch (a pythonshell job started by the ANY trigger over jobs FAILED or TIMEOUT
and crawls FAILED).

Writes ``<output_root>/FAILED.txt`` saying which workflow run failed and how far it got, judged
from the outputs each step stamps with its workflow run id, and prints it. It exits 0: the
notification itself succeeded. Arguments: ``--output_root DIR`` (relative to this folder).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

from orchestrator.runtime import getResolvedOptions

HERE = Path(__file__).resolve().parent
# Each step's marker file, in workflow order.
STEP_MARKERS = [
    ("ray_transform", Path("ray") / "_SUCCESS"),
    ("quality_check", Path("quality.json")),
    ("spark_aggregate", Path("spark") / "summary.json"),
]


def _resolve(path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() else (HERE / p).resolve()


def _options(argv: list[str]) -> dict[str, str]:
    optional = [name for name in ("WORKFLOW_NAME", "WORKFLOW_RUN_ID") if f"--{name}" in argv]
    return getResolvedOptions(argv, ["output_root", *optional])


def step_outcomes(output_root: Path, run_id: str | None) -> list[str]:
    """One line per step: did it leave output for this run?"""
    lines = []
    for step, marker in STEP_MARKERS:
        path = output_root / marker
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            lines.append(f"{step}: no output ({path} missing)")
            continue
        if run_id and data.get("workflow_run_id") != run_id:
            lines.append(f"{step}: no output for this run ({path} is from another run)")
        elif step == "quality_check" and not data.get("passed", False):
            failed = [c["name"] for c in data.get("checks", []) if not c.get("passed")]
            lines.append(f"{step}: failed checks: {', '.join(failed)}")
        else:
            lines.append(f"{step}: output written ({path})")
    return lines


def main(argv: list[str]) -> None:
    args = _options(argv)
    output_root = _resolve(args["output_root"])
    run_id = args.get("WORKFLOW_RUN_ID")
    workflow = args.get("WORKFLOW_NAME", "reviews")
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    text = "\n".join(
        [
            f"Workflow {workflow} run {run_id or '(no run id)'}: a job FAILED or timed out.",
            f"Noticed at {now}.",
            "Steps, as far as their outputs tell:",
            *(f"  - {line}" for line in step_outcomes(output_root, run_id)),
            "The failed job run or crawl (its ErrorMessage and log) is in adhere's store.",
        ]
    )
    output_root.mkdir(parents=True, exist_ok=True)
    path = output_root / "FAILED.txt"
    path.write_text(text + "\n")
    print(text)
    print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv)
