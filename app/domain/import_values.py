"""Values that reference-data rows (products, locations, customers) hold and stock rows do not:
decimals, yes/no flags, lists, and the nested objects of the GraphQL inputs that a CSV file spells
as flat columns.

One file shape for both formats: a CSV cell and a JSON string are read the same way, so a list is
a JSON array or text separated by `|` (`FRAGILE|HAZMAT`), a cell that starts with `[` or `{` is
JSON (JSON in a cell), and an object column (`dimensions`, `address`, `point`, ...) is the same as
its flat columns (`{"dimensions": {"lengthCm": 10}}` is the `lengthCm` column).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal

from app.domain.errors import FieldIssue
from app.domain.imports import RowIssue, RowValues, SourceRow

LIST_SEPARATOR = "|"
TRUE_WORDS = frozenset({"true", "yes", "y", "1"})
FALSE_WORDS = frozenset({"false", "no", "n", "0"})
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")


def key(name: str) -> str:
    """How a column or a nested key is matched: ignoring case, spaces, `_` and `-`."""
    return re.sub(r"[\s_\-]", "", name).lower()


class _Invalid:
    """A value already reported as an issue of its row."""


INVALID = _Invalid()


def parsed(values: RowValues, name: str) -> object:
    """The value, with text that holds JSON (starting with `[` or `{`) parsed; None when absent,
    INVALID (and an issue) when that JSON does not parse."""
    value = values.row.values.get(name)
    if isinstance(value, str) and value.lstrip()[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError as exc:
            values.problem(name, f"not valid JSON: {exc}")
            return INVALID
    return value


def items(values: RowValues, name: str) -> list[object] | None:
    """A list: a JSON array, or text separated by `|` (blank parts dropped). None when absent or refused."""
    value = parsed(values, name)
    if value is None or value is INVALID:
        return None
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        return [part.strip() for part in value.split(LIST_SEPARATOR) if part.strip()]
    values.problem(name, f"must be a list: a JSON array, or values separated by {LIST_SEPARATOR}")
    return None


def decimal(values: RowValues, name: str, *, required: bool = False) -> float | None:
    """A finite number: `12`, `12.5`, `"12.5"`; not `"12,5"`, `true`, `NaN`."""
    value = values.row.values.get(name)
    if value is None:
        if required:
            values.problem(name, "required")
        return None
    number: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        number = float(value.strip())
    if number is None or not math.isfinite(number):
        values.problem(name, f"must be a number; got {_shown(value)}")
        return None
    return number


def cents(values: RowValues, name: str) -> int | None:
    """An amount in major units with at most two decimals (`19.99`, `"19.9"`, `20`) as minor units."""
    value = values.row.values.get(name)
    if value is None:
        return None
    text = value.strip() if isinstance(value, str) else repr(value) if isinstance(value, (int, float)) else ""
    if isinstance(value, bool) or not _NUMBER.fullmatch(text):
        values.problem(name, f"must be an amount such as 19.99; got {_shown(value)}")
        return None
    scaled = Decimal(text) * 100
    if scaled != scaled.to_integral_value():
        values.problem(name, f"at most two decimals; got {_shown(value)}")
        return None
    return int(scaled)


def integer(values: RowValues, name: str, *, minimum: int, maximum: int) -> int | None:
    """A whole number from `minimum` to `maximum`, negative ones included: `-5`, `"-5"`, `-5.0`."""
    value = values.row.values.get(name)
    if value is None:
        return None
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
        number = int(value.strip())
    if number is None:
        values.problem(name, f"must be a whole number; got {_shown(value)}")
        return None
    if not minimum <= number <= maximum:
        values.problem(name, f"must be between {minimum} and {maximum}; got {number}")
        return None
    return number


def flag(values: RowValues, name: str) -> bool | None:
    """true/false, yes/no, y/n, 1/0 (any case), or a JSON boolean. None when absent."""
    value = values.row.values.get(name)
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower() if isinstance(value, (str, int)) else ""
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    values.problem(name, f"must be true or false; got {_shown(value)}")
    return None


def lifted(row: SourceRow, nested: Mapping[str, Mapping[str, str]]) -> SourceRow | list[RowIssue]:
    """The row with each object column spread into flat columns (`nested`: object column → its keys
    → the flat column each stands for). An unknown key, a non-object, or a value given both ways is
    an issue of the row."""
    present = [name for name in nested if name in row.values]
    if not present:
        return row
    values = dict(row.values)
    check = RowValues(row)
    for name in present:
        value = parsed(check, name)
        del values[name]
        if value is INVALID:
            continue
        if not isinstance(value, dict):
            check.problem(name, "must be an object (JSON)")
            continue
        flat = {key(inner): column for inner, column in nested[name].items()}
        for inner, item in value.items():
            column = flat.get(key(inner))
            if column is None:
                check.problem(f"{name}.{inner}", f"unknown field; expected {', '.join(nested[name])}")
            elif column in values:
                check.problem(f"{name}.{inner}", f"given twice: as {column} and as {name}.{inner}")
            elif item is not None:
                values[column] = item
    return check.issues or SourceRow(row.line, values)


def row_issues(
    line: int, issues: Iterable[FieldIssue], column: Callable[[tuple[str, ...]], tuple[str, str]]
) -> list[RowIssue]:
    """Validation issues (field paths of a draft) as the row's issues: `column(path)` names the
    column at fault and a prefix for the reason (e.g. "zone 2: ")."""
    out = []
    for issue in issues:
        name, prefix = column(issue.field)
        out.append(RowIssue(line, name, prefix + issue.message, issue.code))
    return out


def texts(values: RowValues, name: str, found: list[object]) -> list[str] | None:
    """Every item of a list as text (trimmed), or None with an issue when one is not text."""
    out = []
    for index, item in enumerate(found):
        if not isinstance(item, str):
            values.problem(name, f"item {index + 1} must be text; got {_shown(item)}")
            return None
        out.append(item.strip())
    return out


def _shown(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return repr(text[:40] + "…" if len(text) > 40 else text)
