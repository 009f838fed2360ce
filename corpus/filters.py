"""Filters on manifest columns: a small expression language, parsed here and evaluated by pyarrow.compute.

Nothing is ever evaluated as Python. Grammar::

    filter := clause ("or" clause)*
    clause := column op value | column ["not"] "in" list | column "is" ["not"] "null"
    column := a manifest column, or name[i] for an (x, y, z) column: spacing_in[2] is the input z spacing
    op     := == | != | < | <= | > | >=
    value  := a number | 'text' | "text" | true | false
    list   := [value, ...]

Examples: ``slice_thickness_mm <= 3``, ``kernel not in ['B70f', 'FC52']``,
``contrast == 'no' or contrast is null``, ``spacing_in[2] <= 2.5``. A comparison
with a null value does not hold (SQL's rule): ``slice_thickness_mm <= 3`` drops
volumes of unknown thickness, ``slice_thickness_mm <= 3 or slice_thickness_mm is
null`` keeps them. Several filters must all hold.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from corpus.errors import SpecError
from corpus.store.manifest import SCHEMA

_TOKENS = re.compile(
    r"""\s*(?:
        (?P<number>-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)
      | (?P<text>'[^']*'|"[^"]*")
      | (?P<op>==|!=|<=|>=|<|>)
      | (?P<mark>[\[\],])
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)
_COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_LITERALS = {"true": True, "false": False}


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str


def apply_filters(table: pa.Table, filters: Sequence[str]) -> pa.Table:
    """The rows of ``table`` for which every filter holds.

    Evaluated on this thread (``Table.filter`` with an expression starts Arrow's thread pool, which can abort
    the interpreter at exit; see corpus.store.manifest.read_part).
    """
    for text in filters:
        table = ds.dataset(table).to_table(filter=parse_filter(text), use_threads=False)
    return table


def parse_filter(text: str) -> pc.Expression:
    """One filter (clauses joined by ``or``) as a pyarrow expression; SpecError says what was expected."""
    parser = _Parser(text, _tokenize(text))
    expression = parser.clause()
    while parser.accept("word", "or"):
        expression = expression | parser.clause()
    parser.end()
    return expression


def _tokenize(text: str) -> list[_Token]:
    tokens, position = [], 0
    while position < len(text.rstrip()):
        found = _TOKENS.match(text, position)
        if found is None or found.lastgroup is None:
            raise SpecError(f"Filter {text!r}: cannot read {text[position:].strip()!r}; see README 'Filters'")
        tokens.append(_Token(found.lastgroup, found.group(found.lastgroup)))
        position = found.end()
    return tokens


class _Parser:
    def __init__(self, text: str, tokens: list[_Token]) -> None:
        self.text, self.tokens, self.position = text, tokens, 0

    def fail(self, expected: str) -> SpecError:
        came = repr(self.tokens[self.position].text) if self.position < len(self.tokens) else "nothing more"
        return SpecError(f"Filter {self.text!r}: expected {expected}, got {came}")

    def accept(self, kind: str, text: str | None = None) -> _Token | None:
        if self.position < len(self.tokens):
            token = self.tokens[self.position]
            if token.kind == kind and (text is None or token.text.lower() == text):
                self.position += 1
                return token
        return None

    def expect(self, kind: str, text: str | None, expected: str) -> _Token:
        token = self.accept(kind, text)
        if token is None:
            raise self.fail(expected)
        return token

    def end(self) -> None:
        if self.position != len(self.tokens):
            raise self.fail("'or' or the end of the filter")

    def clause(self) -> pc.Expression:
        column, kind = self.column()
        if self.accept("word", "is"):
            negated = self.accept("word", "not") is not None
            self.expect("word", "null", "'null'")
            return column.is_valid() if negated else column.is_null()
        negated = self.accept("word", "not") is not None
        if negated or self.accept("word", "in"):
            if negated:
                self.expect("word", "in", "'in' after 'not'")
            values = self.values(kind)
            return column.is_valid() & ~column.isin(values) if negated else column.isin(values)
        operator_token = self.expect("op", None, "a comparison (== != < <= > >=), 'in', 'not in' or 'is'")
        return _COMPARISONS[operator_token.text](column, pc.scalar(self.value(kind)))

    def column(self) -> tuple[pc.Expression, pa.DataType]:
        name = self.expect("word", None, "a manifest column name").text
        if name not in SCHEMA.names:
            raise SpecError(f"Filter {self.text!r}: no manifest column {name!r}; columns: {', '.join(SCHEMA.names)}")
        kind = SCHEMA.field(name).type
        if not self.accept("mark", "["):
            if pa.types.is_fixed_size_list(kind):
                raise SpecError(f"Filter {self.text!r}: {name} holds {kind.list_size} values; pick one as {name}[i]")
            return pc.field(name), kind
        if not pa.types.is_fixed_size_list(kind):
            raise SpecError(f"Filter {self.text!r}: {name} is a single value; write it without [i]")
        index = int(float(self.expect("number", None, "an index").text))
        self.expect("mark", "]", "']'")
        if not 0 <= index < kind.list_size:
            raise SpecError(f"Filter {self.text!r}: {name}[{index}] is out of range 0..{kind.list_size - 1}")
        return pc.list_element(pc.field(name), index), kind.value_type

    def values(self, kind: pa.DataType) -> list[Any]:
        self.expect("mark", "[", "a list like ['a', 'b']")
        values = [self.value(kind)]
        while self.accept("mark", ","):
            values.append(self.value(kind))
        self.expect("mark", "]", "',' or ']'")
        return values

    def value(self, kind: pa.DataType) -> Any:
        token = self.accept("number") or self.accept("text") or self.accept("word")
        if token is None:
            raise self.fail("a value (a number, 'text', true or false)")
        if token.kind == "number" and (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
            return float(token.text)
        if token.kind == "text" and pa.types.is_string(kind):
            return token.text[1:-1]
        if token.kind == "word" and token.text.lower() in _LITERALS and pa.types.is_boolean(kind):
            return _LITERALS[token.text.lower()]
        raise SpecError(f"Filter {self.text!r}: {token.text} does not fit a column of type {kind}")
