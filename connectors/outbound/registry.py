"""Builds destination connectors from the engine configuration, one module per kind."""

from __future__ import annotations

import logging
from pathlib import Path

from engine.config.engine_config import DestinationConfig
from engine.delivery.destination import Destination, Throttle

log = logging.getLogger(__name__)

#: Where each destination kind's field maps live unless the config names another folder.
FIELD_MAPS_ROOT = Path(__file__).resolve().parent.parent.parent / "mappings"


def build_destination(config: DestinationConfig, throttle: Throttle | None = None) -> Destination | None:
    """The connector for one configured destination, or ``None`` if it is disabled or not set up."""
    if not config.enabled:
        return None
    options = config.options
    timeout = float(options.get("timeout_seconds", 30))
    if config.type == "carepatron":
        from connectors.outbound.carepatron import MAX_FILE_BYTES, CarepatronDestination
        from mappings.field_maps import FieldMaps

        if not options.get("api_key"):
            log.info("destination %s is off: no Carepatron API key (set CAREPATRON_API_KEY)", config.name)
            return None
        field_maps = FieldMaps.load(Path(options.get("field_maps") or FIELD_MAPS_ROOT / "carepatron"))
        return CarepatronDestination(config.name, options["base_url"], options["api_key"], field_maps, timeout,
                                     throttle, int(options.get("max_file_bytes") or MAX_FILE_BYTES))
    if config.type == "fhir":
        from connectors.outbound.client_credentials import ClientCredentials
        from connectors.outbound.fhir_server import DEFAULT_IDENTIFIER_SYSTEM, FhirServerDestination

        if not options.get("base_url"):
            log.info("destination %s is off: no base_url", config.name)
            return None
        return FhirServerDestination(config.name, options["base_url"],
                                     options.get("identifier_system") or DEFAULT_IDENTIFIER_SYSTEM, timeout,
                                     options.get("headers"), throttle,
                                     ClientCredentials.from_options(options["auth"]) if options.get("auth") else None)
    if config.type == "webhook":
        from connectors.outbound.webhook import WebhookDestination

        if not options.get("url") or not options.get("secret"):
            log.info("destination %s is off: a webhook needs a url and a secret", config.name)
            return None
        return WebhookDestination(config.name, options["url"], options["secret"], timeout, options.get("headers"),
                                  throttle)
    if config.type == "file":
        from connectors.outbound.file_drop import FileDropDestination

        if not options.get("directory"):
            log.info("destination %s is off: no directory", config.name)
            return None
        return FileDropDestination(config.name, Path(options["directory"]), options.get("format") or "json")
    log.warning("destination %s: kind %r is not available; it is off", config.name, config.type)
    return None
