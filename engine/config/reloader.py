"""Picks up edited configs while the engine runs: every few seconds each reloadable part
checks its files, and a change takes effect for the next message once the file has stopped
changing (foundation/settled_edits.py), never half-written. Invalid edits are refused
by the part itself (logged with file, line and path) and the last good version stays.
"""

from __future__ import annotations

import logging
from typing import Callable

from foundation.periodic import Periodic

log = logging.getLogger(__name__)


class ConfigReloader:
    """Runs ``reload_if_changed`` checks on a timer, off the message path.

    Example::

        reloader = ConfigReloader({"mappings": mapper.reload_if_changed}, interval=2)
        reloader.start(); ...; reloader.stop()
    """

    def __init__(self, checks: dict[str, Callable[[], bool]], interval: float):
        self.checks = checks
        self._timer = Periodic("carebridge-config-reloader", interval, self.check_once)

    def check_once(self) -> list[str]:
        """Run every check; returns the names of the parts that reloaded."""
        reloaded = []
        for name, check in self.checks.items():
            try:
                if check():
                    reloaded.append(name)
                    log.info("reloaded %s configuration", name)
            except Exception:
                log.exception("checking %s configuration for changes failed", name)
        return reloaded

    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
