"""XPN and XCN to HumanName, Identifier and Practitioner (the guide's XPN[HumanName], XCN[Practitioner])."""

from __future__ import annotations

from typing import Any

from mappings.datatypes.context import ConversionContext, compact, component, subcomponents
from mappings.datatypes.identifiers import hd_system
from mappings.v2.message import Rep


def _given(*names: str) -> list[str]:
    # XPN.3 "second and further given names": the guide leaves splitting on spaces open; kept whole.
    return [n for n in names if n]


def xpn_name(rep: Rep, context: ConversionContext) -> dict[str, Any] | None:
    """XPN[HumanName]: family, given (XPN.2, XPN.3), suffix (XPN.4, XPN.6, XPN.14), prefix, use via NameType."""
    name = compact({
        # FN.1 surname: XPN.1 may carry FN subcomponents (surname&own surname prefix...).
        "family": component(rep, 1),
        "given": _given(component(rep, 2), component(rep, 3)),
        "suffix": _given(component(rep, 4), component(rep, 6), component(rep, 14)),
        "prefix": _given(component(rep, 5)),
    })
    if not name:
        return None
    use = context.code("NameType", component(rep, 7)) if component(rep, 7) else None
    return compact({"use": use, **name})


def xcn_name(rep: Rep, context: ConversionContext) -> dict[str, Any] | None:
    """XCN[Practitioner].name: XCN.2 family, XCN.3/4 given, XCN.5/21 suffix, XCN.6 prefix, XCN.10 use."""
    name = compact({
        "family": component(rep, 2),
        "given": _given(component(rep, 3), component(rep, 4)),
        "suffix": _given(component(rep, 5), component(rep, 21)),
        "prefix": _given(component(rep, 6)),
    })
    if not name:
        return None
    use = context.code("NameType", component(rep, 10)) if component(rep, 10) else None
    return compact({"use": use, **name})


def xcn_identifier(rep: Rep, context: ConversionContext) -> dict[str, Any] | None:
    """XCN[Practitioner].identifier: XCN.1 value, XCN.9 system, XCN.13 type."""
    value = component(rep, 1)
    if not value:
        return None
    type_code = component(rep, 13)
    return compact({
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": type_code}]} if type_code else None,
        "system": hd_system(subcomponents(rep, 9), context),
        "value": value,
    })


def xcn_qualification(rep: Rep, context: ConversionContext) -> dict[str, Any] | None:
    """XCN.7 degree (DegreeLicenseCertificate, table 0360) as a Practitioner.qualification."""
    code = component(rep, 7)
    if not code:
        return None
    return {"code": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0360", "code": code}]}}
