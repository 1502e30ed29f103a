"""The guide's datatype converters, by the name configs use for them (``type: CX``).

Each converter takes one HL7 value (a repetition: components of subcomponents) and a
:class:`~mappings.datatypes.context.ConversionContext`, and returns a FHIR JSON value or
``None`` when there is nothing to carry.
"""

from __future__ import annotations

from typing import Any, Callable

from mappings.datatypes import codes, contacts, identifiers, people, times, values
from mappings.datatypes.context import ConversionContext
from mappings.v2.message import Rep

Converter = Callable[[Rep, ConversionContext], Any]

#: Converter names a config's ``type:`` may use, with the guide table each follows.
CONVERTERS: dict[str, Converter] = {
    "string": values.string,             # ST[string], ID[code], IS[code]
    "code": values.string,
    "NM": values.number,                 # NM[decimal]
    "boolean": values.boolean,           # ID[boolean]
    "date": times.dtm_date,              # DTM[date] (birthDate)
    "dateTime": times.dtm_datetime,      # DTM[dateTime], TS[dateTime]
    "instant": times.dtm_instant,        # DTM[dateTime] where FHIR wants an instant
    "timedDateTime": times.dtm_timed_datetime,  # DTM[dateTime] when a time is sent (birth time)
    "CX": identifiers.cx_identifier,     # CX[Identifier]
    "EI": identifiers.ei_identifier,     # EI[Identifier-System]
    "ST_identifier": identifiers.st_identifier,  # ST[Identifier]
    "XPN": people.xpn_name,              # XPN[HumanName]
    "XCN_name": people.xcn_name,         # XCN[Practitioner].name
    "XCN_identifier": people.xcn_identifier,  # XCN[Practitioner].identifier
    "XCN_qualification": people.xcn_qualification,  # XCN[Practitioner].qualification
    "XAD": contacts.xad_address,         # XAD[Address]
    "XTN": contacts.xtn_contact_point,   # XTN[ContactPoint]
    "CWE": codes.cwe_codeable_concept,   # CWE[CodeableConcept]
    "CE": codes.cwe_codeable_concept,    # CE[CodeableConcept]
    "CNE": codes.cwe_codeable_concept,   # CNE[CodeableConcept]
    "CWE_coding": codes.cwe_coding,      # CWE[Coding]
    "ED": values.ed_attachment,          # ED[Attachment]
}
