"""The file formats providers drop: what a file holds, guards against hostile files, text decoding,
sidecars, and how CDA, CSV, FHIR JSON and documents become FHIR resources."""
