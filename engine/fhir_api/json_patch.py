"""JSON Patch (RFC 6902) within the limits of one request: at most so many operations, applied one
at a time, each ``add``, ``replace`` and ``copy`` weighed before it is made, so a patch that keeps
doubling a list is refused when the resource would outgrow the limit, not after. A ``copy`` or
``move`` into its own subtree is refused as the patch arrives.

Example::

    check_patch(patch, limits)                       # before the write transaction
    patched = apply_json_patch(current, patch, limits)
"""

from __future__ import annotations

from typing import Any

import jsonpatch
import jsonpointer

from engine.fhir_api.errors import FhirError
from engine.fhir_api.limits import (
    MAX_PATCH_OPERATIONS_SETTING,
    MAX_PATCH_RESULT_BYTES_SETTING,
    FhirLimits,
    over_limit,
)
from foundation import decimal_json

#: Operations that add a value to the document, and the member holding what they add.
_ADDING = {"add": "value", "replace": "value", "copy": "from"}
_MISSING = object()


def check_patch(patch: Any, limits: FhirLimits) -> None:
    """Refuse a JSON Patch with more operations than the limit (413), or one that copies or moves a
    value into its own subtree (422); anything else is left to the patch itself. A JSON Merge
    Patch (an object) passes."""
    if not isinstance(patch, list):
        return
    if len(patch) > limits.max_patch_operations:
        raise over_limit(413, "too-many-patch-operations", f"the JSON Patch has {len(patch)} operations",
                         limits.max_patch_operations, MAX_PATCH_OPERATIONS_SETTING)
    for index, operation in enumerate(patch):
        if not isinstance(operation, dict) or operation.get("op") not in ("copy", "move"):
            continue
        source, target = operation.get("from"), operation.get("path")
        if isinstance(source, str) and isinstance(target, str) and target.startswith(source + "/"):
            raise FhirError(422, "processing", "patch-into-itself",
                            f"operation {index} of the JSON Patch would {operation['op']} a value into itself")


def _size(value: Any) -> int:
    return len(decimal_json.dumps(value, compact=True).encode())


def _growth(document: Any, operation: Any) -> int:
    """At most how many bytes ``operation`` adds to ``document`` (0 when it adds nothing)."""
    member = _ADDING.get(operation.get("op")) if isinstance(operation, dict) else None
    if member is None or member not in operation:
        return 0
    if member == "value":
        return _size(operation["value"])
    found = jsonpointer.resolve_pointer(document, operation["from"], _MISSING)
    return 0 if found is _MISSING else _size(found)


def apply_json_patch(document: Any, patch: list, limits: FhirLimits) -> Any:
    """``document`` patched (in place: pass a copy of your own), or :class:`FhirError` when the patch
    would make it larger than :attr:`FhirLimits.max_patch_result_bytes` (or than it was, if larger)
    or nest deeper than :attr:`FhirLimits.max_json_depth`.

    Raises jsonpatch's and jsonpointer's own exceptions for a patch that does not apply.
    """
    check_patch(patch, limits)
    size = _size(document)
    allowed = max(limits.max_patch_result_bytes, size)
    for operation in patch:
        growth = _growth(document, operation)
        if size + growth > allowed:
            size = _size(document)  # the running sum never counts what a replace took away: measure
            if size + growth > allowed:
                raise _too_large(limits)
        size += growth
        document = jsonpatch.apply_patch(document, [operation], in_place=True)
    text = decimal_json.dumps(document, compact=True)
    if len(text.encode()) > allowed:
        raise _too_large(limits)
    if decimal_json.nesting_depth(text) > limits.max_json_depth:
        raise limits.too_deep("the patched resource")
    return document


def _too_large(limits: FhirLimits) -> FhirError:
    return over_limit(413, "patch-result-too-large", "the patched resource would be too large (bytes of JSON)",
                      limits.max_patch_result_bytes, MAX_PATCH_RESULT_BYTES_SETTING)
