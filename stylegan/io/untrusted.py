"""What every reader of a model file applies to it: the limits, the byte budget, and how the file's own text is
quoted in messages.

A model file is untrusted input. The readers never run code from it (see `official_pickle`), and they also keep
what a file can make them do in proportion to the file: nesting depth, the number of objects and the bytes of
tensor data rebuilt are bounded here, and nothing from a file reaches a message or a terminal except through
`excerpt` / `escape`, which bound its length and escape control characters.
"""

from __future__ import annotations

import functools
import json
import math
import re
import unicodedata
from typing import Any

import numpy as np
import torch

MAX_DEPTH = 200  # nesting of any object rebuilt from a pickle; official snapshots need under 40
MAX_OBJECTS = (
    2_000_000  # objects a pickle may create plus entries it adds to containers (official: ~10^4-10^5)
)
BYTES_SLACK = 1 << 20  # what rebuilt tensors and arrays may take beyond the size of the file itself
MAX_NDIM = 16  # dimensions of a rebuilt tensor or array
MAX_KEY_NODES = (
    64  # values inside one dict key or set member (tuples of tuples ...); official keys are strings
)
MAX_JSON_DEPTH = 32  # nesting of the JSON a checkpoint holds (its config needs 4 levels)
MAX_JSON_CHARS = 64 << 20  # of one JSON document in a checkpoint's header
MAX_CLASSES = 100_000  # ImageNet-21k has 21,841
MAX_CLASS_NAME_CHARS = 200
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")  # reorder shown text
EXCERPT_CHARS = 80  # of file content quoted in one message


class ContentError(Exception):
    """The file's content breaks a rule of its format; the message says which, quoting the file only through
    `excerpt` / `escape`. Readers turn it into a StyleGANError that names the file."""


class LimitError(ContentError):
    """The file asks for more than any model file needs (too deep, too many objects, more data than it holds)."""


# quoting --------------------------------------------------------------------------------------------------


def escape(text: str, limit: int = EXCERPT_CHARS) -> str:
    """`text` as printable characters, without quotes: control and other non-printable characters (ESC, BEL,
    C1 controls, bidirectional overrides) become escape sequences; longer than `limit`, it is cut with '…'."""
    if not isinstance(text, str):
        raise TypeError("escape() takes a str; use excerpt() for other values")
    cut = text[:limit]
    escaped = cut if cut.isprintable() else repr(cut)[1:-1]
    return escaped + ("…" if len(text) > limit else "")


def excerpt(value: Any, limit: int = EXCERPT_CHARS) -> str:
    """A short, printable rendering of an untrusted value for a message.

    Strings and bytes are cut and escaped, containers show their first items a few levels deep, and any other
    object shows only its kind (see `describe`). It never calls repr() or str() of a container or of an object
    from the file: a 40-level shared-reference DAG of 500 bytes has 2**40 leaves, and its repr would never end.
    """
    parts: list[str] = []
    _render(value, parts, [limit], 0)
    text = "".join(parts)
    return text if len(text) <= limit else text[:limit] + "…"


_CONTAINER_DEPTH = 3


def _render(value: Any, out: list[str], room: list[int], depth: int) -> None:
    if room[0] <= 0:
        out.append("…")
        return
    if isinstance(value, (list, tuple, set, frozenset, dict)):
        _render_container(value, out, room, depth)
        return
    text = describe(value, room[0])
    room[0] -= len(text)
    out.append(text)


def _render_container(value: Any, out: list[str], room: list[int], depth: int) -> None:
    if isinstance(value, list):
        opening, closing = "[", "]"
    elif isinstance(value, tuple):
        opening, closing = "(", ",)" if len(value) == 1 else ")"
    elif isinstance(value, dict):
        opening, closing = "{", "}"
    else:
        opening, closing = ("frozenset({", "})") if isinstance(value, frozenset) else ("{", "}")
    if not value:
        out.append("set()" if type(value) is set else opening + closing.lstrip(","))
        return
    if depth >= _CONTAINER_DEPTH:
        out.append(f"{opening}… {len(value)} items{closing.lstrip(',')}")
        room[0] -= 12
        return
    out.append(opening)
    room[0] -= len(opening)
    items = value.items() if isinstance(value, dict) else value
    for index, item in enumerate(items):
        if index:
            out.append(", ")
            room[0] -= 2
        if room[0] <= 0:
            out.append(f"… ({len(value)} items)")
            break
        if isinstance(value, dict):
            _render(item[0], out, room, depth + 1)
            out.append(": ")
            room[0] -= 2
            _render(item[1], out, room, depth + 1)
        else:
            _render(item, out, room, depth + 1)
    out.append(closing)
    room[0] -= len(closing)


@functools.singledispatch
def describe(value: Any, limit: int = EXCERPT_CHARS) -> str:
    """One non-container value, printable and about `limit` characters at most. Readers register their record
    types (`describe.register`); anything unknown shows only its type's name."""
    return f"<{escape(type(value).__qualname__, 40)}>"


@describe.register
def _(value: str, limit: int = EXCERPT_CHARS) -> str:
    cut = value[:limit]
    return repr(cut) + ("…" if len(value) > limit else "")


@describe.register(bytes)
@describe.register(bytearray)
def _(value: bytes | bytearray, limit: int = EXCERPT_CHARS) -> str:
    cut = bytes(value[:limit])
    return repr(cut) + (f"… ({len(value)} bytes)" if len(value) > limit else "")


@describe.register
def _(value: int, limit: int = EXCERPT_CHARS) -> str:
    if isinstance(value, bool) or abs(value) < 10**40:
        return repr(value)
    return f"<a {value.bit_length()}-bit integer>"


@describe.register
def _(value: float, limit: int = EXCERPT_CHARS) -> str:
    return repr(value)


@describe.register(type(None))
def _(value: None, limit: int = EXCERPT_CHARS) -> str:
    return "None"


@describe.register
def _(value: torch.Tensor, limit: int = EXCERPT_CHARS) -> str:
    return f"tensor of shape {list(value.shape)} ({str(value.dtype).removeprefix('torch.')})"


@describe.register
def _(value: np.ndarray, limit: int = EXCERPT_CHARS) -> str:
    return f"array of shape {list(value.shape)} ({escape(str(value.dtype), 20)})"


@describe.register
def _(value: np.generic, limit: int = EXCERPT_CHARS) -> str:
    if value.dtype.kind in "biuf":
        return f"np.{type(value).__name__}({describe(value.item(), limit)})"
    return f"<numpy {escape(str(value.dtype), 20)} scalar>"


@describe.register(torch.dtype)
@describe.register(np.dtype)
def _(value: Any, limit: int = EXCERPT_CHARS) -> str:
    return escape(str(value), 30)


# byte budget ----------------------------------------------------------------------------------------------


class ByteBudget:
    """The bytes that the tensors, arrays and buffers rebuilt from one file may take together.

    A file cannot hold more data than its size, so the budget is the size plus `BYTES_SLACK`. Every rebuild
    charges what it allocates: each storage once (views that share it are free), and every copy it makes. Memo
    references let a 4 MB storage be named 4,000 times in a 4.4 MB file; here the second copy already fails.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0
        self._prepaid: dict[int, Any] = {}  # id -> buffer already charged when it was made

    @classmethod
    def for_file(cls, size: int) -> ByteBudget:
        return cls(size + BYTES_SLACK)

    def charge(self, nbytes: int, what: str, prepaid: Any = None) -> None:
        """Charge `nbytes`; with `prepaid`, the buffer just made for them, whose first copy is then free (a
        bytes object spelled as latin-1 text, then copied into a storage, is one allocation's worth)."""
        if prepaid is not None:
            self._prepaid[id(prepaid)] = prepaid
        self._add(nbytes, what)

    def charge_once(self, buffer: bytes | bytearray, what: str) -> None:
        """Charge a copy of `buffer`, unless it is the first copy of a buffer charged when it was made."""
        if self._prepaid.pop(id(buffer), None) is buffer:
            return
        self._add(len(buffer), what)

    def _add(self, nbytes: int, what: str) -> None:
        self.used += nbytes
        if self.used > self.limit:
            raise LimitError(
                f"{what} would bring the data rebuilt from the file to more than {self.limit:,} bytes, "
                "more than the file holds (data referenced many times?)"
            )


# JSON -----------------------------------------------------------------------------------------------------

_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_INNERMOST = re.compile(r"\[\]|\{\}")


def json_depth_ok(text: str, limit: int) -> bool | None:
    """Whether the JSON in `text` nests at most `limit` levels; None when its brackets do not balance.

    It strips strings and then empty pairs of brackets, one level per pass, at C speed: json.loads itself
    recurses once per level, so a 100,000-level document would raise RecursionError there (or overflow the
    stack of a thread).
    """
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    for _ in range(limit):
        if not brackets:
            return True
        brackets, removed = _INNERMOST.subn("", brackets)
        if not removed:
            return None
    return not brackets or (False if _INNERMOST.search(brackets) else None)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{escape(text, 20)} is out of range")
    return value


def _small_int(text: str) -> int:
    if len(text.lstrip("-")) > 40:
        raise ValueError(f"an integer of {len(text)} digits")
    return int(text)


def parse_json(text: Any, what: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Decode one JSON document from a file; problems raise ContentError naming `what`.

    Non-finite numbers (NaN, Infinity, 1e999) and integers of more than 40 digits are refused, and so is
    nesting deeper than `max_depth`, before decoding.
    """
    if not isinstance(text, str):
        raise ContentError(f"{what} is not text")
    if len(text) > MAX_JSON_CHARS:
        raise LimitError(f"{what} is {len(text):,} characters long (at most {MAX_JSON_CHARS:,})")
    depth_ok = json_depth_ok(text, max_depth)
    if depth_ok is None:
        raise ContentError(f"{what} is not valid JSON (its brackets do not balance)")
    if not depth_ok:
        raise LimitError(f"{what} nests more than {max_depth} levels deep")
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite, parse_int=_small_int)
    except ValueError as error:  # json.JSONDecodeError is one; its message holds positions, not file text
        raise ContentError(f"{what} is not valid JSON ({escape(str(error), 120)})") from None


def check_class_names(names: Any) -> list[str]:
    """`names` when it is a list of at most MAX_CLASSES printable names of 1 to MAX_CLASS_NAME_CHARS characters
    (they end up in window labels, file metadata and terminal output); else ContentError."""
    if type(names) is not list or not all(type(name) is str for name in names):
        raise ContentError(f"class_names is {excerpt(names)}, not a list of names")
    if len(names) > MAX_CLASSES:
        raise LimitError(f"class_names lists {len(names):,} classes (at most {MAX_CLASSES:,})")
    for index, name in enumerate(names):
        if not 0 < len(name) <= MAX_CLASS_NAME_CHARS:
            raise ContentError(
                f"class name {index} has {len(name):,} characters (1 to {MAX_CLASS_NAME_CHARS})"
            )
        if any(unicodedata.category(char) in ("Cc", "Zl", "Zp") or char in BIDI_CONTROLS for char in name):
            raise ContentError(f"class name {index} ({escape(name, 60)}) holds control characters")
    return names
