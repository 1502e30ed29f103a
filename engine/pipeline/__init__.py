"""The pipeline: the one line every inbound HL7 message and file takes, stored, mapped, written, routed."""
