"""Limits on the work one HL7 v2 message may cost: its segments and the repetitions of any one
field, counted on the raw bytes before it is parsed, and the identifiers of any resource it maps
to, counted before anything is looked up or written.

A message over a limit is kept (status ``error``, its reason naming the limit and the setting
that raises it) and answered with AE, so an operator can replay it after raising the limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from engine.config.environment import positive_int
from mappings.errors import MappingError
from mappings.result import MappedResource
from mappings.v2.header import MessageHeader
from mappings.v2.structure import most_repeated_field, segment_count

#: Most segments one message may hold.
DEFAULT_MAX_SEGMENTS = 2000
#: Most repetitions one field may hold (``~`` separated).
DEFAULT_MAX_REPETITIONS = 100
#: Most identifiers one mapped resource may carry (each is looked up to find the stored resource).
DEFAULT_MAX_IDENTIFIERS = 100

#: The settings that raise each limit.
MAX_SEGMENTS_SETTING = "CAREBRIDGE_HL7_MAX_SEGMENTS"
MAX_REPETITIONS_SETTING = "CAREBRIDGE_HL7_MAX_REPETITIONS"
MAX_IDENTIFIERS_SETTING = "CAREBRIDGE_HL7_MAX_IDENTIFIERS"


class OverLimit(MappingError):
    """A message, or a resource it maps to, is larger than a limit; the reason names the limit."""


@dataclass(frozen=True)
class Hl7Limits:
    """Example: ``Hl7Limits.from_environ(settings.environ).message_problem(raw, header)``."""

    max_segments: int = DEFAULT_MAX_SEGMENTS
    max_repetitions: int = DEFAULT_MAX_REPETITIONS
    max_identifiers: int = DEFAULT_MAX_IDENTIFIERS

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> "Hl7Limits":
        """The limits the environment sets; raise :class:`ConfigError` naming a bad variable."""
        return cls(positive_int(environ, MAX_SEGMENTS_SETTING, DEFAULT_MAX_SEGMENTS),
                   positive_int(environ, MAX_REPETITIONS_SETTING, DEFAULT_MAX_REPETITIONS),
                   positive_int(environ, MAX_IDENTIFIERS_SETTING, DEFAULT_MAX_IDENTIFIERS))

    def message_problem(self, raw: bytes, header: MessageHeader) -> OverLimit | None:
        """Why the message is too large to map, or ``None``; a scan of the bytes, no parse."""
        segments = segment_count(raw, self.max_segments)
        if segments > self.max_segments:
            return OverLimit(None, f"message has {segments} segments, over the limit of {self.max_segments} "
                                   f"({MAX_SEGMENTS_SETTING})")
        repeated = most_repeated_field(raw, header, self.max_repetitions)
        if repeated is not None:
            location, count = repeated
            return OverLimit(location, f"field repeats {count} times, over the limit of {self.max_repetitions} "
                                       f"repetitions ({MAX_REPETITIONS_SETTING})")
        return None

    def resources_problem(self, resources: Iterable[MappedResource]) -> OverLimit | None:
        """Why the mapped resources are too large to look up and write, or ``None``."""
        for mapped in resources:
            count = max(len(mapped.resource.get("identifier") or []), len(mapped.identity))
            if count > self.max_identifiers:
                return OverLimit(None, f"a mapped {mapped.resource_type} has {count} identifiers, over the "
                                       f"limit of {self.max_identifiers} ({MAX_IDENTIFIERS_SETTING})")
        return None
