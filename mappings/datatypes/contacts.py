"""XAD and XTN to Address and ContactPoint (the guide's XAD[Address], XTN[ContactPoint])."""

from __future__ import annotations

from typing import Any

from mappings.datatypes.context import ConversionContext, compact, component, subcomponents
from mappings.datatypes.times import dtm_datetime
from mappings.v2.message import Rep

#: XTN.3 values whose address is in XTN.4 rather than a phone number (guide: XTN.4 condition).
_NETWORK_EQUIPMENT = {"Internet", "X.400"}

#: The guide's extensions for the components of a telephone number: XTN.5 country code,
#: XTN.6 area/city code, XTN.7 local number, XTN.8 extension, each a valueString.
PHONE_COMPONENT_EXTENSIONS = (
    (5, "http://hl7.org/fhir/StructureDefinition/contactpoint-country"),
    (6, "http://hl7.org/fhir/StructureDefinition/contactpoint-area"),
    (7, "http://hl7.org/fhir/StructureDefinition/contactpoint-local"),
    (8, "http://hl7.org/fhir/StructureDefinition/contactpoint-extension"),
)


def xad_address(rep: Rep, context: ConversionContext) -> dict[str, Any] | None:
    """XAD[Address]: lines from XAD.1 (SAD.1), XAD.2 and XAD.19; city, state, postcode,
    country, district (XAD.9); XAD.7 to use or type by AddressType; period from XAD.13/14."""
    address_type = component(rep, 7)
    address = compact({
        "line": [line for line in (component(rep, 1), component(rep, 2), component(rep, 19)) if line],
        "city": component(rep, 3),
        "district": component(rep, 9),
        "state": component(rep, 4),
        "postalCode": component(rep, 5),
        "country": component(rep, 6),
        "period": compact({"start": dtm_datetime(subcomponents(rep, 13), context),
                           "end": dtm_datetime(subcomponents(rep, 14), context)}),
    })
    if not address:
        return None
    if address_type:
        address = compact({"use": context.code("AddressType[Use]", address_type),
                           "type": context.code("AddressType[Type]", address_type), **address})
    return address


def _phone_value(rep: Rep) -> str:
    """XTN.12 unformatted, else the guide's assembly of XTN.5/6/7/8 (``+61 3 98765432 X12``),
    else XTN.1: the guide reads XTN.1 only when XTN.7 and XTN.12 are empty."""
    unformatted, legacy = component(rep, 12), component(rep, 1)
    if unformatted:
        return unformatted
    country, area, local, extension = (component(rep, n) for n in (5, 6, 7, 8))
    if not local:
        return legacy
    text = " ".join(p for p in (f"+{country}" if country else "", area, local) if p)
    return f"{text} X{extension}" if extension else text


def _phone_extensions(rep: Rep, is_network: bool) -> list[dict[str, str]]:
    """The guide's extension[1..4] for XTN.5-8; the local number (XTN.7) only on a phone."""
    return [{"url": url, "valueString": component(rep, n)} for n, url in PHONE_COMPONENT_EXTENSIONS
            if component(rep, n) and not (n == 7 and is_network)]


def xtn_contact_point(rep: Rep, context: ConversionContext) -> dict[str, Any] | None:
    """XTN[ContactPoint]. XTN.3 Internet/X.400 (or XTN.3 empty with XTN.4 valued): an e-mail
    address from XTN.4; otherwise a phone from XTN.12/XTN.5-8/XTN.1. XTN.5-8 also give the
    guide's contactpoint-country/-area/-local/-extension extensions, so a destination that
    wants the parts need not parse ``value``. XTN.2 gives ``use`` (PRN home, WPN work, PRS
    mobile; NET says nothing of use), XTN.18 ``rank``."""
    equipment, network_address = component(rep, 3), component(rep, 4)
    is_network = equipment in _NETWORK_EQUIPMENT or (not equipment and network_address and not _phone_value(rep))
    value = network_address if is_network else _phone_value(rep)
    if not value:
        return None
    system = "email" if is_network else (context.code("TelecommunicationEquipmentType", equipment) if equipment else "phone")
    if equipment == "CP":
        # The guide maps CP to "mobile", a ContactPoint.use code, not a system: phone + use mobile.
        system = "phone"
    use = context.code("TelecommunicationUseCode", component(rep, 2)) if component(rep, 2) else None
    if equipment == "CP" and not use:
        use = "mobile"
    rank = component(rep, 18)
    return compact({
        "extension": _phone_extensions(rep, is_network),
        "system": system,
        "value": value,
        "use": use,
        "rank": int(rank) if rank.isdigit() and int(rank) > 0 else None,
        "period": compact({"start": dtm_datetime(subcomponents(rep, 13), context),
                           "end": dtm_datetime(subcomponents(rep, 14), context)}),
    })
