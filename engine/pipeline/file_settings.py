"""The options of a file channel (a drop folder, or an SFTP directory) read once from the engine
configuration, with their defaults named here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from engine.config.engine_config import ChannelConfig
from mappings.files.csv_patients import CONFIGS_DIR, CsvPatientMapping
from mappings.files.guards import DEFAULT_MAX_EXPANSION_RATIO
from mappings.files.metadata import compile_pattern
from mappings.files.text_encoding import DEFAULT_FALLBACK_CHARSET

#: Largest file a channel accepts unless it says otherwise (bytes).
DEFAULT_MAX_FILE_BYTES = 50 * 1024 * 1024
#: Largest sidecar (``<name>.json``) a channel reads unless it says otherwise (bytes).
DEFAULT_MAX_SIDECAR_BYTES = 64 * 1024
#: How often a folder is listed even when the watcher reports nothing (seconds).
DEFAULT_POLL_INTERVAL_SECONDS = 2.0
#: How long a file's size and time must stay unchanged before it counts as complete (seconds).
DEFAULT_SETTLE_SECONDS = 1.0
#: How often files waiting for their patient are tried again (seconds).
DEFAULT_WAIT_RETRY_SECONDS = 30.0
#: How long a file may wait for its patient before it goes to ``error/`` (seconds; 7 days).
DEFAULT_WAIT_MAX_SECONDS = 7 * 24 * 3600.0
#: How long a sidecar may wait for the file it describes before it goes to ``error/`` (seconds).
DEFAULT_ORPHAN_SIDECAR_SECONDS = 300.0


@dataclass(frozen=True)
class FileChannelSettings:
    """One file channel's options.

    Example::

        settings = FileChannelSettings.from_config(config.channel("inbox"), base_dir=Path("."))
    """

    name: str
    directory: Path
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_sidecar_bytes: int = DEFAULT_MAX_SIDECAR_BYTES
    max_expansion_ratio: float = DEFAULT_MAX_EXPANSION_RATIO
    #: ``wait`` (park in ``waiting/`` until the patient exists) or ``error``.
    unknown_patient: str = "wait"
    filename_pattern: re.Pattern[str] | None = None
    #: System given to a patient identifier taken from a file name (``{mrn}``).
    patient_identifier_system: str | None = None
    csv_mapping: CsvPatientMapping | None = None
    fallback_charset: str = DEFAULT_FALLBACK_CHARSET
    #: Zone of document times sent without an offset (CDA ``effectiveTime``).
    timezone: str = "UTC"
    #: ``auto`` (inotify through watchdog, polling if it cannot start) or ``poll``.
    watch: str = "auto"
    poll_interval_seconds: float = DEFAULT_POLL_INTERVAL_SECONDS
    settle_seconds: float = DEFAULT_SETTLE_SECONDS
    wait_retry_seconds: float = DEFAULT_WAIT_RETRY_SECONDS
    wait_max_seconds: float = DEFAULT_WAIT_MAX_SECONDS
    orphan_sidecar_seconds: float = DEFAULT_ORPHAN_SIDECAR_SECONDS

    @classmethod
    def from_config(cls, channel: ChannelConfig, config_dir: Path) -> "FileChannelSettings":
        """Settings of a ``folder`` or ``sftp`` channel; a CSV mapping is looked up beside the
        engine config (``csv/<name>.yaml``) before the shipped ones in ``mappings/csv/``."""
        options = channel.options
        if channel.type == "sftp" and not options.get("known_hosts_path") and not options.get("trust_first_host_key"):
            raise ValueError("an sftp channel needs known_hosts_path (the server's host key), or "
                             "trust_first_host_key: true to keep the key seen on the first connection")
        pattern = options.get("filename_pattern")
        csv_name = options.get("csv_mapping")
        csv_mapping = None
        if csv_name:
            local = config_dir / "csv" / f"{csv_name}.yaml"
            csv_mapping = CsvPatientMapping.load(local if local.exists() else CONFIGS_DIR / f"{csv_name}.yaml")
        return cls(
            name=channel.name,
            directory=Path(options.get("directory") or options.get("local_directory") or f"./var/{channel.name}"),
            max_file_bytes=int(options.get("max_file_bytes", DEFAULT_MAX_FILE_BYTES)),
            max_sidecar_bytes=int(options.get("max_sidecar_bytes", DEFAULT_MAX_SIDECAR_BYTES)),
            max_expansion_ratio=float(options.get("max_expansion_ratio", DEFAULT_MAX_EXPANSION_RATIO)),
            unknown_patient=options.get("unknown_patient", "wait"),
            filename_pattern=compile_pattern(pattern) if pattern else None,
            patient_identifier_system=options.get("patient_identifier_system"),
            csv_mapping=csv_mapping,
            fallback_charset=options.get("fallback_charset", DEFAULT_FALLBACK_CHARSET),
            timezone=options.get("timezone", "UTC"),
            watch=options.get("watch", "auto"),
            poll_interval_seconds=float(options.get("poll_interval_seconds", DEFAULT_POLL_INTERVAL_SECONDS)),
            settle_seconds=float(options.get("settle_seconds", DEFAULT_SETTLE_SECONDS)),
            wait_retry_seconds=float(options.get("wait_retry_seconds", DEFAULT_WAIT_RETRY_SECONDS)),
            wait_max_seconds=float(options.get("wait_max_seconds", DEFAULT_WAIT_MAX_SECONDS)),
            orphan_sidecar_seconds=float(options.get("orphan_sidecar_seconds", DEFAULT_ORPHAN_SIDECAR_SECONDS)),
        )
