"""HL7 v2 over HTTP: ``POST /hl7`` with a message as the body answers with its ACK, through
the same receiver as MLLP, for senders that cannot open an MLLP connection.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from routes.engine_runtime import current_runtime

hl7_http = Blueprint("hl7", __name__)


@hl7_http.post("/hl7")
@hl7_http.post("/hl7/<channel>")
def receive(channel: str = "http"):
    runtime = current_runtime()
    receiver = runtime.receivers.get(channel)
    if receiver is None:
        return Response(f"no HL7 channel named {channel!r}\n", status=404, mimetype="text/plain")
    ack = receiver.receive(request.get_data(cache=False), peer=request.remote_addr)
    # As in the HL7 over HTTP profile: the HTTP status says the message was received and
    # answered; MSA-1 in the body says what became of it (AA, AE or AR).
    return Response(ack, status=200, mimetype="x-application/hl7-v2+er7")
