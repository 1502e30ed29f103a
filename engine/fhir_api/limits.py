"""Limits on the work one FHIR request may cost: how deep its JSON nests, the entries of a Bundle,
the operations of a JSON Patch and the size they may grow a resource to, and the values and
parameters of a search.

Each is checked before the work it bounds (the body's depth before it is parsed, a Bundle's
entries before any write begins), and a request over one is answered with a 4xx
OperationOutcome naming the limit and the setting that raises it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from engine.config.environment import positive_int
from engine.fhir_api.errors import FhirError

#: Deepest a request's JSON may nest arrays and objects (a Bundle of nested Questionnaire items nests about 20).
DEFAULT_MAX_JSON_DEPTH = 100
#: The most the JSON depth may be raised to: the FHIR models' validation recurses several frames
#: a level, and runs out of stack at about 240.
JSON_DEPTH_CEILING = 200
#: Most entries one batch or transaction Bundle posted to the API may hold.
DEFAULT_MAX_BUNDLE_ENTRIES = 1000
#: Most operations one JSON Patch may hold.
DEFAULT_MAX_PATCH_OPERATIONS = 100
#: Largest resource a JSON Patch may make, as compact JSON (bytes); one that was larger may stay so.
DEFAULT_MAX_PATCH_RESULT_BYTES = 1024 * 1024
#: Most values one search parameter may OR (``family=a,b,c``): each is a clause of the query.
DEFAULT_MAX_SEARCH_VALUES = 100
#: Most values one search may hold in all its parameters together: its cost grows faster than their number.
DEFAULT_MAX_SEARCH_TOTAL_VALUES = 1000
#: Most parameters one search may have: each criterion is a clause ANDed with the others.
DEFAULT_MAX_SEARCH_PARAMETERS = 100
#: Most ids ``_id`` may list (one ``IN`` list, not clauses): a page of 1000 with as many included.
DEFAULT_MAX_SEARCH_IDS = 2000

#: The settings that raise each limit.
MAX_JSON_DEPTH_SETTING = "CAREBRIDGE_FHIR_MAX_JSON_DEPTH"
MAX_BUNDLE_ENTRIES_SETTING = "CAREBRIDGE_FHIR_MAX_BUNDLE_ENTRIES"
MAX_PATCH_OPERATIONS_SETTING = "CAREBRIDGE_FHIR_MAX_PATCH_OPERATIONS"
MAX_PATCH_RESULT_BYTES_SETTING = "CAREBRIDGE_FHIR_MAX_PATCH_RESULT_BYTES"
MAX_SEARCH_VALUES_SETTING = "CAREBRIDGE_FHIR_MAX_SEARCH_VALUES"
MAX_SEARCH_TOTAL_VALUES_SETTING = "CAREBRIDGE_FHIR_MAX_SEARCH_TOTAL_VALUES"
MAX_SEARCH_PARAMETERS_SETTING = "CAREBRIDGE_FHIR_MAX_SEARCH_PARAMETERS"
MAX_SEARCH_IDS_SETTING = "CAREBRIDGE_FHIR_MAX_SEARCH_IDS"


def over_limit(status: int, code: str, what: str, limit: int, setting: str,
               expressions: list[str] | None = None, issue_type: str = "too-long") -> FhirError:
    """``what`` is more than ``limit``: the diagnostics name the limit and the setting that raises it.

    ``what`` says what was counted, never a value sent: ``"the Bundle has 5000 entries"``. The
    issue type is FHIR's ``too-long`` (content), or ``too-costly`` for work such as a search.
    """
    return FhirError(status, issue_type, code, f"{what}, over the limit of {limit} ({setting})", expressions)


@dataclass(frozen=True)
class FhirLimits:
    """Example: ``FhirLimits.from_environ(settings.environ).max_bundle_entries``."""

    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH
    max_bundle_entries: int = DEFAULT_MAX_BUNDLE_ENTRIES
    max_patch_operations: int = DEFAULT_MAX_PATCH_OPERATIONS
    max_patch_result_bytes: int = DEFAULT_MAX_PATCH_RESULT_BYTES
    max_search_values: int = DEFAULT_MAX_SEARCH_VALUES
    max_search_total_values: int = DEFAULT_MAX_SEARCH_TOTAL_VALUES
    max_search_parameters: int = DEFAULT_MAX_SEARCH_PARAMETERS
    max_search_ids: int = DEFAULT_MAX_SEARCH_IDS

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> "FhirLimits":
        """The limits the environment sets; raise :class:`ConfigError` naming a bad variable."""
        return cls(
            max_json_depth=positive_int(environ, MAX_JSON_DEPTH_SETTING, DEFAULT_MAX_JSON_DEPTH, JSON_DEPTH_CEILING),
            max_bundle_entries=positive_int(environ, MAX_BUNDLE_ENTRIES_SETTING, DEFAULT_MAX_BUNDLE_ENTRIES),
            max_patch_operations=positive_int(environ, MAX_PATCH_OPERATIONS_SETTING, DEFAULT_MAX_PATCH_OPERATIONS),
            max_patch_result_bytes=positive_int(environ, MAX_PATCH_RESULT_BYTES_SETTING,
                                             DEFAULT_MAX_PATCH_RESULT_BYTES),
            max_search_values=positive_int(environ, MAX_SEARCH_VALUES_SETTING, DEFAULT_MAX_SEARCH_VALUES),
            max_search_total_values=positive_int(environ, MAX_SEARCH_TOTAL_VALUES_SETTING,
                                              DEFAULT_MAX_SEARCH_TOTAL_VALUES),
            max_search_parameters=positive_int(environ, MAX_SEARCH_PARAMETERS_SETTING, DEFAULT_MAX_SEARCH_PARAMETERS),
            max_search_ids=positive_int(environ, MAX_SEARCH_IDS_SETTING, DEFAULT_MAX_SEARCH_IDS),
        )

    def too_deep(self, what: str = "the body") -> FhirError:
        """The 400 of JSON nested deeper than :attr:`max_json_depth`."""
        return over_limit(400, "json-too-deep", f"{what} nests arrays and objects too deeply", self.max_json_depth,
                          MAX_JSON_DEPTH_SETTING)

    def check_bundle_entries(self, count: int) -> None:
        """Refuse a Bundle of ``count`` entries (413), before any of them is read."""
        if count > self.max_bundle_entries:
            raise over_limit(413, "too-many-entries", f"the Bundle has {count} entries", self.max_bundle_entries,
                             MAX_BUNDLE_ENTRIES_SETTING, ["Bundle.entry"])
