"""A task run every few seconds on its own thread, for the engine's housekeeping (the sweeper,
config reloads). A run that raises is logged; the next run happens all the same."""

from __future__ import annotations

import logging
import threading
from typing import Callable

log = logging.getLogger(__name__)


class Periodic:
    """Calls ``task`` every ``interval`` seconds until stopped.

    Example::

        timer = Periodic("carebridge-sweeper", 5.0, sweeper.sweep_once)
        timer.start(); ...; timer.stop()
    """

    def __init__(self, name: str, interval: float, task: Callable[[], object]):
        self.name = name
        self.interval = interval
        self.task = task
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.task()
            except Exception:
                log.exception("%s failed; trying again in %.1fs", self.name, self.interval)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=self.interval + 5)
