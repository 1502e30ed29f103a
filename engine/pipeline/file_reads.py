"""Reads a claimed file or its sidecar without trusting what a drop folder holds: only a regular
file is read. A symbolic link is never followed (it could name any file the engine may read), a
FIFO, socket or device is never read (a FIFO blocks its reader until someone writes to it), and
no read takes more than a limit.

The file is looked at with ``lstat`` first, then opened with ``O_NOFOLLOW | O_NONBLOCK`` and
looked at again with ``fstat``, so a file swapped for a link or a FIFO in between is refused too.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from mappings.files.guards import Refused

#: What a file that is not a regular file is, as a reason says it.
_KINDS = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a directory"))
#: Opens without following a link, and without waiting for a FIFO's writer.
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


class TooLarge(Refused):
    """The file holds more than the limit; ``size`` is how much it holds (at least)."""

    def __init__(self, message: str, size: int):
        super().__init__(message)
        self.size = size


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _not_regular(what: str, mode: int) -> Refused:
    unread = "links are never followed, so it was not read" if stat.S_ISLNK(mode) else "it was not read"
    return Refused(f"{what} is {_kind(mode)}, not a regular file; {unread}")


def read_regular_file(path: Path, max_bytes: int, what: str = "file") -> bytes:
    """The bytes of ``path``: :class:`Refused` when it is not a regular file, :class:`TooLarge`
    when it holds more than ``max_bytes``. ``what`` names it in the reason (``"sidecar"``)."""
    mode = os.lstat(path).st_mode
    if not stat.S_ISREG(mode):
        raise _not_regular(what, mode)
    try:
        descriptor = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # replaced by a link since the lstat
            raise _not_regular(what, stat.S_IFLNK) from None
        raise
    with os.fdopen(descriptor, "rb") as handle:
        opened = os.fstat(handle.fileno())
        if not stat.S_ISREG(opened.st_mode):
            raise _not_regular(what, opened.st_mode)
        if opened.st_size > max_bytes:
            raise TooLarge(f"{what} is {opened.st_size} bytes, over the limit of {max_bytes}", opened.st_size)
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:  # it grew while being read
        raise TooLarge(f"{what} is more than {max_bytes} bytes, over the limit", len(data))
    return data
