"""A CDA / C-CDA document as FHIR: ``recordTarget`` becomes the Patient, the document a
DocumentReference (type from ``code``, date from ``effectiveTime``, authors), and the XML
itself its attachment.

Parsed with defusedxml and no DTD at all, so no entity expands and nothing is fetched; the
depth and element count are bounded so a hostile file cannot exhaust the engine.
"""

from __future__ import annotations

import io
from typing import Any
from xml.etree.ElementTree import Element
from zoneinfo import ZoneInfo

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, iterparse

from mappings.datatypes.context import ConversionContext, compact
from mappings.datatypes.times import InvalidDate, dtm_date, dtm_datetime
from mappings.errors import MappingError
from mappings.files.documents import FileResources, binary, document_reference
from mappings.result import MappedResource

NS = "{urn:hl7-org:v3}"
#: Deepest element nesting accepted; real C-CDA stays well under 40.
MAX_XML_DEPTH = 64
#: Most elements one document may hold.
MAX_XML_ELEMENTS = 500_000
#: The LOINC code system's OID as CDA names it.
LOINC_OID = "2.16.840.1.113883.6.1"
#: CDA administrative gender (HL7 v3 AdministrativeGender) to FHIR.
GENDERS = {"M": "male", "F": "female", "UN": "unknown", "O": "other"}
#: CDA telecom ``use`` to FHIR ContactPoint.use.
TELECOM_USE = {"HP": "home", "H": "home", "WP": "work", "MC": "mobile", "TMP": "temp"}
#: CDA address ``use`` to FHIR Address.use.
ADDRESS_USE = {"HP": "home", "H": "home", "WP": "work", "TMP": "temp", "OLD": "old"}
#: The content type the document's attachment is kept as.
CDA_CONTENT_TYPE = "application/xml"


def parse(raw: bytes) -> Element:
    """The document's root element; :class:`MappingError` for unsafe, oversized or broken XML."""
    depth = count = 0
    root = None
    try:
        for event, element in iterparse(io.BytesIO(raw), events=("start", "end"), forbid_dtd=True):
            if event == "end":
                depth -= 1
                continue
            root = element if root is None else root
            depth, count = depth + 1, count + 1
            if depth > MAX_XML_DEPTH:
                raise MappingError(None, f"XML nests deeper than {MAX_XML_DEPTH} elements")
            if count > MAX_XML_ELEMENTS:
                raise MappingError(None, f"XML holds more than {MAX_XML_ELEMENTS} elements")
    except DefusedXmlException as exc:
        raise MappingError(None, f"XML refused: {type(exc).__name__} (DTDs and entities are not allowed)") from None
    except ParseError as exc:
        raise MappingError(None, f"not well-formed XML ({exc})") from None
    if root is None or root.tag != f"{NS}ClinicalDocument":
        raise MappingError(None, "root element is not a CDA ClinicalDocument in the urn:hl7-org:v3 namespace")
    return root


def _find(element: Element | None, path: str) -> Element | None:
    return None if element is None else element.find(path.replace("v3:", NS))


def _findall(element: Element | None, path: str) -> list[Element]:
    return [] if element is None else element.findall(path.replace("v3:", NS))


def _attribute(element: Element | None, name: str) -> str:
    return (element.get(name) or "") if element is not None else ""


def _text(element: Element | None) -> str | None:
    text = "".join(element.itertext()).strip() if element is not None else ""
    return text or None


def identifier(element: Element) -> dict[str, str] | None:
    """A CDA II: root and extension as system and value; a root alone is its own URN."""
    root, extension = element.get("root"), element.get("extension")
    if not root:
        return None
    if extension:
        return {"system": f"urn:oid:{root}" if root[0].isdigit() else f"urn:uuid:{root}", "value": extension}
    return {"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{root}" if root[0].isdigit() else f"urn:uuid:{root}"}


def _time(element: Element | None, context: ConversionContext, location: str, date_only: bool = False) -> str | None:
    value = element.get("value") if element is not None else None
    if not value:
        return None
    try:
        return (dtm_date if date_only else dtm_datetime)([[value]], context)
    except InvalidDate as exc:
        raise MappingError(location, str(exc)) from None


def _name(element: Element) -> dict[str, Any]:
    return compact({"family": _text(_find(element, "v3:family")),
                    "given": [t for g in _findall(element, "v3:given") if (t := _text(g))],
                    "prefix": [t for p in _findall(element, "v3:prefix") if (t := _text(p))],
                    "text": None if _find(element, "v3:family") is not None else _text(element)})


def _telecom(element: Element) -> dict[str, Any] | None:
    value = element.get("value") or ""
    scheme, _, rest = value.partition(":")
    system = {"tel": "phone", "mailto": "email", "fax": "fax", "http": "url", "https": "url"}.get(scheme.lower())
    if not system or not rest:
        return None
    return compact({"system": system, "value": value if system == "url" else rest,
                    "use": TELECOM_USE.get((element.get("use") or "").split(" ")[0])})


def _address(element: Element) -> dict[str, Any]:
    return compact({"use": ADDRESS_USE.get((element.get("use") or "").split(" ")[0]),
                    "line": [t for line in _findall(element, "v3:streetAddressLine") if (t := _text(line))],
                    "city": _text(_find(element, "v3:city")), "state": _text(_find(element, "v3:state")),
                    "postalCode": _text(_find(element, "v3:postalCode")),
                    "country": _text(_find(element, "v3:country"))})


def patient(root: Element, context: ConversionContext) -> MappedResource:
    """The Patient of ``recordTarget/patientRole``, identified by its ids."""
    role = _find(root, "v3:recordTarget/v3:patientRole")
    if role is None:
        raise MappingError("recordTarget", "the document names no patient (recordTarget/patientRole)")
    identifiers = [i for element in _findall(role, "v3:id") if (i := identifier(element))]
    if not identifiers:
        raise MappingError("recordTarget/patientRole/id", "the patient has no id with a root")
    person = _find(role, "v3:patient")
    resource = compact({
        "resourceType": "Patient",
        "identifier": identifiers,
        "name": [n for element in _findall(person, "v3:name") if (n := _name(element))],
        "telecom": [t for element in _findall(role, "v3:telecom") if (t := _telecom(element))],
        "gender": GENDERS.get(_attribute(_find(person, "v3:administrativeGenderCode"), "code")),
        "birthDate": _time(_find(person, "v3:birthTime"), context, "patient/birthTime", date_only=True),
        "address": [a for element in _findall(role, "v3:addr") if (a := _address(element))],
    })
    return MappedResource(resource, identity=[("identifier", f"{i['system']}|{i['value']}") for i in identifiers])


def _authors(root: Element) -> list[str]:
    names = []
    for author in _findall(root, "v3:author/v3:assignedAuthor"):
        name = _find(author, "v3:assignedPerson/v3:name")
        organization = _find(author, "v3:representedOrganization/v3:name")
        if name is not None:
            parts = _name(name)
            names.append(" ".join([*parts.get("prefix", []), *parts.get("given", []), parts.get("family", "")]).strip()
                         or parts.get("text", ""))
        elif organization is not None:
            names.append(_text(organization) or "")
    return [n for n in names if n]


def map_cda(raw: bytes, timezone: str = "UTC") -> FileResources:
    """The Patient, Binary and DocumentReference one CDA document becomes."""
    root = parse(raw)
    context = ConversionContext({}, "", ZoneInfo(timezone), lambda _table, _value: None)
    subject = patient(root, context)
    code = _find(root, "v3:code")
    type_value = _attribute(code, "code") if _attribute(code, "codeSystem") == LOINC_OID else None
    type_display = _attribute(code, "displayName") or None
    document_id = identifier(_find(root, "v3:id")) if _find(root, "v3:id") is not None else None
    reference = document_reference(
        raw, CDA_CONTENT_TYPE, subject=subject.full_url, type_value=type_value or type_display,
        type_display=type_display if type_value else None, title=_text(_find(root, "v3:title")) or type_display,
        date=_time(_find(root, "v3:effectiveTime"), context, "effectiveTime"), authors=_authors(root),
        identifiers=[document_id] if document_id else None)
    return FileResources("CDA", saved=[binary(raw, CDA_CONTENT_TYPE)], mapped=[subject, reference])
