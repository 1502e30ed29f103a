"""FHIR JSON text in and out with decimals kept as written: FHIR says ``1.00`` and ``1.0`` differ in precision.

Python's json reads ``1.00`` as the float ``1.0`` and cannot write a Decimal; simplejson reads
decimals as :class:`decimal.Decimal` and writes them back digit for digit. Its parser recurses
once per level of nesting, so a caller that reads text from outside names how deep it may nest,
and the depth is counted before the parse.
"""

from __future__ import annotations

import re
from array import array
from itertools import accumulate
from typing import Any

import simplejson

#: The separators of stored JSON (no spaces).
COMPACT = (",", ":")
#: A JSON string, escapes and all: brackets inside one do not nest.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
#: Whatever is not a bracket, once strings are gone.
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")
#: Brackets as steps of depth, +1 and -1 as signed bytes.
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")


class TooDeep(ValueError):
    """JSON nests arrays and objects deeper than its reader allows (``max_depth``; ``None``: Python's stack)."""

    def __init__(self, max_depth: int | None):
        self.max_depth = max_depth
        super().__init__(f"JSON nests deeper than {max_depth} levels" if max_depth else "JSON nests too deeply")


def nesting_depth(text: str | bytes) -> int:
    """How deep ``text`` nests arrays and objects, counted without parsing it: ``[[1], {}]`` is 2."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    brackets = _NOT_BRACKET.sub(b"", _STRING.sub(b"", data))
    return max(accumulate(array("b", brackets.translate(_STEPS))), default=0)


def loads(text: str | bytes, *, max_depth: int | None = None) -> Any:
    """Parse FHIR JSON; decimals become Decimals (``ValueError`` when it is not JSON).

    With ``max_depth``, text that nests deeper raises :class:`TooDeep` before it is parsed.
    """
    if max_depth is not None and nesting_depth(text) > max_depth:
        raise TooDeep(max_depth)
    try:
        return simplejson.loads(text, use_decimal=True)
    except RecursionError:
        raise TooDeep(max_depth) from None


def dumps(value: Any, *, compact: bool = False, sort_keys: bool = False, indent: int | None = None) -> str:
    """FHIR JSON text of ``value``, Decimals as written, non-ASCII kept."""
    return simplejson.dumps(value, use_decimal=True, ensure_ascii=False, sort_keys=sort_keys, indent=indent,
                            separators=COMPACT if compact else None)
