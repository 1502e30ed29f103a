"""Runs a config reload check the way the engine's timer does, for tests that edit a config file."""

from __future__ import annotations

import time
from typing import Callable

from foundation.settled_edits import SETTLE_SECONDS


def reload_once_settled(reload_if_changed: Callable[[], bool]) -> bool:
    """Check once to see the edit, again once it has held still; the second check's answer."""
    reload_if_changed()
    time.sleep(SETTLE_SECONDS)
    return reload_if_changed()
