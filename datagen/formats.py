"""Streaming the records out of a feedback file, one at a time, in bounded memory.

Each reader yields ``(record, where)`` pairs (``where`` is "line 3" or "item 2") and never
holds more than one record's text at once. Problems are ``InvalidInput`` lines naming the
file and the line. What the readers refuse, and why:

- JSON that cannot be stored and read back as it was: ``NaN``/``Infinity``, duplicate
  keys, lone surrogates (``"\\ud800"``), nesting deeper than ``MAX_DEPTH``;
- CSV that is not well formed: an unterminated quote, a row of the wrong width;
- gzip files that expand more than ``MAX_EXPANSION`` times (decompression bombs), and
  records longer than ``MAX_RECORD_BYTES``.

CSV cells stay text: a value changes type only when the caller asks (``infer_types`` or
a schema), and then only when the text is the exact spelling of that value.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from datagen.errors import InvalidInput

MAX_RECORD_BYTES = 32 * 1024 * 1024
MAX_DEPTH = 64
MAX_EXPANSION = 200  # decompressed / compressed size, beyond EXPANSION_FLOOR bytes
EXPANSION_FLOOR = 64 * 1024 * 1024
READ_SIZE = 1024 * 1024
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")

Record = dict[str, Any]


# -- bytes ------------------------------------------------------------------------------
class GuardedGzip(io.RawIOBase):
    """A gzip stream that refuses to expand more than ``MAX_EXPANSION`` times."""

    def __init__(self, path: Path, label: str):
        self._file = gzip.open(path, "rb")  # noqa: SIM115 - closed by close()
        self._limit = max(path.stat().st_size * MAX_EXPANSION, EXPANSION_FLOOR)
        self._seen = 0
        self._label = label

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            count = self._file.readinto(buffer)
        except (OSError, EOFError) as exc:
            raise InvalidInput(f"broken gzip file: {exc}", path=self._label) from None
        self._seen += count
        if self._seen > self._limit:
            raise InvalidInput(
                f"refusing a gzip file that expands more than {MAX_EXPANSION} times "
                f"(over {self._limit // 2**20} MiB): a decompression bomb?",
                path=self._label,
            )
        return count

    def close(self) -> None:
        self._file.close()
        super().close()


def open_bytes(path: Path, label: str) -> BinaryIO:
    """The file's bytes, transparently gunzipped (with the expansion guard)."""
    with path.open("rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    if gzipped:
        return io.BufferedReader(GuardedGzip(path, label), READ_SIZE)
    return path.open("rb")


def is_gzip(path: Path) -> bool:
    with path.open("rb") as probe:
        return probe.read(2) == b"\x1f\x8b"


def text_lines(stream: BinaryIO, label: str) -> Iterator[tuple[int, str]]:
    """(line number, text) of each line, UTF-8 checked, each at most MAX_RECORD_BYTES."""
    offset = 0
    for number in range(1, 2**62):
        raw = stream.readline(MAX_RECORD_BYTES + 1)
        if not raw:
            return
        if len(raw) > MAX_RECORD_BYTES and not raw.endswith(b"\n"):
            raise InvalidInput(
                f"line longer than {MAX_RECORD_BYTES // 2**20} MiB", path=label, line=number
            )
        yield number, _decode(raw, offset, number, label)
        offset += len(raw)
    return


def _decode(raw: bytes, offset: int, line: int, label: str) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"not UTF-8: byte 0x{raw[exc.start]:02x} at offset {offset + exc.start}; "
            "save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)",
            path=label,
            line=line,
        ) from None
    return text.removeprefix("\ufeff") if line == 1 else text


# -- JSON values ------------------------------------------------------------------------
def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value (it could not be exported back as JSON)")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    record = dict(pairs)
    if len(record) != len(pairs):
        keys = [key for key, _ in pairs]
        repeated = next(key for key in keys if keys.count(key) > 1)
        raise ValueError(f"duplicate key {repeated!r} in one object")
    return record


_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys, parse_constant=_reject_constant)


def parse_json(text: str, label: str, first_line: int, start: int = 0) -> tuple[Any, int]:
    """One JSON value from ``text`` at ``start``: (value, end); every rule above checked.

    ``first_line`` is the line number of ``text[0]``, for messages.
    """
    line = first_line + text.count("\n", 0, start)
    try:
        value, end = _DECODER.raw_decode(text, start)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"bad JSON at column {exc.colno}: {exc.msg}", path=label,
            line=first_line + exc.lineno - 1,
        ) from None
    except ValueError as exc:
        raise InvalidInput(f"bad JSON: {exc}", path=label, line=line) from None
    except RecursionError:
        raise InvalidInput(
            f"JSON nested deeper than {MAX_DEPTH} levels", path=label, line=line
        ) from None
    check_value(value, text[start:end], label, line)
    return value, end


def check_value(value: Any, text: str, label: str, line: int) -> None:
    """Depth and lone surrogates, walked only when the raw text could hold them."""
    if text.count("[") + text.count("{") > MAX_DEPTH and _depth(value) > MAX_DEPTH:
        raise InvalidInput(f"JSON nested deeper than {MAX_DEPTH} levels", path=label, line=line)
    if _SURROGATE_ESCAPE.search(text):
        bad = _lone_surrogate(value)
        if bad is not None:
            raise InvalidInput(
                f"text with a lone UTF-16 surrogate ({bad}) cannot be stored as UTF-8",
                path=label,
                line=line,
            )


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in item)
    return deepest


def _lone_surrogate(value: Any) -> str | None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                return f"\\u{ord(item[exc.start]):04x}"
    return None


def json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


# -- JSON Lines and JSON arrays ---------------------------------------------------------------
def jsonl_records(stream: BinaryIO, label: str) -> Iterator[tuple[Record, str]]:
    for number, line in text_lines(stream, label):
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        value, end = parse_json(line, label, number, _skip_space(line, 0))
        if line[end:].strip():
            raise InvalidInput(
                f"bad JSON at column {end + 1}: Extra data", path=label, line=number
            )
        if not isinstance(value, dict):
            raise InvalidInput(
                f"expected a JSON object per line, got {json_kind(value)}", path=label, line=number
            )
        yield value, f"line {number}"


def _skip_space(text: str, start: int) -> int:
    while start < len(text) and text[start] in " \t\r\n":
        start += 1
    return start


class _ArrayCursor:
    """A window over a JSON array's text that grows one read at a time."""

    def __init__(self, stream: BinaryIO, label: str):
        self.stream = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
        self.label = label
        self.text = ""
        self.pos = 0
        self.line = 1  # the line of text[0]
        self.eof = False

    def more(self) -> bool:
        if self.eof:
            return False
        try:
            chunk = self.stream.read(READ_SIZE)
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"not UTF-8: {exc.reason}", path=self.label) from None
        self.line += self.text.count("\n", 0, self.pos)
        self.text = self.text[self.pos :] + chunk
        self.pos = 0
        self.eof = not chunk
        return bool(chunk)

    def skip_space(self) -> str:
        """The next non-space character ('' at the end), after reading more if needed."""
        while True:
            self.pos = _skip_space(self.text, self.pos)
            if self.pos < len(self.text) or not self.more():
                return self.text[self.pos : self.pos + 1]

    def here(self) -> int:
        return self.line + self.text.count("\n", 0, self.pos)

    def value(self) -> Any:
        """Parse one value, reading more text while it is cut off (up to the size limit)."""
        while True:
            self.skip_space()
            try:
                value, end = parse_json(self.text, self.label, self.line, self.pos)
            except InvalidInput:
                if self.eof or len(self.text) - self.pos > MAX_RECORD_BYTES:
                    raise
                self.more()
                continue
            self.pos = end
            return value


def json_array_records(stream: BinaryIO, label: str) -> Iterator[tuple[Record, str]]:
    cursor = _ArrayCursor(stream, label)
    if cursor.skip_space() != "[":
        value = cursor.value()
        raise InvalidInput(f"expected a JSON array of objects, got {json_kind(value)}", path=label)
    cursor.pos += 1
    index = 0
    if cursor.skip_space() == "]":
        cursor.pos += 1
    else:
        while True:
            index += 1
            value = cursor.value()
            if not isinstance(value, dict):
                raise InvalidInput(
                    f"item {index}: expected a JSON object, got {json_kind(value)}", path=label
                )
            yield value, f"item {index}"
            separator = cursor.skip_space()
            cursor.pos += 1
            if separator == "]":
                break
            if separator != ",":
                raise InvalidInput(
                    f"bad JSON after item {index}: expected ',' or ']'",
                    path=label,
                    line=cursor.here(),
                )
    if cursor.skip_space():
        raise InvalidInput("bad JSON: extra data after the array", path=label, line=cursor.here())


# -- CSV ----------------------------------------------------------------------------------
Converter = Callable[[str], Any]


def csv_records(
    stream: BinaryIO, label: str, delimiter: str, converters: dict[str, Converter] | None = None
) -> Iterator[tuple[Record, str]]:
    """Rows as dicts of text; ``converters`` turn named columns into typed values."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    reader = csv.reader(_checked_lines(text, label), delimiter=delimiter, strict=True)
    header = _csv_header(reader, label)
    converters = converters or {}
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InvalidInput(_csv_problem(exc), path=label, line=start) from None
        if not row:
            continue
        if len(row) != len(header):
            raise InvalidInput(
                f"expected {len(header)} columns ({', '.join(header)}), got {len(row)}",
                path=label,
                line=start,
            )
        record = dict(zip(header, row, strict=True))
        for name, convert in converters.items():
            record[name] = _converted(convert, record[name], name, label, start)
        yield record, f"line {start}"


def _checked_lines(text: io.TextIOWrapper, label: str) -> Iterator[str]:
    number = 0
    while True:
        number += 1
        try:
            line = text.readline(MAX_RECORD_BYTES + 1)
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"not UTF-8: {exc.reason}", path=label, line=number) from None
        if not line:
            return
        if len(line) > MAX_RECORD_BYTES:
            raise InvalidInput(
                f"line longer than {MAX_RECORD_BYTES // 2**20} MiB", path=label, line=number
            )
        yield line


def _csv_problem(exc: csv.Error) -> str:
    text = str(exc)
    if "unexpected end of data" in text:
        return "bad CSV: a quoted field starts here and is never closed"
    if "field larger than field limit" in text:
        return "bad CSV: a field is too long (an unclosed quote starts here?)"
    return f"bad CSV: {text}"


def _csv_header(reader: Any, label: str) -> list[str]:
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise InvalidInput(f"cannot read the CSV header: {exc}", path=label, line=1) from None
    for index, name in enumerate(header, start=1):
        if not name.strip():
            raise InvalidInput(f"CSV header: column {index} has no name", path=label, line=1)
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise InvalidInput(f"CSV header: duplicate column {duplicates[0]!r}", path=label, line=1)
    return header


def _converted(convert: Converter, value: str, name: str, label: str, line: int) -> Any:
    if value == "":
        return None
    try:
        return convert(value)
    except ValueError:
        kind = getattr(convert, "kind", convert.__name__)
        raise InvalidInput(
            f"line {line}: field {name!r}: {value!r} is not of type {kind!r}", path=label
        ) from None


def exact_int(text: str) -> int:
    """An integer only when ``text`` is its canonical spelling ("007" is not 7)."""
    value = int(text)
    if str(value) != text:
        raise ValueError(text)
    return value


def exact_float(text: str) -> float:
    """A float only when ``text`` is exactly how that float prints ("Nan", "1.50" stay text)."""
    value = float(text)
    if repr(value) != text or value != value or value in (float("inf"), float("-inf")):
        raise ValueError(text)
    return value


def exact_bool(text: str) -> bool:
    if text not in ("true", "false"):
        raise ValueError(text)
    return text == "true"


def schema_int(text: str) -> int:
    return int(text.strip())


def schema_float(text: str) -> float:
    value = float(text.strip())
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(text)
    return value


def schema_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered not in ("true", "false"):
        raise ValueError(text)
    return lowered == "true"


for _function, _kind in ((schema_int, "integer"), (schema_float, "number"),
                         (schema_bool, "boolean")):
    _function.kind = _kind  # type: ignore[attr-defined,union-attr]

SCHEMA_CONVERTERS: dict[str, Converter] = {
    "integer": schema_int,
    "number": schema_float,
    "boolean": schema_bool,
}
INFERRED_CONVERTERS: tuple[Converter, ...] = (exact_int, exact_float, exact_bool)
