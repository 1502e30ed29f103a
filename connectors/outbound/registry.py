"""Builds destination connectors from the engine configuration, one module per kind."""

from __future__ import annotations

import logging
from pathlib import Path

from connectors.outbound.base import Destination
from engine.config import DestinationConfig

log = logging.getLogger(__name__)

#: Where each destination kind's field maps live unless the config names another folder.
FIELD_MAPS_ROOT = Path(__file__).resolve().parent.parent.parent / "mappings"


def build_destination(config: DestinationConfig) -> Destination | None:
    """The connector for one configured destination, or ``None`` if it is disabled or not set up."""
    if not config.enabled:
        return None
    options = config.options
    if config.type == "carepatron":
        from connectors.outbound.carepatron import CarepatronDestination
        from mappings.field_maps import FieldMaps

        if not options.get("api_key"):
            log.info("destination %s is off: no Carepatron API key (set CAREPATRON_API_KEY)", config.name)
            return None
        field_maps = FieldMaps.load(Path(options.get("field_maps") or FIELD_MAPS_ROOT / "carepatron"))
        return CarepatronDestination(config.name, options["base_url"], options["api_key"], field_maps,
                                     float(options.get("timeout_seconds", 30)))
    log.warning("destination %s: kind %r is not available yet; it is off", config.name, config.type)
    return None
