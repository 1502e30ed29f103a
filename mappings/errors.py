"""Errors a mapping raises; each says enough for an operator to act, and never carries patient data."""

from __future__ import annotations

from foundation.errors import CarebridgeError


class MappingError(CarebridgeError):
    """The message could not be mapped; names the segment and field at fault.

    Example: ``MappingError("PID-7", "not a valid HL7 DTM date/time")``.
    """

    #: HL7 table 0357 error condition code sent back in the ACK's ERR segment.
    hl7_error_code = "207"

    def __init__(self, location: str | None, reason: str):
        self.location = location
        self.reason = reason
        super().__init__(f"{location}: {reason}" if location else reason)


class InternalMappingError(MappingError):
    """A bug in Carebridge, not the sender's fault: the message is kept as an error like any
    other, the log names the code location, and tests can tell it from a refused message."""


class UnsupportedMessage(MappingError):
    """No mapping config handles this message type; the message is kept as ``unsupported``."""

    hl7_error_code = "200"

    def __init__(self, message_type: str):
        super().__init__("MSH-9", f"no mapping for message type {message_type or '(none)'}")
        self.message_type = message_type


class UnparseableMessage(MappingError):
    """The bytes are not an HL7 v2 message (no MSH segment, broken encoding characters)."""

    hl7_error_code = "100"
