"""HD, CX and EI to FHIR identifier systems and Identifiers (the guide's HD[uri], CX[Identifier])."""

from __future__ import annotations

from typing import Any

from mappings.datatypes.context import ConversionContext, compact, component, subcomponents
from mappings.datatypes.times import dtm_datetime
from mappings.v2.message import Rep

#: HD.3 universal id types and how the universal id (HD.2) becomes a URI.
_UNIVERSAL_ID_PREFIX = {"ISO": "urn:oid:", "UUID": "urn:uuid:", "URI": "", "URL": ""}


def hd_system(hd: Rep, context: ConversionContext) -> str:
    """The identifier system an assigning authority (HD) stands for.

    Rule (HD[uri]; the guide leaves the choice to the implementer):
    1. HD.2 with HD.3 ISO/UUID/URI/URL: ``urn:oid:<HD.2>``, ``urn:uuid:<HD.2>`` or HD.2 itself.
    2. HD.1 found in the configured authority table: that system.
    3. HD.1 otherwise: the default pattern, e.g. ``urn:carebridge:authority:HOSP``.
    4. HD empty: the sending facility (MSH-4) is taken as the authority, then rules 2-3.
    """
    namespace, universal, universal_type = component(hd, 1), component(hd, 2), component(hd, 3).upper()
    if universal and universal_type in _UNIVERSAL_ID_PREFIX:
        return _UNIVERSAL_ID_PREFIX[universal_type] + universal
    authority = namespace or universal or context.sending_facility or "unknown"
    if authority in context.authority_systems:
        return context.authority_systems[authority]
    return context.default_system.format(authority=authority)


def _type(code: str, context: ConversionContext) -> dict[str, Any] | None:
    if not code:
        return None
    entry = context.lookup("IdentifierType", code)
    coding = {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": code}
    if entry and entry.get("display"):
        coding["display"] = entry["display"]
    return {"coding": [coding]}


def cx_identifier(rep: Rep, context: ConversionContext) -> dict[str, Any] | None:
    """CX[Identifier]: CX.1 value, CX.4 system (see :func:`hd_system`), CX.5 type, CX.7/8 period.

    CX.4 is always read as a system, never as ``assigner`` (the guide's alternative): the
    identity of a patient is its system and value.
    """
    value = component(rep, 1)
    if not value:
        return None
    period = compact({"start": dtm_datetime(subcomponents(rep, 7), context),
                      "end": dtm_datetime(subcomponents(rep, 8), context)})
    return compact({
        "type": _type(component(rep, 5), context),
        "system": hd_system(subcomponents(rep, 4), context),
        "value": value,
        "period": period,
    })


def ei_identifier(rep: Rep, context: ConversionContext) -> dict[str, Any] | None:
    """EI[Identifier-System]: EI.1 value; EI.2-EI.4 (an HD) the system."""
    value = component(rep, 1)
    if not value:
        return None
    hd = [rep[i] if i < len(rep) else [""] for i in range(1, 4)]
    return {"system": hd_system(hd, context), "value": value}


def st_identifier(rep: Rep, context: ConversionContext) -> dict[str, Any] | None:
    """ST[Identifier]: a bare value, its system the sending facility's (rule 4 of :func:`hd_system`)."""
    value = component(rep, 1)
    return {"system": hd_system([], context), "value": value} if value else None
