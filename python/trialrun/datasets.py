"""Test cases from data files: CSV and JSON Lines.

    from trialrun.datasets import load_csv, load_jsonl
    cases = load_csv("questions.csv")                       # DatasetCase objects
    cases = load_jsonl("questions.jsonl", case_type=MyCase, id_column="id")

Each row becomes a test case with a stable hash: the md5 of its `id_column` value when
one is named, else of the row's content (its fields as canonical JSON), so the same row
is the same case in every run and `trialrun compare` matches it. Without `case_type`
the rows become `DatasetCase`s (fields by item or attribute: `case["question"]`,
`case.question`); with one (a dataclass subclass of BaseTestCase), each row fills its
fields by name, CSV text converted to the fields' int, float and bool types.

Bad data is refused before anything runs, with a `DatasetError` (a ValueError) naming
the file and line: a row that is not valid JSON or not an object, a CSV row with more
cells than the header, a missing id or field, a value a field's type cannot take, two
rows with the same hash.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import typing
from collections.abc import Iterator
from typing import Any, TypeVar

from trialrun._core import md5
from trialrun._models import BaseTestCase

__all__ = ["DatasetCase", "DatasetError", "load_csv", "load_jsonl"]

CaseT = TypeVar("CaseT", bound=BaseTestCase)


class DatasetError(ValueError):
    """A data file that cannot become test cases; the message names the file and line."""


class DatasetCase(BaseTestCase):
    """A row of a data file as a test case: its fields, and a hash fixed when it was read."""

    def __init__(self, fields: dict[str, Any], case_hash: str) -> None:
        self.fields = dict(fields)
        self._hash = case_hash

    def hash(self) -> str:
        return self._hash

    def serialize(self) -> Any:
        return self.fields

    def __getitem__(self, name: str) -> Any:
        return self.fields[name]

    def __getattr__(self, name: str) -> Any:
        # Only called for names that are not attributes: the row's fields.
        fields = self.__dict__.get("fields", {})
        if name in fields:
            return fields[name]
        raise AttributeError(f"{type(self).__name__} has no field {name!r}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DatasetCase) and (self.fields, self._hash) == (
            other.fields,
            other._hash,
        )

    def __repr__(self) -> str:
        return f"DatasetCase({self.fields!r})"


def load_csv(
    path: str | os.PathLike[str],
    case_type: type[CaseT] | None = None,
    *,
    id_column: str | None = None,
    encoding: str = "utf-8",
) -> list[Any]:
    """The rows of a CSV file (a header row, then one case per row) as test cases."""
    return _cases(path, _csv_rows(path, encoding), case_type, id_column, from_text=True)


def load_jsonl(
    path: str | os.PathLike[str],
    case_type: type[CaseT] | None = None,
    *,
    id_column: str | None = None,
    encoding: str = "utf-8",
) -> list[Any]:
    """The lines of a JSON Lines file (one JSON object per line; blank lines skipped) as
    test cases."""
    return _cases(path, _jsonl_rows(path, encoding), case_type, id_column, from_text=False)


def _csv_rows(path: str | os.PathLike[str], encoding: str) -> Iterator[tuple[int, dict[str, Any]]]:
    with _open(path, encoding) as f:
        reader = csv.reader(f)
        try:
            header = next(reader, None)
            if header is None or not any(h.strip() for h in header):
                raise DatasetError(f"{path}:1: no header row (the first row names the columns)")
            names = [h.strip() for h in header]
            for i, name in enumerate(names):
                if not name:
                    raise DatasetError(f"{path}:1: column {i + 1} has no name")
                if name in names[:i]:
                    raise DatasetError(f"{path}:1: column {name!r} appears twice")
            start = reader.line_num + 1
            for row in reader:
                line, start = start, reader.line_num + 1
                if not row:
                    continue  # a blank line
                if len(row) > len(names):
                    raise DatasetError(
                        f"{path}:{line}: {len(row)} cells, but the header names {len(names)} columns"
                    )
                yield line, dict(zip(names, row + [""] * (len(names) - len(row))))
        except csv.Error as e:
            raise DatasetError(f"{path}:{reader.line_num}: {e}") from None
        except UnicodeDecodeError as e:
            raise DatasetError(f"{path}: not {encoding} text ({e.reason})") from None


def _jsonl_rows(
    path: str | os.PathLike[str], encoding: str
) -> Iterator[tuple[int, dict[str, Any]]]:
    with _open(path, encoding) as f:
        try:
            for line, text in enumerate(f, start=1):
                if not text.strip():
                    continue
                try:
                    row = json.loads(text)
                except json.JSONDecodeError as e:
                    raise DatasetError(
                        f"{path}:{line}: not valid JSON: {e.msg} (column {e.colno})"
                    ) from None
                if not isinstance(row, dict):
                    raise DatasetError(
                        f"{path}:{line}: a JSON object is needed per line, got {type(row).__name__}"
                    )
                yield line, row
        except UnicodeDecodeError as e:
            raise DatasetError(f"{path}: not {encoding} text ({e.reason})") from None


def _open(path: str | os.PathLike[str], encoding: str) -> Any:
    try:
        return open(path, encoding=encoding, newline="")
    except OSError as e:
        raise DatasetError(f"{path}: cannot read it: {e.strerror or e}") from None


def _cases(
    path: str | os.PathLike[str],
    rows: Iterator[tuple[int, dict[str, Any]]],
    case_type: type[Any] | None,
    id_column: str | None,
    from_text: bool,
) -> list[Any]:
    if case_type is not None and not (
        isinstance(case_type, type) and issubclass(case_type, BaseTestCase)
    ):
        raise TypeError(f"case_type must be a BaseTestCase subclass, got {case_type!r}")
    build = _builder(case_type, from_text) if case_type is not None else None
    cases: list[Any] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        where = f"{path}:{line}"
        if id_column is not None:
            value = row.get(id_column)
            if value is None or value == "":
                raise DatasetError(f"{where}: no value in the id column {id_column!r}")
            key = str(value)
        else:
            key = json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        if build is None:
            case: Any = DatasetCase(row, md5(key))
        else:
            case = build(where, row)
        case_hash = case.hash()
        if case_hash in seen:
            what = f"id {key!r}" if id_column is not None else "hash"
            raise DatasetError(
                f"{where}: the same {what} as line {seen[case_hash]} ({case_hash}); "
                "each case needs its own"
            )
        seen[case_hash] = line
        cases.append(case)
    return cases


def _builder(case_type: type[Any], from_text: bool) -> Any:
    if not dataclasses.is_dataclass(case_type):
        raise TypeError(f"case_type {case_type.__name__} must be a dataclass")
    try:
        hints = typing.get_type_hints(case_type)
    except Exception:  # unresolvable annotations: take the text as it is
        hints = {}
    fields = [f for f in dataclasses.fields(case_type) if f.init]
    required = {
        f.name
        for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    names = {f.name for f in fields}

    def build(where: str, row: dict[str, Any]) -> Any:
        missing = sorted(required - row.keys())
        if missing:
            raise DatasetError(
                f"{where}: {case_type.__name__} needs {', '.join(map(repr, missing))}, "
                f"which the row lacks (it has {', '.join(map(repr, row)) or 'nothing'})"
            )
        values = {}
        for name, value in row.items():
            if name not in names:
                continue  # extra columns are kept out of the case, not an error
            if from_text and isinstance(value, str):
                value = _convert(where, name, value, hints.get(name))
            values[name] = value
        try:
            case = case_type(**values)
            case.hash()
        except Exception as e:
            raise DatasetError(f"{where}: {case_type.__name__}: {type(e).__name__}: {e}") from None
        return case

    return build


def _convert(where: str, name: str, text: str, hint: Any) -> Any:
    """CSV text as the field's type, for int, float and bool (and Optional of them)."""
    args = typing.get_args(hint)
    if args and type(None) in args:
        if text == "":
            return None
        others = [a for a in args if a is not type(None)]
        hint = others[0] if len(others) == 1 else None
    try:
        if hint is bool:
            lowered = text.strip().lower()
            if lowered in ("true", "1", "yes"):
                return True
            if lowered in ("false", "0", "no"):
                return False
            raise ValueError("not true/false")
        if hint is int:
            return int(text)
        if hint is float:
            return float(text)
    except ValueError:
        raise DatasetError(f"{where}: column {name!r}: {text!r} is not a {hint.__name__}") from None
    return text
