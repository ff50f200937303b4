"""Job bookmarks from the command line, as users run them: a bookmarked python-shell job run
twice with `adhere start-job` (the second reads only the new file), `adhere bookmark` (Glue's
GetJobBookmark shape with --json), `--history`, and `adhere bookmark reset`."""

from __future__ import annotations

import json
from typing import Any

SCRIPT = """\
import json, sys
from pathlib import Path
from orchestrator.runtime import Job, getResolvedOptions

args = getResolvedOptions(sys.argv, ["JOB_NAME"])
job = Job()
job.init(args["JOB_NAME"], args)
new = job.files("orders", str(Path(__file__).parent / "orders"))
with open(Path(__file__).parent / "seen.txt", "a") as out:
    out.write(json.dumps([Path(p).name for p in new]) + "\\n")
job.commit()
"""

JOB = """\
Jobs:
  - Name: load
    Command: {Name: pythonshell, ScriptLocation: load.py}
    DefaultArguments: {--job-bookmark-option: job-bookmark-enable}
"""


def test_a_bookmarked_job_reads_only_new_files_and_its_bookmark_is_shown_and_reset(project: Any) -> None:
    project.write("load.py", SCRIPT)
    project.apply(JOB)
    (project.dir / "orders").mkdir()
    (project.dir / "orders" / "a.json").write_text("{}")
    first = project.json("start-job", "load")["JobRun"]["Id"]
    (project.dir / "orders" / "b.json").write_text("{}")
    project.cli("start-job", "load")
    project.cli("start-job", "load")
    seen = [json.loads(line) for line in (project.dir / "seen.txt").read_text().splitlines()]
    assert seen == [["a.json"], ["b.json"], []]
    entry = project.json("bookmark", "load")["JobBookmarkEntry"]
    assert (entry["JobName"], entry["Version"], entry["Run"]) == ("load", 3, 3)
    assert "orders" in json.loads(entry["JobBookmark"])
    history = project.cli("bookmark", "load", "--history").out
    assert "COMMIT" in history and "1 new of 2" in history
    rewound = project.json("bookmark", "reset", "load", "--run-id", first)["JobBookmarkEntry"]
    assert rewound["Version"] == 4
    project.cli("start-job", "load")
    assert json.loads((project.dir / "seen.txt").read_text().splitlines()[-1]) == ["b.json"]
    refused = project.cli("bookmark", "nope", expect=1)
    assert "EntityNotFoundException" in refused.err
