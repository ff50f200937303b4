"""Hive type strings: parsing, widening and merging the schemas a crawler infers per file.

Glue publishes no merge rules beyond "int+string becomes string; int+double becomes double"
(glue-semantics.md §5.4), so this module follows Hive's common-type rules where they keep
values intact, and falls back to ``string``, the type every value can be read as.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

# A parsed Hive type: a primitive is its canonical string ("int", "decimal(10,2)"); a complex
# type is a tuple: ("array", t), ("map", k, v), ("struct", ((name, t), ...)), ("uniontype", (t, ...)).
HiveType = str | tuple
Columns = tuple[tuple[str, str], ...]

VOID = "void"  # the type of a value seen only as null; loses to anything
STRING = "string"

_INTEGERS = ("tinyint", "smallint", "int", "bigint")
_INTEGER_DIGITS = {"tinyint": 3, "smallint": 5, "int": 10, "bigint": 19}
_FLOATS = ("float", "double")
_PRIMITIVES = frozenset((*_INTEGERS, *_FLOATS, "string", "boolean", "binary", "date", "timestamp",
                         "interval_year_month", "interval_day_time", VOID))  # fmt: skip
_ALIASES = {"integer": "int", "long": "bigint", "short": "smallint", "byte": "tinyint", "null": VOID,
            "bool": "boolean", "real": "float", "dec": "decimal", "numeric": "decimal"}  # fmt: skip
_MAX_PRECISION = 38
_SPECIAL = frozenset(":,<>`")  # characters that make a struct field name need backticks


def parse(text: str) -> HiveType:
    """Read a Hive type string; raise ValueError when it is not one."""
    parser = _Parser(text)
    result = parser.type()
    parser.skip_spaces()
    if parser.pos != len(text):
        raise ValueError(f"unexpected {text[parser.pos:]!r} after a complete type in {text!r}")
    return result


def render(t: HiveType) -> str:
    """The Hive type string of a parsed type (the inverse of ``parse``)."""
    if isinstance(t, str):
        return t
    kind = t[0]
    if kind == "array":
        return f"array<{render(t[1])}>"
    if kind == "map":
        return f"map<{render(t[1])},{render(t[2])}>"
    if kind == "struct":
        return "struct<" + ",".join(f"{_quote(name)}:{render(f)}" for name, f in t[1]) + ">"
    return "uniontype<" + ",".join(render(m) for m in t[1]) + ">"


def widen(a: str, b: str) -> str:
    """The Hive type that holds every value of both ``a`` and ``b``."""
    return render(widen_types(parse(a), parse(b)))


def widen_types(a: HiveType, b: HiveType) -> HiveType:
    """``widen`` on parsed types, for classifiers that widen thousands of values."""
    if a == b:
        return a
    if a == VOID:
        return b
    if b == VOID:
        return a
    if isinstance(a, str) and isinstance(b, str):
        return _widen_primitive(a, b)
    if isinstance(a, tuple) and isinstance(b, tuple) and a[0] == b[0]:
        if a[0] == "array":
            return ("array", widen_types(a[1], b[1]))
        if a[0] == "map":
            return ("map", widen_types(a[1], b[1]), widen_types(a[2], b[2]))
        if a[0] == "struct":
            return ("struct", _merge_fields(a[1], b[1]))
    return STRING  # struct vs array, complex vs primitive, differing unions


def merge(columns_a: Iterable[tuple[str, str]], columns_b: Iterable[tuple[str, str]]) -> Columns:
    """The union of two column lists in first-seen order, with the types of shared columns widened.

    Names match case-insensitively (Hive's rule) and keep their first spelling.
    """
    merged = _merge_fields(tuple((n, parse(t)) for n, t in columns_a),
                           tuple((n, parse(t)) for n, t in columns_b))  # fmt: skip
    return tuple((name, render(t)) for name, t in merged)


def similarity(a: Sequence[tuple[str, str]], b: Sequence[tuple[str, str]]) -> float:
    """How alike two schemas are: the column names they share over the column count of the larger.

    Glue's measure is unpublished; it compares against a 0.7 threshold (glue-semantics.md B.1).
    Names, not types, count: types widen on merge, while a missing column is what makes files
    belong to different tables. Dividing by the larger schema (rather than the union, Jaccard)
    lets a file with one extra column out of ten stay at 0.9, like a partition that gained a field.
    Two empty schemas are identical (1.0); one empty schema shares nothing (0.0).
    """
    names_a = {name.lower() for name, _ in a}
    names_b = {name.lower() for name, _ in b}
    if not names_a and not names_b:
        return 1.0
    return len(names_a & names_b) / max(len(names_a), len(names_b))


def _merge_fields(a: tuple[tuple[str, HiveType], ...],
                  b: tuple[tuple[str, HiveType], ...]) -> tuple[tuple[str, HiveType], ...]:  # fmt: skip
    fields: dict[str, tuple[str, HiveType]] = {}
    for name, t in (*a, *b):
        key = name.lower()
        if key in fields:
            first, seen = fields[key]
            fields[key] = (first, widen_types(seen, t))
        else:
            fields[key] = (name, t)
    return tuple(fields.values())


def _widen_primitive(a: str, b: str) -> str:
    if a in _INTEGERS and b in _INTEGERS:
        return max(a, b, key=_INTEGERS.index)
    numeric_a, numeric_b = _is_numeric(a), _is_numeric(b)
    if numeric_a and numeric_b:
        if a in _FLOATS or b in _FLOATS:
            return "double"  # a float cannot hold every bigint or decimal; double is Glue's choice
        return _widen_decimal(_decimal_of(a), _decimal_of(b))
    if {a, b} == {"date", "timestamp"}:
        return "timestamp"
    if _is_char(a) and _is_char(b):
        # char(n) pads with spaces, so only two chars stay a char; anything else is a varchar
        kind = "char" if a.startswith("char") and b.startswith("char") else "varchar"
        return f"{kind}({max(_length(a), _length(b))})"
    return STRING


def _is_numeric(t: str) -> bool:
    return t in _INTEGERS or t in _FLOATS or t.startswith("decimal(")


def _decimal_of(t: str) -> tuple[int, int]:
    if t in _INTEGER_DIGITS:
        return _INTEGER_DIGITS[t], 0
    precision, scale = t[len("decimal("):-1].split(",")
    return int(precision), int(scale)


def _widen_decimal(a: tuple[int, int], b: tuple[int, int]) -> str:
    integer_digits = max(a[0] - a[1], b[0] - b[1])
    # past 38 digits the fraction gives way, as in Hive: losing integer digits would overflow
    scale = min(max(a[1], b[1]), _MAX_PRECISION - integer_digits)
    return f"decimal({integer_digits + scale},{scale})"


def _is_char(t: str) -> bool:
    return t.startswith(("char(", "varchar("))


def _length(t: str) -> int:
    return int(t[t.index("(") + 1:-1])


def _quote(name: str) -> str:
    if name and not _SPECIAL.intersection(name):
        return name
    return "`" + name.replace("`", "``") + "`"


class _Parser:
    """A recursive-descent reader of one type string; positions index into ``text``."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def expect(self, char: str) -> None:
        self.skip_spaces()
        if not self.text.startswith(char, self.pos):
            raise ValueError(f"expected {char!r} at {self.pos} in {self.text!r}")
        self.pos += 1

    def peek(self) -> str:
        self.skip_spaces()
        return self.text[self.pos:self.pos + 1]

    def word(self) -> str:
        self.skip_spaces()
        start = self.pos
        while self.pos < len(self.text) and (self.text[self.pos].isalnum() or self.text[self.pos] == "_"):
            self.pos += 1
        if start == self.pos:
            raise ValueError(f"expected a type name at {start} in {self.text!r}")
        return self.text[start:self.pos].lower()

    def type(self) -> HiveType:
        name = _ALIASES.get(word := self.word(), word)
        if name == "array":
            self.expect("<")
            element = self.type()
            self.expect(">")
            return ("array", element)
        if name == "map":
            self.expect("<")
            key = self.type()
            self.expect(",")
            value = self.type()
            self.expect(">")
            return ("map", key, value)
        if name == "struct":
            return ("struct", self.fields())
        if name == "uniontype":
            self.expect("<")
            members = [self.type()]
            while self.peek() == ",":
                self.expect(",")
                members.append(self.type())
            self.expect(">")
            return ("uniontype", tuple(members))
        if name in ("decimal", "char", "varchar"):
            return self.parameterised(name)
        if name not in _PRIMITIVES:
            raise ValueError(f"unknown type {word!r} in {self.text!r}")
        return name

    def parameterised(self, name: str) -> str:
        numbers = []
        if self.peek() == "(":
            self.expect("(")
            numbers.append(self.number())
            while self.peek() == ",":
                self.expect(",")
                numbers.append(self.number())
            self.expect(")")
        if name != "decimal":
            if len(numbers) != 1 or numbers[0] < 1:
                raise ValueError(f"{name} needs one positive length in {self.text!r}")
            return f"{name}({numbers[0]})"
        if len(numbers) > 2:
            raise ValueError(f"decimal takes at most two parameters in {self.text!r}")
        precision, scale = (*numbers, 0)[:2] if numbers else (10, 0)  # Hive's bare decimal
        if not 1 <= precision <= _MAX_PRECISION or not 0 <= scale <= precision:
            raise ValueError(f"bad decimal parameters in {self.text!r}")
        return f"decimal({precision},{scale})"

    def number(self) -> int:
        self.skip_spaces()
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos].isdigit():
            self.pos += 1
        if start == self.pos:
            raise ValueError(f"expected a number at {start} in {self.text!r}")
        return int(self.text[start:self.pos])

    def fields(self) -> tuple[tuple[str, HiveType], ...]:
        self.expect("<")
        fields: list[tuple[str, HiveType]] = []
        if self.peek() == ">":
            self.expect(">")
            return ()
        while True:
            name = self.field_name()
            self.expect(":")
            fields.append((name, self.type()))
            if self.peek() != ",":
                break
            self.expect(",")
        self.expect(">")
        return tuple(fields)

    def field_name(self) -> str:
        self.skip_spaces()
        if self.peek() == "`":
            self.pos += 1
            name = []
            while True:
                end = self.text.find("`", self.pos)
                if end < 0:
                    raise ValueError(f"unclosed backtick in {self.text!r}")
                name.append(self.text[self.pos:end])
                self.pos = end + 1
                if not self.text.startswith("`", self.pos):
                    return "".join(name)
                name.append("`")  # a doubled backtick is one backtick
                self.pos += 1
        end = self.text.find(":", self.pos)
        if end < 0:
            raise ValueError(f"expected name:type at {self.pos} in {self.text!r}")
        name = self.text[self.pos:end].strip()
        if not name or _SPECIAL.intersection(name):
            raise ValueError(f"bad field name {name!r} in {self.text!r}")
        self.pos = end
        return name
