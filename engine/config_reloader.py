"""Picks up edited configs while the engine runs: every few seconds each reloadable part
checks its files, and a change takes effect for the next message. Invalid edits are refused
by the part itself (logged with file, line and path) and the last good version stays.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

log = logging.getLogger(__name__)


class ConfigReloader:
    """Runs ``reload_if_changed`` checks on a timer, off the message path.

    Example::

        reloader = ConfigReloader({"mappings": mapper.reload_if_changed}, interval=2)
        reloader.start(); ...; reloader.stop()
    """

    def __init__(self, checks: dict[str, Callable[[], bool]], interval: float):
        self.checks = checks
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

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

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.check_once()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="carebridge-config-reloader", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=self.interval + 5)
