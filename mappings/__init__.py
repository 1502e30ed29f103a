"""HL7 v2 to FHIR R4 mapping: the boundary the pipeline calls, datatype converters and integrator-edited configs."""
