"""Bad definition files never crash, never hang, and their problems stay short.

Each case is something that once escaped as a traceback, crashed ``apply`` after a clean
``validate``, or echoed megabytes: now one problem, at its place, with a bounded message.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator import errors
from orchestrator.definitions import durations, loading, problems, reading, structure

ENGINES = ("pythonshell", "glueray", "glueetl")


def job(name: str, **extra: object) -> dict:
    return {"Name": name, "Command": {"ScriptLocation": f"{name}.py"}, **extra}


def problems_of_file(tmp_path: Path, name: str, text: str) -> list[errors.Problem]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(errors.ValidationError) as info:
        loading.load_files([path])
    assert len(str(info.value)) < 2000  # never a whole user value
    return info.value.problems


def problems_of(data: object, **kwargs: object) -> list[errors.Problem]:
    with pytest.raises(errors.ValidationError) as info:
        loading.load_mapping(data, Path("/defs"), **kwargs)  # type: ignore[arg-type]
    return info.value.problems


def texts(found: list[errors.Problem]) -> list[str]:
    return [str(p) for p in found]


# --- nesting --------------------------------------------------------------------------------------


def test_deep_json_is_one_problem_at_its_line(tmp_path: Path) -> None:
    found = problems_of_file(tmp_path, "d.json", '{"Jobs": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert texts(found) == ["line 1, column 109: nested more than 100 levels"]


def test_deep_yaml_is_one_problem_at_its_line(tmp_path: Path) -> None:
    found = problems_of_file(tmp_path, "d.yaml", "Jobs: " + "[" * 100_000 + "]" * 100_000)
    ((where, message),) = [(p.where, p.message) for p in found]
    assert where.startswith("line 1, column ") and message == "nested more than 100 levels"


def test_python_yaml_parser_stops_at_the_limit() -> None:
    """The fallback parser without libyaml recurses per level: it must stop by itself."""
    found = problems.Problems()
    text = "Jobs:\n" + "".join("  " * i + "-\n" for i in range(1, 5000))
    assert reading.parse_yaml(text, "", found, loader=reading.PythonLoader) is None
    assert texts(found) == ["line 101, column 201: nested more than 100 levels"]


def test_nesting_below_the_parsers_limits_is_refused_with_its_place() -> None:
    deep: list = []
    for _ in range(150):
        deep = [deep]
    found = problems_of({"Crawlers": [{"Name": "c", "Targets": {"x": deep}}]})
    ((where, message),) = [(p.where, p.message) for p in found]
    assert where.startswith("Crawlers[0].Targets.x[0][0]") and where.endswith("…")
    assert message == "nested more than 100 levels"


def test_a_mapping_nested_100000_levels_does_not_recurse() -> None:
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    assert [p.message for p in problems_of({"Jobs": deep})] == ["nested more than 100 levels"]


# --- strings the store cannot keep, and Glue names -----------------------------------------------


def test_lone_surrogate_in_a_name_is_refused(tmp_path: Path) -> None:
    text = '{"Jobs": [{"Name": "a\\ud800", "Command": {"ScriptLocation": "a.py"}}]}'
    assert texts(problems_of_file(tmp_path, "s.json", text)) == [
        "Jobs[0].Name: holds a lone surrogate '\\ud800' (character 2), which is not valid "
        "Unicode text and cannot be stored"
    ]


def test_lone_surrogate_or_nul_anywhere_is_refused_where_it_is() -> None:
    data = {
        "Jobs": [job("a", Description="x\x00y", DefaultArguments={"--k\udc00": "v"})],
        "Crawlers": [{"Name": "c", "Targets": {"S3Targets": [{"Path": "s3://\ud83d"}]}}],
    }
    found = problems_of(data)
    assert [(p.where, p.message.split(" (")[0]) for p in found] == [
        ("Jobs[0].Description", "holds a NUL character"),
        ("Jobs[0].DefaultArguments.--k\\udc00", "key holds a lone surrogate '\\udc00'"),
        ("Crawlers[0].Targets.S3Targets[0].Path", "holds a lone surrogate '\\ud83d'"),
    ]


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("a\x07b", "must not hold '\\x07' (character 2)"),
        ("a\ufffeb", "must not hold '\\ufffe'"),
        ("a\nb", "must be a single line"),
        ("", "must be 1-255 characters"),
    ],
)
def test_glue_name_string(name: str, fragment: str) -> None:
    ((problem,),) = [problems_of({"Workflows": [{"Name": name}]})]
    assert problem.where == "Workflows[0].Name" and fragment in problem.message


@pytest.mark.parametrize("name", ["tab\there", "émoji 😀", "x" * 255, "a.b-c_d:e/f"])
def test_glue_name_string_accepts(name: str) -> None:
    assert loading.load_mapping({"Workflows": [{"Name": name}], "Jobs": []}, Path("/d")).workflows


def test_long_name_in_depends_on_is_a_problem_at_its_key() -> None:
    long = "a" * 300
    found = problems_of({"Jobs": [job(long), job("b", DependsOn=[long])]})
    assert [(p.where, p.message) for p in found] == [
        ("Jobs[0].Name", "must be 1-255 characters"),
        (f"Jobs[1].DependsOn.{'a' * 60}…", "must be 1-255 characters"),
    ]


def test_generated_trigger_name_over_255_characters_is_a_problem() -> None:
    wf, a, b = "w" * 200, "a" * 200, "b" * 200
    data = {
        "Workflows": [{"Name": wf}],
        "Jobs": [job(a, Workflow=wf), job(b, Workflow=wf, DependsOn=[a])],
    }
    ((problem,),) = [problems_of(data)]
    assert problem.where == "Jobs[1].DependsOn"
    assert problem.message.startswith(f"generated trigger name '{wf[:60]}…' is longer than 255")


# --- YAML aliases ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["a: &x [*x]\n", "Jobs: &x [{Name: a, Tags: *x}]\n"])
def test_self_referencing_alias_is_refused(tmp_path: Path, text: str) -> None:
    ((problem,),) = [problems_of_file(tmp_path, "r.yaml", text)]
    assert problem.where.startswith("line 1, column ")
    assert problem.message == "a YAML alias refers to a node that contains it"


def test_recursive_mapping_is_refused() -> None:
    loop: list = []
    loop.append(loop)
    assert texts(problems_of({"Jobs": [job("a", Tags={"t": loop})]})) == [
        "Jobs[0].Tags.t[0]: contains itself (a recursive YAML alias or object)"
    ]


BILLION_LAUGHS = "\n".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(
            f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]"
            for p, c in zip("abcdefgh", "bcdefghi", strict=True)
        ),
        "Jobs: [{Name: x, Command: {ScriptLocation: x.py}, Description: *i}]",
    ]
)


@pytest.mark.parametrize("loader", [reading.LOADER, reading.PythonLoader])
def test_alias_bomb_is_refused_without_expanding(loader: type) -> None:
    assert len(BILLION_LAUGHS) < 700
    found = problems.Problems()
    assert reading.parse_yaml(BILLION_LAUGHS, "", found, loader=loader) is None
    ((problem,),) = [found]
    assert problem.where.startswith("line ")
    assert problem.message.startswith("YAML aliases expand this file beyond")


def test_merge_key_bomb_is_refused(tmp_path: Path) -> None:
    lines = ["a: &a {x1: 1, x2: 2}"]
    for i, (p, c) in enumerate(zip("abcdefghijklmno", "bcdefghijklmnop", strict=True)):
        lines.append(f"{c}: &{c} {{<<: [{', '.join([f'*{p}'] * 9)}], y{i}: 1}}")
    (problem,) = problems_of_file(tmp_path, "m.yaml", "\n".join(lines))
    assert "YAML aliases expand" in problem.message


def test_ordinary_aliases_load(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    lines = ["Jobs:", "  - {Name: j0, Command: &cmd {ScriptLocation: run.py}, Tags: &t {team: data}}"]
    lines += [f"  - {{Name: j{i}, Command: *cmd, DefaultArguments: {{<<: *t, --i: {i}}}}}" for i in range(1, 200)]
    path.write_text("\n".join(lines))
    defs = loading.load_files([path])
    assert defs.jobs[-1].default_arguments == {"team": "data", "--i": "199"}


# --- engines ---------------------------------------------------------------------------------------


def test_unknown_engine_when_engines_are_given() -> None:
    data = {"Jobs": [job("a"), job("b", Command={"Name": "sparky", "ScriptLocation": "b.py"})]}
    assert texts(problems_of(data, engines=ENGINES)) == [
        "Jobs[1].Command.Name: unknown engine 'sparky'; known engines: glueetl, glueray, pythonshell"
    ]
    assert len(loading.load_mapping(data, Path("/d")).jobs) == 2  # not checked without engines


# --- bounded messages --------------------------------------------------------------------------------


HUGE = "x" * 1_000_000


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"Jobs": [job("a", Timeout=HUGE)]}, "Jobs[0].Timeout"),
        ({"Jobs": [job("a", Timeout="1" * 1_000_000 + "q")]}, "Jobs[0].Timeout"),
        ({"Jobs": [job("a", **{HUGE: 1})]}, f"Jobs[0].{'x' * 60}…"),
        ({"Jobs": [job("a", DependsOn={"b": HUGE}), job("b")]}, "Jobs[0].DependsOn.b"),
        ({"Jobs": [job(HUGE)]}, "Jobs[0].Name"),
        ({"Jobs": [job("a"), job("a" * 255), job("a" * 255)]}, "Jobs[2].Name"),
        (
            {"Triggers": [{"Name": "t", "Type": "CONDITIONAL", "Actions": [{"JobName": "a"}],
                           "Predicate": {"Conditions": [{"JobName": "b", "State": HUGE}]}}],
             "Jobs": [job("a"), job("b")]},
            "Triggers[0].Predicate.Conditions[0].State",
        ),
        ({HUGE: []}, f"{'x' * 60}…"),
    ],
)  # fmt: skip
def test_a_huge_value_is_quoted_short(data: dict, where: str) -> None:
    found = problems_of(data)
    assert where in [p.where for p in found]
    assert all(len(p.message) < 300 and len(p.where) < 100 for p in found)


def test_ten_thousand_problems_are_all_reported() -> None:
    data = {"Jobs": [job(f"j{i}", MaxRetries="many", DependsOn="nope") for i in range(5000)]}
    found = problems_of(data)
    assert len(found) == 10_000
    assert found[0] == errors.Problem(
        "Jobs[0].MaxRetries", "Input should be a valid integer, unable to parse string as an integer"
    )
    assert found[5000] == errors.Problem("Jobs[0].DependsOn.nope", "unknown job or crawler 'nope'")


def test_a_long_cycle_is_spelled_short() -> None:
    n = 1000
    data = {"Jobs": [job(f"j{i}", DependsOn=f"j{(i + 1) % n}") for i in range(n)]}
    ((problem,),) = [problems_of(data)]
    assert problem.message.startswith("cycle: j0 -> j999.depends -> j999 -> j998.depends -> …")
    assert len(problem.message) < 300


# --- what YAML and JSON may hold ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("b.yaml", "Jobs: [{Name: !!bool maybe}]", "line 1, column 15: not valid YAML: cannot read 'maybe' as !!bool"),
        ("t.yaml", "Jobs: [{Description: !!timestamp 2024-13-45}]", "line 1, column 22: not valid YAML: cannot read '2024-13-45' as !!timestamp: month must be in 1..12"),
        ("i.json", '{"Jobs": [{"MaxRetries": ' + "9" * 5000 + "}]}", "line 1, column 26: not valid JSON: Exceeds the limit (4300 digits) for integer string conversion: value has 5000 digits"),
        ("n.yaml", "Jobs: [{Name: \"a\x00\"}]", "line 1, column 17: not valid YAML: control characters are not allowed"),
        ("s.yaml", "5", "(top level): must be a mapping with Jobs, Crawlers, Triggers, Workflows, Databases (or a Glue get-* output, or one Create* request)"),
    ],
)  # fmt: skip
def test_values_the_parsers_refuse(tmp_path: Path, name: str, text: str, expected: str) -> None:
    found = problems_of_file(tmp_path, name, text)
    assert texts(found) == [expected]


def test_values_json_cannot_hold_are_refused_where_they_are(tmp_path: Path) -> None:
    text = (
        "Jobs: [{Name: a, Command: {ScriptLocation: a.py}, MaxCapacity: .inf}]\n"
        "Crawlers: [{Name: c, Targets: {S3Targets: [{Path: /d}], b: !!binary aGVsbG8=, s: !!set {a}, n: .nan,"
        " h: 0x" + "f" * 4000 + "}}]\n"
    )
    assert [(p.where, p.message.split(";")[0]) for p in problems_of_file(tmp_path, "v.yaml", text)] == [
        ("Jobs[0].MaxCapacity", "must be a finite number (a definition is stored as JSON)"),
        ("Crawlers[0].Targets.b", "a value of type bytes cannot be stored in a definition"),
        ("Crawlers[0].Targets.s", "a value of type set cannot be stored in a definition"),
        ("Crawlers[0].Targets.n", "must be a finite number (a definition is stored as JSON)"),
        ("Crawlers[0].Targets.h", "is a number too large to store"),
    ]


def test_dates_are_text(tmp_path: Path) -> None:
    """No implicit timestamps: Glue's shapes have none, and an argument may well be a date."""
    path = tmp_path / "d.yaml"
    path.write_text("Jobs: [{Name: a, Command: {ScriptLocation: a.py}, DefaultArguments: {--day: 2024-01-31}}]")
    assert loading.load_files([path]).jobs[0].default_arguments == {"--day": "2024-01-31"}


def test_what_loads_can_be_stored() -> None:
    """The store keeps strict JSON in UTF-8 (PostgreSQL's JSONB: no NaN, no NUL)."""
    data = {
        "Jobs": [job("a", Timeout="0.0000001s", MaxCapacity=1e300, Description="é 😀\t")],
        "Crawlers": [{"Name": "c", "Targets": {"S3Targets": [{"Path": "/d"}], "big": 2**200, "list": [1.5, None, True]}}],
    }
    defs = loading.load_mapping(data, Path("/d"))
    text = json.dumps(defs.model_dump(mode="json"), allow_nan=False, ensure_ascii=False)
    text.encode("utf-8")
    assert "\\u0000" not in text
    again = type(defs.jobs[0]).model_validate(defs.jobs[0].model_dump(mode="json"))
    assert again.timeout == defs.jobs[0].timeout == 1e-7


@pytest.mark.parametrize("seconds", [1e-7, 90.0, 5400.5, 0.1 + 0.2, 604799.999999999])
def test_duration_text_is_exact(seconds: float) -> None:
    text = durations.duration_text(seconds)
    assert "e" not in text and durations.parse_duration(text) == seconds


def test_structure_check_reports_a_bad_root() -> None:
    found = problems.Problems()
    assert structure.check(float("nan"), found)
    assert texts(found)[0].startswith("(top level): must be a finite number")
