"""Carebridge's core: settings, records, message store, FHIR repository, pipeline, routing, queue and CLI."""
