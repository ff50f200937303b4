"""Script locations without S3: parsing, script roots (``..`` and symlink escapes), and what a
run start hands an engine (orchestrator/scripts.py). S3 itself: tests/integration/test_s3_scripts.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engines import python_shell
from orchestrator import errors, scripts


class NoS3(scripts.Cache):
    """A cache that fails the test if anything asks S3."""

    def fetch(self, url: str) -> Path:
        raise AssertionError(f"S3 asked for {url}")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """roots/jobs/{job.py, lib/util.py}, outside/secret.py, and symlinks out of the root."""
    jobs = tmp_path / "roots" / "jobs"
    (jobs / "lib").mkdir(parents=True)
    (jobs / "job.py").write_text("print('job')\n")
    (jobs / "lib" / "util.py").write_text("X = 1\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.py").write_text("print('secret')\n")
    (jobs / "link.py").symlink_to(tmp_path / "outside" / "secret.py")
    (jobs / "linkdir").symlink_to(tmp_path / "outside")
    return tmp_path


def roots_of(tree: Path) -> tuple[Path, ...]:
    return ((tree / "roots").resolve(),)


# --- parsing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "entries"),
    [
        ("", []),
        ("a.py", ["a.py"]),
        (" s3://b/x/a.py , /abs/b.zip,, ", ["s3://b/x/a.py", "/abs/b.zip"]),
    ],
)
def test_extra_lists_are_comma_separated(value: str, entries: list[str]) -> None:
    assert scripts.split_list(value) == entries


def test_extra_entries_take_glue_keys_with_or_without_dashes() -> None:
    arguments = {"--extra-py-files": "a.py,b.py", "extra-files": "c.json", "--extra-jars": "d.jar",
                 "--conf": "x=1", "--JOB_NAME": "j"}  # fmt: skip
    assert scripts.extra_entries(arguments) == {
        "--extra-py-files": ["a.py", "b.py"], "extra-files": ["c.json"], "--extra-jars": ["d.jar"]}  # fmt: skip


@pytest.mark.parametrize(
    ("url", "parsed"),
    [
        ("s3://bucket/key.py", ("bucket", "key.py")),
        ("s3://my.bucket-1/a/b/c.py", ("my.bucket-1", "a/b/c.py")),
        ("s3://bucket/a b/c?.py", ("bucket", "a b/c?.py")),  # keys are raw, not percent-encoded
    ],
)
def test_s3_urls(url: str, parsed: tuple[str, str]) -> None:
    assert scripts.is_s3(url)
    assert scripts.parse_s3(url) == parsed


@pytest.mark.parametrize("url", ["s3://", "s3://bucket", "s3://bucket/", "s3://bucket/dir/", "s3://../x.py",
                                 "s3://bucket/a/..", "s3://bu/x.py", "s3://bucket/x\x00.py"])  # fmt: skip
def test_s3_urls_that_name_no_object_are_refused(url: str) -> None:
    with pytest.raises(errors.EngineError, match="not an S3 object URL"):
        scripts.parse_s3(url)


def test_local_paths(tmp_path: Path) -> None:
    assert scripts.local_path("/a/b.py") == Path("/a/b.py")
    assert scripts.local_path("file:///a/b.py") == Path("/a/b.py")
    assert scripts.local_path("b.py", tmp_path) == tmp_path / "b.py"
    assert scripts.local_path("b.py") == Path.cwd() / "b.py"
    assert scripts.local_path("~/b.py") == Path.home() / "b.py"
    with pytest.raises(errors.EngineError, match=re.escape("not a local path: gs://b/k.py")):
        scripts.local_path("gs://b/k.py")
    with pytest.raises(errors.EngineError, match=re.escape("not a local path: s3://b/k.py")):
        scripts.local_path("s3://b/k.py")  # the dispatcher fetches it first


# --- script roots --------------------------------------------------------------------------------


def test_without_roots_anything_goes(tree: Path) -> None:
    assert scripts.root_problem(str(tree / "outside" / "secret.py"), ()) is None
    assert scripts.job_root_problem("/etc/x.py", {"--extra-py-files": "/etc/y.py"}, ()) is None


def test_a_script_inside_a_root_passes(tree: Path) -> None:
    roots = roots_of(tree)
    assert scripts.root_problem(str(tree / "roots" / "jobs" / "job.py"), roots) is None
    assert scripts.root_problem(f"file://{tree}/roots/jobs/job.py", roots) is None
    assert scripts.root_problem("jobs/lib/util.py", roots, base=tree / "roots") is None
    # .. that stays inside, and a file not written yet (validated before it exists)
    assert scripts.root_problem(str(tree / "roots" / "jobs" / "lib" / ".." / "job.py"), roots) is None
    assert scripts.root_problem(str(tree / "roots" / "new.py"), roots) is None


def test_a_dotdot_escape_is_refused(tree: Path) -> None:
    location = str(tree / "roots" / "jobs" / ".." / ".." / "outside" / "secret.py")
    problem = scripts.root_problem(location, roots_of(tree))
    assert problem == (
        f"ScriptLocation {location} is outside the script roots ({tree / 'roots'}) "
        f"(it resolves to {tree / 'outside' / 'secret.py'})"
    )


def test_a_root_is_not_a_prefix_of_its_sibling(tree: Path) -> None:
    (tree / "roots2").mkdir()
    assert scripts.root_problem(str(tree / "roots2" / "x.py"), roots_of(tree)) is not None


@pytest.mark.parametrize("inside", ["link.py", "linkdir/secret.py"])
def test_a_symlink_escape_is_refused(tree: Path, inside: str) -> None:
    location = str(tree / "roots" / "jobs" / inside)
    problem = scripts.root_problem(location, roots_of(tree))
    assert problem is not None
    assert f"resolves to {tree / 'outside' / 'secret.py'}" in problem


def test_a_symlink_into_a_root_passes(tree: Path) -> None:
    (tree / "outside" / "in.py").symlink_to(tree / "roots" / "jobs" / "job.py")
    assert scripts.root_problem(str(tree / "outside" / "in.py"), roots_of(tree)) is None


def test_a_root_that_is_a_symlink_holds_its_target(tree: Path) -> None:
    (tree / "alias").symlink_to(tree / "roots")
    assert scripts.root_problem(str(tree / "roots" / "jobs" / "job.py"), (tree / "alias",)) is None


def test_s3_is_not_subject_to_roots_but_other_urls_are(tree: Path) -> None:
    roots = roots_of(tree)
    assert scripts.root_problem("s3://bucket/anywhere.py", roots) is None
    problem = scripts.root_problem("https://example.com/x.py", roots)
    assert problem is not None and "not a local path or an s3:// URL" in problem
    assert "NUL" in (scripts.root_problem("/x\x00.py", roots) or "")


def test_extra_files_are_checked_relative_to_the_scripts_folder(tree: Path) -> None:
    roots, script = roots_of(tree), str(tree / "roots" / "jobs" / "job.py")
    assert scripts.job_root_problem(script, {"--extra-py-files": "lib/util.py, s3://b/x.py"}, roots) is None
    problem = scripts.job_root_problem(script, {"--extra-files": "lib/util.py,../../outside/secret.py"}, roots)
    assert problem is not None and problem.startswith("--extra-files ../../outside/secret.py is outside")
    problem = scripts.job_root_problem(script, {"--extra-jars": "linkdir/secret.py"}, roots)
    assert problem is not None and problem.startswith("--extra-jars linkdir/secret.py is outside")
    problem = scripts.job_root_problem(str(tree / "outside" / "secret.py"), {}, roots)
    assert problem is not None and problem.startswith("ScriptLocation ")


def test_a_relative_extra_file_needs_a_local_script(tree: Path) -> None:
    problem = scripts.job_root_problem("s3://bucket/job.py", {"--extra-py-files": "lib.py"}, roots_of(tree))
    assert problem is not None and "needs a local ScriptLocation" in problem


# --- what a run start hands the engine -----------------------------------------------------------


def test_local_runs_without_roots_are_handed_over_unchanged(tree: Path) -> None:
    arguments = {"--extra-py-files": "lib/util.py", "--x": "1"}
    local = scripts.localise("jobs/job.py", arguments, (), NoS3(tree / "cache"))
    assert local == scripts.Local("jobs/job.py", arguments)


def test_with_roots_the_engine_gets_the_resolved_paths_it_was_checked_on(tree: Path) -> None:
    jobs = tree / "roots" / "jobs"
    (tree / "roots" / "alias.py").symlink_to(jobs / "job.py")
    local = scripts.localise(str(tree / "roots" / "alias.py"), {"--extra-files": "lib/util.py", "--x": "1"},
                             roots_of(tree), NoS3(tree / "cache"))  # fmt: skip
    # Relative to the script's real folder (jobs/), which is the job's working folder.
    assert local == scripts.Local(str(jobs / "job.py"), {"--extra-files": str(jobs / "lib" / "util.py"), "--x": "1"})


@pytest.mark.parametrize(
    ("script", "arguments", "message"),
    [
        ("roots/jobs/link.py", {}, "ScriptLocation roots/jobs/link.py is outside the script roots"),
        ("roots/jobs/job.py", {"--extra-py-files": "../../outside/secret.py"}, "--extra-py-files ../../outside"),
        ("outside/secret.py", {}, "is outside the script roots"),
    ],
)
def test_with_roots_a_run_start_refuses_an_escape(
    tree: Path, monkeypatch: pytest.MonkeyPatch, script: str, arguments: dict[str, str], message: str
) -> None:
    monkeypatch.chdir(tree)
    with pytest.raises(errors.EngineError, match=re.escape(message)):
        scripts.localise(script, arguments, roots_of(tree), NoS3(tree / "cache"))


def test_needs_fetch_only_for_s3() -> None:
    assert not scripts.needs_fetch("/a.py", {"--extra-py-files": "/b.py", "--x": "s3://b/not-a-file"})
    assert scripts.needs_fetch("S3://bucket/a.py", {})
    assert scripts.needs_fetch("/a.py", {"extra-files": "/c.json, s3://bucket/c.json"})


def test_python_shell_puts_extra_py_files_on_the_path(tree: Path) -> None:
    jobs = tree / "roots" / "jobs"
    (jobs / "deps.zip").write_bytes(b"PK\x05\x06" + bytes(18))
    arguments = {"--extra-py-files": f"lib/util.py,deps.zip,{jobs / 'lib' / 'util.py'}", "--extra-files": "x.json"}
    assert python_shell.extra_py_path(arguments, jobs) == [str(jobs / "lib"), str(jobs / "deps.zip")]
    with pytest.raises(errors.EngineError, match=r"--extra-py-files: no such file: .*/missing\.py"):
        python_shell.extra_py_path({"--extra-py-files": "missing.py"}, jobs)
    assert python_shell.extra_py_path({}, jobs) == []
