"""The FHIRPath criteria a route's ``match.where`` holds: read and compiled here, so the config
check and the router agree on what is valid.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from fhirpathpy import compile as compile_fhirpath


def where_expressions(match: dict[str, Any]) -> list[str]:
    """A route's ``match.where``: one FHIRPath expression or a list of them."""
    where = match.get("where") or []
    return [where] if isinstance(where, str) else list(where)


@functools.lru_cache(maxsize=None)
def compile_criterion(expression: str) -> Callable[[dict], list]:
    """Compile one FHIRPath criterion; ``ValueError`` saying why when it is not valid.

    Cached: the config check and the router compile the same criteria on every load.
    """
    try:
        criterion = compile_fhirpath(expression)
        # Some mistakes (a function's arity) only show when evaluated: try it on an empty resource.
        criterion({"resourceType": "Basic"})
    except Exception as exc:
        raise ValueError(str(exc) or type(exc).__name__) from None
    return criterion
