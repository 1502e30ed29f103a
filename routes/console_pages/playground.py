"""The mapping playground (``/admin/playground``): an integrator pastes or uploads an HL7 v2 message,
picks a channel, and sees the Bundle the channel's mapping in force makes of it, the FHIR validation
problems of each resource and the mapping's notes or error. Nothing is stored; the message is patient
data, so it is neither logged nor audited, only the use of the playground is."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import Blueprint, render_template, request

from engine.operations.replay_preview import validation_problems
from foundation import decimal_json
from mappings.errors import MappingError
from routes.access_guard import audit, requires
from routes.engine_runtime import current_runtime

console_playground = Blueprint("console_playground", __name__, url_prefix="/admin/playground")

#: Channel types whose messages are HL7 v2 the mapper takes one by one.
HL7_CHANNEL_TYPES = ("mllp", "http")
#: The largest message the playground maps (bytes): a message, not a batch file.
MAX_MESSAGE_BYTES = 1024 * 1024


@dataclass
class Tried:
    """What the mapping in force made of one message: a Bundle, or why it could not."""

    bundle: str | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    #: (resource reference or type, its validation problems), for resources that have any.
    problems: list[tuple[str, list[str]]] = field(default_factory=list)


def hl7_channels() -> list[str]:
    runtime = current_runtime()
    names = [c.name for c in runtime.config.channels if c.type in HL7_CHANNEL_TYPES]
    return names + [name for name in runtime.receivers if name not in names]


def as_segments(raw: bytes) -> bytes:
    """A pasted or uploaded message with its lines ended the HL7 way (CR), whatever the editor used."""
    return raw.replace(b"\r\n", b"\r").replace(b"\n", b"\r").strip(b"\r") + b"\r"


def try_mapping(raw: bytes, channel: str) -> Tried:
    runtime = current_runtime()
    reload = getattr(runtime.mapper, "reload_if_changed", None)
    if reload is not None:
        reload()
    try:
        result = runtime.mapper.map(raw, channel, runtime.pipeline.channel_charsets.get(channel, "utf-8"))
    except MappingError as exc:
        return Tried(error=str(exc))
    tried = Tried(bundle=decimal_json.dumps(result.as_collection_bundle(), indent=2), notes=list(result.notes))
    for n, mapped in enumerate(result.resources, start=1):
        found = validation_problems(mapped.resource)
        if found:
            tried.problems.append((f"entry {n}: {mapped.resource_type}", found))
    return tried


def _submitted() -> tuple[bytes, str | None]:
    upload = request.files.get("file")
    if upload is not None and upload.filename:
        data = upload.read(MAX_MESSAGE_BYTES + 1)
    else:
        data = request.form.get("message", "").encode("utf-8")
    if not data.strip():
        return b"", "Paste a message or choose a file."
    if len(data) > MAX_MESSAGE_BYTES:
        return b"", f"The message is over {MAX_MESSAGE_BYTES // 1024} KiB: the playground maps one message."
    return as_segments(data), None


@console_playground.get("")
@requires("integrate")
def playground():
    channels = hl7_channels()
    return render_template("console/playground.html", channels=channels, channel=channels[0] if channels else None,
                           tried=None, message="")


@console_playground.post("")
@requires("integrate")
def try_message():
    channels = hl7_channels()
    channel = request.form.get("channel", "")
    raw, refusal = _submitted()
    if channel not in channels:
        tried, status = Tried(error=f"Pick one of the channels ({', '.join(channels)})."), 400
    elif refusal:
        tried, status = Tried(error=refusal), 400
    else:
        tried, status = try_mapping(raw, channel), 200
    audit("playground", "console", status=status)
    return render_template("console/playground.html", channels=channels, channel=channel, tried=tried,
                           message=request.form.get("message", "")), status
