"""Turns received HL7 v2 bytes into an ACK: the pipeline stores and processes, this answers.

Shared by the MLLP listener and HL7-over-HTTP, so both give the same answer for the same bytes.
"""

from __future__ import annotations

import functools
import logging

from sqlalchemy import update

from connectors.inbound.hl7_ack import build_ack
from connectors.inbound.mllp_framing import Frame, FrameProblem
from connectors.inbound.sender_policy import SenderPolicy
from engine.db.models import Message, MessageStatus
from engine.pipeline.hl7 import Outcome, OutcomeStatus, Pipeline
from engine.store.message_store import MessageStore
from mappings.v2.batch import split_batch
from mappings.v2.header import CHARSETS

log = logging.getLogger(__name__)

#: The HL7 error code (table 0357) of each kind of refused frame; 207 for the others.
FRAME_ERROR_CODES = {FrameProblem.OUTSIDE_FRAME: "100"}
#: The HL7 error code of a message refused unread (too large), as for an oversized MLLP frame.
UNREAD_ERROR_CODE = "207"


class Hl7Receiver:
    """Receives HL7 v2 messages for one channel.

    Example::

        receiver = Hl7Receiver(pipeline, store, "mllp")
        ack_bytes = receiver.receive(raw_bytes, peer="10.0.0.5:5123")
    """

    def __init__(self, pipeline: Pipeline, store: MessageStore, channel: str, policy: SenderPolicy | None = None):
        self.pipeline = pipeline
        self.store = store
        self.channel = channel
        self.policy = policy if policy is not None and policy.restricts else None

    def _refuse(self, peer: str | None):
        """The check of this channel's sender policy for a message from ``peer``, or ``None``."""
        return None if self.policy is None else functools.partial(self.policy.refusal, peer)

    def receive(self, raw: bytes, peer: str | None = None) -> bytes:
        if raw.lstrip(b"\xef\xbb\xbf \r\n")[:3] in (b"FHS", b"BHS"):
            return self._receive_batch(raw, peer)
        outcome = self.pipeline.receive_hl7(raw, self.channel, peer, refuse=self._refuse(peer))
        self._log(outcome)
        return self._encode(outcome)

    def _receive_batch(self, raw: bytes, peer: str | None) -> bytes:
        """An FHS/BHS batch: each message goes through the line on its own; the answer is a batch of ACKs."""
        acks = []
        for message in split_batch(raw):
            outcome = self.pipeline.receive_hl7(message, self.channel, peer, refuse=self._refuse(peer))
            self._log(outcome)
            ack = build_ack(outcome)
            self._keep_ack(outcome, ack)
            acks.append(ack.rstrip("\r"))
        header = raw.lstrip(b"\xef\xbb\xbf \r\n").decode("latin-1")
        separator = header[3] if len(header) > 3 else "|"
        encoding = header[4:8] if len(header) > 8 else "^~\\&"
        envelope_in = header.split("\r", 1)[0].split("\n", 1)[0].split(separator)
        batch_id = envelope_in[10] if len(envelope_in) > 10 else ""
        text = "\r".join([f"FHS{separator}{encoding}", f"BHS{separator}{encoding}", *acks,
                          f"BTS{separator}{len(acks)}", f"FTS{separator}1"]) + "\r"
        log.info("channel=%s batch=%s messages=%d", self.channel, batch_id or "-", len(acks))
        return text.encode("utf-8")

    def receive_frame(self, frame: Frame, peer: str) -> bytes:
        """The MLLP listener's handler: a complete frame is received, a broken one kept and refused."""
        if frame.problem is None:
            return self.receive(frame.data, peer)
        outcome = self.pipeline.keep_refused(frame.data, self.channel, peer, reason=frame.problem,
                                             status=MessageStatus.ERROR,
                                             error_code=FRAME_ERROR_CODES.get(frame.kind, "207"))
        self._log(outcome)
        return self._encode(outcome)

    def refuse_unread(self, reason: str) -> bytes:
        """The AR for a message refused before it was read (an HTTP body over the size limit): it cannot
        be kept, and there is no MSH-10 to echo."""
        outcome = Outcome(OutcomeStatus.REJECTED, error_code=UNREAD_ERROR_CODE, reason=reason)
        self._log(outcome)
        return self._encode(outcome)

    def _keep_ack(self, outcome: Outcome, ack: str) -> None:
        """Keep the ACK with the message it answers, for the console; failing to keep it never withholds it."""
        if outcome.message_id is None:
            return
        try:
            with self.store.database.write() as session:
                session.execute(update(Message).where(Message.id == outcome.message_id).values(ack=ack))
        except Exception as exc:  # noqa: BLE001 - the sender must get its answer whatever the store does
            log.warning("could not keep the ACK of message %s: %s", outcome.message_id, type(exc).__name__)

    def _log(self, outcome: Outcome) -> None:
        # Ids and codes only: no patient data in logs.
        log.info("channel=%s message=%s type=%s control_id=%s outcome=%s%s", self.channel, outcome.message_id,
                 outcome.header.message_type if outcome.header else None,
                 outcome.header.control_id if outcome.header else None, outcome.status,
                 f" reason={outcome.reason}" if outcome.reason else "")

    def _encode(self, outcome: Outcome) -> bytes:
        text = build_ack(outcome)
        self._keep_ack(outcome, text)
        codec = CHARSETS.get((outcome.header.charset if outcome.header else "").upper(), "utf-8")
        return text.encode(codec, errors="replace")
