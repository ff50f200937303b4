"""Reading definition files: YAML or JSON text into plain data, or a problem with its line.

A file is data, never a program: YAML is read with the safe constructors, without implicit
timestamps (Glue's shapes have none, and ``2024-13-45`` would fail inside PyYAML). What any
parser or constructor raises becomes a problem, and so does a file that nests too deeply or
whose YAML aliases expand it far beyond its size ("billion laughs"), or refer to themselves.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from orchestrator.definitions import structure
from orchestrator.definitions.problems import Problems
from orchestrator.definitions.text import clip, quote

# What YAML aliases may make of a file, in nodes plus scalar characters (``_check_aliases``):
# MAX_EXPANSION + EXPANSION_FACTOR x its length. Without aliases a file makes about its length.
MAX_EXPANSION = 10_000
EXPANSION_FACTOR = 10
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_SHOWN = 120  # characters of a parser's message


class _Refused(yaml.MarkedYAMLError):
    """A YAML document we refuse to build; ``problem`` is the whole message."""

    def __init__(self, problem: str, mark: yaml.Mark | None) -> None:
        super().__init__(problem=problem, problem_mark=mark)


def _resolvers(base: type[yaml.SafeLoader] | type[Any]) -> dict[str, list[tuple[str, Any]]]:
    return {
        first: [(tag, rx) for tag, rx in rules if tag != _TIMESTAMP]
        for first, rules in base.yaml_implicit_resolvers.items()
    }


class _Constructing:
    """Mixin: a constructor's own error (``int`` over 4300 digits, ``!!bool maybe``) gets its line."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)  # type: ignore[misc]
        except (ValueError, TypeError, KeyError, OverflowError) as exc:
            tag = str(node.tag).rsplit(":", 1)[-1]
            reason = f": {_reason(exc)}" if isinstance(exc, ValueError) else ""
            message = f"not valid YAML: cannot read {quote(node.value)} as !!{tag}{reason}"
            raise _Refused(message, node.start_mark) from None


def _reason(exc: Exception) -> str:
    """The first clause of an error's message (Python's int limit adds advice for programmers)."""
    return _one_line(str(exc).split(";")[0])


class PythonLoader(_Constructing, yaml.SafeLoader):
    """PyYAML's own parser. Its composer recurses once per level, so it stops at MAX_DEPTH."""

    yaml_implicit_resolvers = _resolvers(yaml.SafeLoader)

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self._depth >= structure.MAX_DEPTH:
            mark = self.peek_event().start_mark
            raise _Refused(f"nested more than {structure.MAX_DEPTH} levels", mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _libyaml_loader() -> type[Any] | None:
    """libyaml's parser, 5-10x faster, when it limits nesting itself (0.2.5 added a limit of 1000
    levels; its composer recurses in C, where no RecursionError would stop it)."""
    try:
        from yaml import _yaml  # type: ignore[attr-defined]
    except ImportError:
        return None
    if tuple(_yaml.get_version()) < (0, 2, 5):
        return None

    class LibyamlLoader(_Constructing, yaml.CSafeLoader):  # type: ignore[misc,name-defined]
        yaml_implicit_resolvers = _resolvers(yaml.CSafeLoader)  # type: ignore[attr-defined]

    return LibyamlLoader


LOADER: type[Any] = _libyaml_loader() or PythonLoader


def read(path: Path, prefix: str, problems: Problems) -> Any:
    """The parsed content of one file, or None after adding the problem that stops it."""
    whole = prefix.rstrip(": ") or str(path)
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".json"):
        problems.add(whole, f"unsupported file type '{clip(suffix)}'; use .yaml, .yml or .json")
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.add(whole, f"cannot read {clip(str(path))}: {clip(str(exc), _SHOWN)}")
        return None
    if suffix == ".json":
        data = parse_json(text, prefix, problems)
    else:
        data = parse_yaml(text, prefix, problems)
    if data is None or not structure.check(data, problems, prefix):
        return None
    return data


def parse_json(text: str, prefix: str, problems: Problems) -> Any:
    """JSON text as data, or None after adding a problem at its line."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        problems.add(f"{prefix}{_line(text, exc.pos)}", f"not valid JSON: {exc.msg}")
    except RecursionError:  # the C scanner recurses once per level, up to the recursion limit
        where = _line(text, _too_deep_at(text))
        problems.add(f"{prefix}{where}", f"nested more than {structure.MAX_DEPTH} levels")
    except ValueError as exc:  # an integer beyond Python's int digit limit
        match = _LONG_NUMBER.search(text)
        where = _line(text, match.start() if match else 0)
        problems.add(f"{prefix}{where}", f"not valid JSON: {_reason(exc)}")
    return None


def parse_yaml(text: str, prefix: str, problems: Problems, loader: type[Any] | None = None) -> Any:
    """YAML text as data (an empty document is an empty mapping), or None after adding a problem."""
    reader = (loader or LOADER)(text)
    try:
        node = reader.get_single_node()
        if node is None:
            return {}
        if "&" in text:  # no anchor, no alias: nothing can expand or refer to itself
            _check_aliases(node, len(text))
        data = reader.construct_document(node)
        return {} if data is None else data
    except _Refused as exc:
        problems.add(f"{prefix}{_mark(exc.problem_mark)}", str(exc.problem))
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow, such as NUL
        problems.add(f"{prefix}{_line(text, exc.position)}", f"not valid YAML: {exc.reason}")
    except yaml.YAMLError as exc:
        message = str(getattr(exc, "problem", None) or exc)
        if "maximum nesting depth" in message:  # libyaml's own limit
            message = f"nested more than {structure.MAX_DEPTH} levels"
        elif match := _CLOUDFORMATION_TAG.search(message):
            message = (
                f"a CloudFormation function ({match.group(1)}) cannot be read here; write the "
                "value it gives (a definition is Glue's request, as the API takes it)"
            )
        else:
            message = f"not valid YAML: {_one_line(message)}"
        problems.add(f"{prefix}{_mark(getattr(exc, 'problem_mark', None))}", message)
    except Exception as exc:  # PyYAML's constructors are not ours: any failure is a bad file
        problems.add(f"{prefix}line 1", f"not valid YAML: {_one_line(f'{type(exc).__name__}: {exc}')}")
    finally:
        reader.dispose()
    return None


def _one_line(message: str) -> str:
    return clip(" ".join(message.split()), _SHOWN)


def _check_aliases(root: yaml.Node, size: int) -> None:
    """Refuse a node graph that contains itself, or that aliases expand beyond ``size``.

    Counts what construction would produce (a node, plus the characters of a scalar) once per
    reference, without expanding: a shared node's total is computed once. Merge keys (``<<:``)
    are references too, so this runs before PyYAML's constructor, which would expand them.
    """
    limit = MAX_EXPANSION + EXPANSION_FACTOR * size
    totals: dict[int, int] = {}  # id(node) -> its expanded size, once finished
    open_nodes: set[int] = set()  # the nodes on the current path (a second visit: a cycle)
    stack: list[tuple[yaml.Node, list[yaml.Node], list[int]]] = []

    def enter(node: yaml.Node) -> None:
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        open_nodes.add(id(node))
        stack.append((node, children[::-1], [1]))

    enter(root)
    while stack:
        node, todo, total = stack[-1]
        if todo:
            child = todo.pop()
            if isinstance(child, yaml.ScalarNode):
                total[0] += 1 + len(child.value)
            elif id(child) in totals:
                total[0] += totals[id(child)]
            elif id(child) in open_nodes:
                raise _Refused("a YAML alias refers to a node that contains it", child.start_mark)
            else:
                enter(child)
                continue
            if total[0] > limit:
                raise _Refused(_expansion(limit), child.start_mark)
            continue
        stack.pop()
        open_nodes.discard(id(node))
        totals[id(node)] = total[0]
        if stack:
            stack[-1][2][0] += total[0]
            if stack[-1][2][0] > limit:
                raise _Refused(_expansion(limit), node.start_mark)


def _expansion(limit: int) -> str:
    return (
        f"YAML aliases expand this file beyond {limit:,} values and characters "
        f"({EXPANSION_FACTOR} times its size, plus {MAX_EXPANSION:,}); write the values out"
    )


_LONG_NUMBER = re.compile(r"\d{4000,}")
# CloudFormation's YAML short forms (!Ref, !GetAtt, !Sub, ...), which a safe loader refuses.
_CLOUDFORMATION_TAG = re.compile(
    r"constructor for the tag '(!(?:Ref|GetAtt|Sub|Join|Select|Split|If|Equals|Not|And|Or|"
    r"Condition|ImportValue|FindInMap|Base64|GetAZs|Cidr|Transform|ToJsonString|Length))'"
)
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _too_deep_at(text: str) -> int:
    """Where JSON text first nests more than MAX_DEPTH levels (only read when it did)."""
    depth = 0
    for token in _JSON_TOKEN.finditer(text):
        if (bracket := token.group()) == "[" or bracket == "{":
            depth += 1
            if depth > structure.MAX_DEPTH:
                return token.start()
        elif bracket == "]" or bracket == "}":
            depth -= 1
    return 0


def _line(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    return f"line {line}, column {pos - (text.rfind(chr(10), 0, pos) + 1) + 1}"


def _mark(mark: yaml.Mark | None) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "line 1"
