"""An exception's message may quote the HL7 it failed on: when the pipeline logs an unexpected
failure, it names the message id, where in the code it happened and the exception's type,
never the exception's text."""

from __future__ import annotations

import logging

from connectors.inbound.hl7_receiver import Hl7Receiver
from support.hl7_messages import adt

#: A fictional MRN, in the message and in the exception's message.
MRN = "F-PIPELOG-7"


class ExplodingMapper:
    """A mapper with a bug whose exception quotes the message (what a real bug might do)."""

    def map(self, raw, channel=None, default_charset="utf-8", header=None):
        raise ValueError(f"cannot map PID-3 {MRN} of {raw[:200]!r}")


class ExplodingRepository:
    """The real repository, except that writing raises with the patient's identifier in the message."""

    def __init__(self, real):
        self.real = real

    def apply_mapping(self, session, resources, message_id=None):
        raise ValueError(f"cannot write the Patient with identifier {MRN}")

    def __getattr__(self, name):
        return getattr(self.real, name)


def receive_logged(runtime, control_id: str, caplog) -> bytes:
    """The ACK for an ADT of the patient ``MRN`` received over the HL7 line, its logs in ``caplog``."""
    with caplog.at_level(logging.INFO):
        return Hl7Receiver(runtime.pipeline, runtime.store, "mllp").receive(adt("A01", control_id, mrn=MRN))


def test_unexpected_mapping_failure_is_logged_with_its_code_location_and_without_its_message(make_runtime,
                                                                                             caplog):
    runtime = make_runtime(mapper=ExplodingMapper(), workers=0)
    assert b"MSA|AE|LOG-1" in receive_logged(runtime, "LOG-1", caplog)
    assert "mapping failed unexpectedly for message" in caplog.text
    assert "in map" in caplog.text and "builtins.ValueError" in caplog.text
    assert MRN not in caplog.text


def test_unexpected_write_failure_is_logged_with_its_code_location_and_without_its_message(make_runtime, caplog):
    runtime = make_runtime(mapper="bundled", workers=0)
    runtime.pipeline.repository = ExplodingRepository(runtime.pipeline.repository)
    assert b"MSA|AE|LOG-2" in receive_logged(runtime, "LOG-2", caplog)
    assert "writing resources failed for message" in caplog.text
    assert "in apply_mapping" in caplog.text and "builtins.ValueError" in caplog.text
    assert MRN not in caplog.text
