"""The root of Carebridge's own errors: ``except CarebridgeError`` catches every error the product
raises on purpose (a bad config, a mapping error, a FHIR API error, a refused file), and
nothing that is a bug."""


class CarebridgeError(Exception):
    """An error Carebridge raises on purpose, with a message an operator can act on."""
