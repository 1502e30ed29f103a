"""The FHIR repository: current versions, history, search index, merging of mapped updates, validation."""
