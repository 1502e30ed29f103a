"""A CSV of patients as FHIR Patients, one per row, with the column mapping in a YAML config
(``mappings/csv/patients.yaml``) that integrators edit instead of code."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from foundation.yaml_files import load_config_file, load_schema
from mappings.datatypes.context import compact
from mappings.errors import MappingError
from mappings.result import MappedResource

#: The JSON Schema every CSV patient mapping must match.
SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schema" / "csv-patients.schema.json"
#: Where the shipped CSV mappings live.
CONFIGS_DIR = Path(__file__).resolve().parents[1] / "csv"
#: Patient elements of an address, in the order FHIR lists them.
ADDRESS_PARTS = ("line", "city", "state", "postalCode", "country")


@dataclass(frozen=True)
class Column:
    """One mapped column: its header name, and how its text becomes a FHIR value."""

    name: str
    date_format: str | None = None
    values: dict[str, str] | None = None

    @classmethod
    def of(cls, spec: str | dict[str, Any]) -> "Column":
        if isinstance(spec, str):
            return cls(spec.strip().lower())
        return cls(spec["column"].strip().lower(), spec.get("date_format"), spec.get("values"))

    def value(self, row: dict[str, str], row_number: int) -> str | None:
        text = (row.get(self.name) or "").strip()
        if not text:
            return None
        if self.values is not None:
            if text not in self.values:
                raise MappingError(f"row {row_number}, column {self.name}", "value is not in the mapping's values")
            return self.values[text]
        if self.date_format:
            try:
                return datetime.strptime(text, self.date_format).date().isoformat()
            except ValueError:
                raise MappingError(f"row {row_number}, column {self.name}",
                                   f"not a date in the format {self.date_format}") from None
        return text


@dataclass(frozen=True)
class CsvPatientMapping:
    """A validated column mapping.

    Example::

        mapping = CsvPatientMapping.load(CONFIGS_DIR / "patients.yaml")
        patients = mapping.map("mrn,first_name,last_name\\n1001,Ada,Fictional\\n")
    """

    identifier: Column
    identifier_system: str | None
    identifier_system_column: Column | None
    columns: dict[str, Column]
    delimiter: str = ","

    @classmethod
    def load(cls, path: str | Path) -> "CsvPatientMapping":
        """Load and validate a mapping; raises :class:`foundation.yaml_files.ConfigError` naming the bad key."""
        data = load_config_file(path, load_schema(SCHEMA_PATH))
        identifier = data["identifier"]
        return cls(Column.of(identifier["column"]), identifier.get("system"),
                   Column.of(identifier["system_column"]) if identifier.get("system_column") else None,
                   {element: Column.of(spec) for element, spec in data["columns"].items()},
                   data.get("delimiter", ","))

    def required_columns(self) -> set[str]:
        """The identifier's columns; other mapped columns may be absent (exports differ), leaving elements out."""
        return {self.identifier.name} | ({self.identifier_system_column.name} if self.identifier_system_column else set())

    def map(self, text: str) -> list[MappedResource]:
        """One Patient per data row; the whole file is refused if its header or any row is wrong."""
        reader = csv.DictReader(io.StringIO(text), delimiter=self.delimiter)
        reader.fieldnames = [(name or "").strip().lower() for name in reader.fieldnames or []]
        missing = sorted(self.required_columns() - set(reader.fieldnames))
        if missing:
            raise MappingError("header", f"missing columns: {', '.join(missing)}")
        return [self._patient(row, number) for number, row in enumerate(reader, start=2)
                if any((v or "").strip() for v in row.values() if isinstance(v, str))]

    def _patient(self, row: dict[str, str], number: int) -> MappedResource:
        value = self.identifier.value(row, number)
        if not value:
            raise MappingError(f"row {number}, column {self.identifier.name}", "the patient identifier is empty")
        system = (self.identifier_system_column.value(row, number) if self.identifier_system_column else None) \
            or self.identifier_system
        found = {element: column.value(row, number) for element, column in self.columns.items()}
        identifier = compact({"system": system, "value": value})
        name = compact({"family": found.get("family"), "given": (found.get("given") or "").split(),
                        "prefix": [found["prefix"]] if found.get("prefix") else None})
        address = compact({part: [found[part]] if part == "line" and found.get(part) else found.get(part)
                           for part in ADDRESS_PARTS})
        resource = compact({
            "resourceType": "Patient",
            "identifier": [identifier],
            "name": [name] if name else None,
            "telecom": [compact({"system": system_name, "value": found.get(element), "use": use})
                        for element, system_name, use in (("email", "email", None), ("mobile", "phone", "mobile"),
                                                          ("phone", "phone", None)) if found.get(element)],
            "gender": found.get("gender"),
            "birthDate": found.get("birthDate"),
            "address": [address] if address else None,
        })
        return MappedResource(resource, identity=[("identifier", f"{system}|{value}" if system else value)])
