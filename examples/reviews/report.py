"""The closing report (a pythonshell job started by the AND trigger after Spark and the checks).

Reads ``<output_root>/spark/summary.json`` and ``<output_root>/quality.json``, writes
``<output_root>/report.md`` (a table of ratings per product category, then the checks) and
prints it. Arguments: ``--output_root DIR`` (relative to this script's folder).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from orchestrator.runtime import getResolvedOptions

HERE = Path(__file__).resolve().parent


def _resolve(path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() else (HERE / p).resolve()


def _options(argv: list[str]) -> dict[str, str]:
    optional = [name for name in ("WORKFLOW_NAME", "WORKFLOW_RUN_ID") if f"--{name}" in argv]
    return getResolvedOptions(argv, ["output_root", *optional])


def _load(path: Path, workflow_run_id: str | None) -> dict[str, Any]:
    if not path.is_file():
        raise SystemExit(f"report: {path} is missing (did the upstream job run?)")
    data: dict[str, Any] = json.loads(path.read_text())
    # Inside a workflow run, refuse another run's leftovers rather than report stale figures.
    if workflow_run_id and data.get("workflow_run_id") != workflow_run_id:
        raise SystemExit(
            f"report: {path} belongs to workflow run {data.get('workflow_run_id')}, "
            f"not {workflow_run_id}"
        )
    return data


def _run_properties(run_id: str | None) -> dict[str, str]:
    # A nicety: the figures come from the files; the run properties only add context.
    if not run_id:
        return {}
    try:
        from orchestrator.runtime import get_run_properties

        return get_run_properties()
    except Exception as exc:  # no store reachable from here
        print(f"(run properties not read: {exc})")
        return {}


def render(
    summary: dict[str, Any],
    quality: dict[str, Any],
    run_id: str | None,
    properties: dict[str, str] | None = None,
) -> str:
    """The report as Markdown."""
    lines = [
        "# Amazon reviews: ratings per product category",
        "",
        f"Workflow run: `{run_id}`" if run_id else "Run outside a workflow.",
        "",
        f"US reviews with at least one vote: {summary['total_reviews']}.",
        "",
        "| product_category | reviews | products | avg stars | avg helpful ratio | low-rating share |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for c in summary["categories"]:
        lines.append(
            f"| {c['product_category']} | {c['reviews']} | {c['products']} "
            f"| {c['avg_star_rating']:.2f} | {c['avg_helpful_votes_ratio']:.3f} "
            f"| {c['low_rating_share']:.1%} |"
        )
    verdict = "passed" if quality["passed"] else "FAILED"
    lines += ["", f"## Data quality: {verdict} ({quality['rows']} rows)", ""]
    lines += [
        f"- {'ok' if check['passed'] else 'FAILED'}: {check['name']} ({check['detail']})"
        for check in quality["checks"]
    ]
    if properties:
        lines += ["", "## Workflow run properties", ""]
        lines += [f"- {key}: {value}" for key, value in sorted(properties.items())]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    args = _options(argv)
    output_root = _resolve(args["output_root"])
    run_id = args.get("WORKFLOW_RUN_ID")
    summary_path = output_root / "spark" / "summary.json"
    quality_path = output_root / "quality.json"
    summary = _load(summary_path, run_id)
    quality = _load(quality_path, run_id)
    text = render(summary, quality, run_id, _run_properties(run_id))
    report_path = output_root / "report.md"
    report_path.write_text(text)
    print(text)
    print("outputs:")
    for path in (
        output_root / "ray" / "reviews",
        output_root / "ray" / "low_rated",
        output_root / "spark" / "by_category",
        summary_path,
        quality_path,
        report_path,
    ):
        print(f"  {path}")
    if run_id:  # `adhere run` prints the run properties at the end: say where the outputs are
        try:
            from orchestrator.runtime import put_run_properties

            put_run_properties({"report": str(report_path), "outputs": str(output_root)})
        except Exception as exc:
            print(f"(run properties not updated: {exc})")


if __name__ == "__main__":
    main(sys.argv)
