"""Tracebacks for the logs without the exception's message: a message may quote a path whose
file name carries a patient identifier, a value read from a file or an HL7 field."""

from __future__ import annotations

import traceback


def code_trace(error: BaseException) -> str:
    """Where ``error`` was raised (source file, line and function of each frame) and its type.

    Example::

        log.error("channel=%s message=%s: failed%s", channel, message_id, code_trace(exc))
    """
    frames = traceback.extract_tb(error.__traceback__)
    return "".join(f"\n  {frame.filename}:{frame.lineno} in {frame.name}" for frame in frames) + \
        f"\n{type(error).__module__}.{type(error).__qualname__} (message left out: it may quote patient data)"
