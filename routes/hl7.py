"""HL7 v2 over HTTP: ``POST /hl7`` with a message as the body answers with its ACK, through
the same receiver as MLLP, for senders that cannot open an MLLP connection.
"""

from __future__ import annotations

from flask import Blueprint, Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from routes.engine_runtime import current_runtime

hl7_http = Blueprint("hl7", __name__)
#: The media type of an HL7 v2 message or ACK in ER7 (pipe) encoding.
HL7_MIMETYPE = "x-application/hl7-v2+er7"


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


@hl7_http.errorhandler(RequestEntityTooLarge)
def too_large(_error):
    """A body over the size limit is never read: an AR saying so, with 413, in place of an HTML page."""
    runtime = current_runtime()
    channel = (request.view_args or {}).get("channel", "http")
    receiver = runtime.receivers.get(channel) or runtime.receivers["http"]
    ack = receiver.refuse_unread(f"message larger than the limit of {request.max_content_length} bytes; "
                                 "it was not read, so it is not stored")
    return Response(ack, status=413, mimetype=HL7_MIMETYPE)
