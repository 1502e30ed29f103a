"""The FHIR R4 REST interactions without a web server: read, search, history, writes and Bundles."""
