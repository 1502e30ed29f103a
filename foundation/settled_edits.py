"""Tells when an edited config file has stopped changing, so a reload never reads it half-written.

An editor or a script that truncates a file and then writes it leaves, for a moment, a shorter
file that may still be valid YAML (fewer routes, fewer fields); read then, the engine would run
briefly without them. A reload takes an edit only once the file's stamp (modification time,
size, inode) has been seen the same on two checks at least :data:`SETTLE_SECONDS` apart.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

#: How long an edited file must keep the same size and modification time before a reload reads it.
#: A truncate-then-write takes milliseconds; half a second also covers a script writing in pieces.
SETTLE_SECONDS = 0.5

#: A file's (modification time in ns, size, inode); a rename over the file changes the inode.
Stamp = tuple[int, int, int]


def file_stamp(path: Path) -> Stamp | None:
    """The file's stamp, or ``None`` when it cannot be read."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


class EditSettling:
    """Remembers when each changed file was first seen with its current stamp.

    Example::

        settling = EditSettling()
        stamp = file_stamp(path)
        if stamp != last_read and settling.held_still(path, stamp):
            ...read the file, last_read = stamp...
    """

    def __init__(self, settle_seconds: float = SETTLE_SECONDS):
        self.settle_seconds = settle_seconds
        self._first_seen: dict[Path, tuple[Stamp | None, float]] = {}

    def held_still(self, path: Path, stamp: Stamp | None) -> bool:
        """Whether a changed file already had ``stamp`` on a check at least ``settle_seconds`` ago."""
        now = time.monotonic()
        seen = self._first_seen.get(path)
        if seen is None or seen[0] != stamp:
            self._first_seen[path] = (stamp, now)
            return False
        if now - seen[1] < self.settle_seconds:
            return False
        del self._first_seen[path]
        return True

    def forget(self, path: Path) -> None:
        """Drop what is remembered of a file that is gone."""
        self._first_seen.pop(path, None)
