"""The names of HL7 v2 segments and their fields (``PID-5`` is "Patient Name"), for showing a
message to a person; the mapping never reads them.

The table is ``field_names.json`` beside this module. Most of it comes from the segment
tables of HL7's V2-to-FHIR guide (their "Identifier" and "Name" columns); segments the
guide does not map (GT1, FT1, RGS, PRB, ODS, ODT, ERR) are kept by hand in the same file,
from the v2.5.1 standard. Names are those of the versions the engine maps, 2.3 to 2.5.1,
where a later version renamed a field only slightly. Regenerate the guide's part with::

    python -m mappings.v2.field_names /path/to/v2-to-fhir/mappings/segments
"""

from __future__ import annotations

import csv
import functools
import json
import re
import sys
from pathlib import Path

#: The table: segment id -> its name, and field number -> field name.
TABLE = Path(__file__).with_name("field_names.json")
#: A field's identifier as the guide's CSVs write it.
_IDENTIFIER = re.compile(r"([A-Z][A-Z0-9]{2})-(\d+)")
#: Where the generated part of the table comes from.
GUIDE = "v2-to-fhir"


@functools.cache
def _segments() -> dict[str, dict]:
    return json.loads(TABLE.read_text(encoding="utf-8"))["segments"]


def segment_name(segment: str) -> str | None:
    """``"Patient Identification"`` for ``PID``; ``None`` for a segment the table lacks (a Z-segment)."""
    found = _segments().get(segment)
    return found["name"] if found else None


def field_name(segment: str, number: int) -> str | None:
    """``"Patient Name"`` for ``("PID", 5)``; ``None`` when the table has no name for it."""
    found = _segments().get(segment)
    return found["fields"].get(str(number)) if found else None


def names_from_guide(folder: Path) -> dict[str, dict[str, str]]:
    """Field names per segment from the guide's segment CSVs (the first name met wins)."""
    found: dict[str, dict[str, str]] = {}
    for path in sorted(folder.glob("*.csv")):
        with path.open(encoding="utf-8-sig", newline="") as handle:
            for row in csv.reader(handle):
                match = _IDENTIFIER.fullmatch(row[1].strip()) if len(row) > 2 else None
                if match and row[2].strip():
                    found.setdefault(match.group(1), {}).setdefault(match.group(2), " ".join(row[2].split()))
    return found


def regenerate(folder: Path, table: Path = TABLE) -> None:
    """Refresh the guide's part of ``table`` from its CSVs, keeping the hand-kept segments and names."""
    data = json.loads(table.read_text(encoding="utf-8"))
    for segment, fields in names_from_guide(folder).items():
        entry = data["segments"].setdefault(segment, {"name": segment})
        entry["source"] = GUIDE
        entry["fields"] = dict(sorted(fields.items(), key=lambda item: int(item[0])))
    data["segments"] = dict(sorted(data["segments"].items()))
    table.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    regenerate(Path(sys.argv[1]))
