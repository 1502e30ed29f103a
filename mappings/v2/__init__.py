"""HL7 v2 as the mapping reads it: the MSH header, segments and fields, config paths, batches."""
