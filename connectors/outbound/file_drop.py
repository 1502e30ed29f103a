"""A folder as a destination: each delivery written atomically (a temporary file, then a
rename), so a reader never sees half a file.

``json``: one file per resource, ``<Type>/<id>.json``, replaced by each newer version (the
engine's ordering keeps an older version from replacing a newer one); a deletion removes it
and leaves ``<Type>/<id>.deleted.json``. ``ndjson``: an event stream, one file per delivery,
``events/<YYYYMMDD>/<delivery id>.ndjson`` holding one event line; a retried delivery rewrites
its own file, so no event is written twice.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from connectors.outbound.events import event_of
from engine.delivery.destination import Delivered, DeliveryItem, Outcome, RetryLater
from foundation import decimal_json


def write_atomically(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` so readers see the old file or the new one, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".carebridge-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class FileDropDestination:
    """Writes resources as JSON or NDJSON into a folder.

    Example::

        drop = FileDropDestination("export", Path("/srv/export"), "json")
    """

    def __init__(self, name: str, directory: Path, fmt: str = "json"):
        self.name = name
        self.directory = Path(directory)
        self.format = fmt

    def deliver(self, item: DeliveryItem) -> Outcome:
        try:
            return self._ndjson(item) if self.format == "ndjson" else self._json(item)
        except OSError as exc:  # a full or missing disk may come back; the errno name is enough
            return RetryLater(f"cannot write to the drop folder ({type(exc).__name__})")

    def _json(self, item: DeliveryItem) -> Outcome:
        resource = item.resource
        folder = self.directory / resource["resourceType"]
        target = folder / f"{resource['id']}.json"
        if item.deleted:
            write_atomically(folder / f"{resource['id']}.deleted.json",
                             decimal_json.dumps(event_of(item)).encode("utf-8"))
            target.unlink(missing_ok=True)
            return Delivered(target.name, "deleted from the drop folder")
        write_atomically(target, decimal_json.dumps(resource, indent=1).encode("utf-8"))
        return Delivered(target.name, f"wrote {resource['resourceType']}/{target.name}")

    def _ndjson(self, item: DeliveryItem) -> Outcome:
        target = self.directory / "events" / time.strftime("%Y%m%d", time.gmtime()) / f"{item.delivery_id}.ndjson"
        line = decimal_json.dumps(event_of(item), compact=True) + "\n"
        write_atomically(target, line.encode("utf-8"))
        return Delivered(None, f"wrote events/{target.parent.name}/{target.name}")

    def ping(self) -> bool:
        return self.directory.is_dir() and os.access(self.directory, os.W_OK)
