"""Builds HL7 v2 original-mode acknowledgements (AA, AE, AR) for the pipeline's outcomes.

MSA-2 always echoes the received MSH-10; an AE or AR carries an ERR segment with the
HL7 table 0357 code and a reason that names segments and fields, never patient data.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from engine.pipeline.hl7 import Outcome, OutcomeStatus
from mappings.v2.header import MessageHeader

#: ACK code for each pipeline outcome (HL7 table 0008).
ACK_CODES = {OutcomeStatus.ACCEPTED: "AA", OutcomeStatus.ERROR: "AE", OutcomeStatus.REJECTED: "AR"}
#: Text for ERR-3 codes (HL7 table 0357).
ERROR_TEXT = {
    "0": "Message accepted", "100": "Segment sequence error", "101": "Required field missing",
    "102": "Data type error", "103": "Table value not found", "200": "Unsupported message type",
    "201": "Unsupported event code", "207": "Application internal error",
}
#: Our MSH-3/MSH-4 when the sender's MSH could not be read.
ENGINE_APPLICATION = "CAREBRIDGE"


def _escape(text: str, header: MessageHeader | None) -> str:
    """Escape delimiters in free text with the sender's escape character (HL7 2.7 section 2.7)."""
    field_sep = header.field_separator if header else "|"
    chars = (header.encoding_characters if header else "^~\\&").ljust(4, "&")
    component, repetition, escape, subcomponent = chars[0], chars[1], chars[2], chars[3]
    text = text.replace(escape, f"{escape}E{escape}")
    for char, code in ((field_sep, "F"), (component, "S"), (repetition, "R"), (subcomponent, "T")):
        text = text.replace(char, f"{escape}{code}{escape}")
    return text.replace("\r", " ").replace("\n", " ")


def build_ack(outcome: Outcome) -> str:
    """The ACK for one outcome, as text with CR segment separators."""
    header = outcome.header
    ack_code = ACK_CODES[outcome.status]
    fs = header.field_separator if header else "|"
    enc = header.encoding_characters if header else "^~\\&"
    component = enc[0] if enc else "^"
    now = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S+0000")
    trigger = header.trigger_event if header else ""
    msh = fs.join([
        "MSH", enc,
        header.receiving_application if header and header.receiving_application else ENGINE_APPLICATION,
        header.receiving_facility if header else "",
        header.sending_application if header else "",
        header.sending_facility if header else "",
        now, "",
        component.join(["ACK", trigger, "ACK"]) if trigger else "ACK",
        uuid.uuid4().hex[:20],
        header.processing_id if header and header.processing_id else "P",
        header.version if header and header.version else "2.5.1",
    ])
    text = _escape(outcome.reason or "", header)[:200]
    msa = fs.join(["MSA", ack_code, header.control_id if header else "", text if ack_code != "AA" else ""])
    segments = [msh, msa.rstrip(fs)]
    if ack_code != "AA":
        code = outcome.error_code or "207"
        location = (outcome.error_location or "").replace("-", component) if outcome.error_location else ""
        segments.append(fs.join([
            "ERR", "", location,
            component.join([code, ERROR_TEXT.get(code, "Application error"), "HL70357"]),
            "E", "", "", "", text,
        ]))
    return "\r".join(segments) + "\r"
