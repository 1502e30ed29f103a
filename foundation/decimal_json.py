"""FHIR JSON text in and out with decimals kept as written: FHIR says ``1.00`` and ``1.0`` differ in precision.

Python's json reads ``1.00`` as the float ``1.0`` and cannot write a Decimal; simplejson reads
decimals as :class:`decimal.Decimal` and writes them back digit for digit.
"""

from __future__ import annotations

from typing import Any

import simplejson

#: The separators of stored JSON (no spaces).
COMPACT = (",", ":")


def loads(text: str | bytes) -> Any:
    """Parse FHIR JSON; decimals become Decimals (``ValueError`` when it is not JSON)."""
    return simplejson.loads(text, use_decimal=True)


def dumps(value: Any, *, compact: bool = False, sort_keys: bool = False, indent: int | None = None) -> str:
    """FHIR JSON text of ``value``, Decimals as written, non-ASCII kept."""
    return simplejson.dumps(value, use_decimal=True, ensure_ascii=False, sort_keys=sort_keys, indent=indent,
                            separators=COMPACT if compact else None)
