"""CWE/CE/CNE to CodeableConcept and Coding (the guide's CWE[CodeableConcept]).

CWE.3 names a coding system (``LN``, ``HL70001``); the URI comes from the ``CodingSystem``
code table, which integrators extend, since the guide says only that "the vocabulary
table will give the actual uri".
"""

from __future__ import annotations

import re
from typing import Any

from mappings.datatypes.context import ConversionContext, compact, component
from mappings.v2.message import Rep

_HL7_TABLE = re.compile(r"^HL7(\d{4})$", re.IGNORECASE)


def coding_system(name: str, context: ConversionContext) -> str | None:
    """The URI for a v2 coding system name: the CodingSystem table, HL7nnnn, or a URI as sent."""
    if not name:
        return None
    entry = context.lookup("CodingSystem", name)
    if entry:
        return entry["code"]
    match = _HL7_TABLE.match(name)
    if match:
        return f"http://terminology.hl7.org/CodeSystem/v2-{match.group(1)}"
    if ":" in name:
        return name
    return context.default_system.format(authority=name)


def _coding(rep: Rep, first: int, context: ConversionContext) -> dict[str, Any] | None:
    code, display, system = component(rep, first), component(rep, first + 1), component(rep, first + 2)
    if not code and not display:
        return None
    return compact({"system": coding_system(system, context), "code": code,
                    "display": display if code else None})


def cwe_codeable_concept(rep: Rep, context: ConversionContext) -> dict[str, Any] | None:
    """CWE[CodeableConcept]: codings from CWE.1-3, CWE.4-6, CWE.10-12; text from CWE.9, or
    CWE.2 when the sender gave text without a code."""
    codings = [c for c in (_coding(rep, 1, context), _coding(rep, 4, context), _coding(rep, 10, context)) if c and c.get("code")]
    text = component(rep, 9) or (component(rep, 2) if not component(rep, 1) else "")
    return compact({"coding": codings, "text": text}) or None


def cwe_coding(rep: Rep, context: ConversionContext) -> dict[str, Any] | None:
    """CWE[Coding]: the first triplet only."""
    coding = _coding(rep, 1, context)
    return coding if coding and coding.get("code") else None
