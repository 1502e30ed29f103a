"""Where the engine finds its bundled configuration: the checkout's config/ folder, or the copy a wheel ships;
and how it makes the folders it keeps its own files in (owner-only).

A checkout (and an editable install) reads config/ at the top of the source tree, wherever the
engine is started from. An engine installed from a wheel has no such folder: it reads
``./config/engine.yaml`` when the working directory has one, and else the copy of config/ that
setup.py put inside the engine package.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The checkout's config/ folder; absent when the engine runs from an installed wheel.
CHECKOUT_CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
#: The copy of config/ a wheel carries inside the engine package (see setup.py).
PACKAGED_CONFIG_DIR = Path(__file__).resolve().parents[1] / "packaged_config"
#: The engine configuration's file name inside a config folder.
CONFIG_FILE_NAME = "engine.yaml"
#: The JSON Schema's file name beside it.
SCHEMA_FILE_NAME = "engine.schema.json"
#: An installed engine's configuration in the working directory, read before the packaged copy.
WORKING_DIR_CONFIG = Path("config") / CONFIG_FILE_NAME
#: Mode of a folder the engine makes for patient data (var/, the database's folder, drop folders): owner only.
PRIVATE_DIRECTORY_MODE = 0o700
#: Mode of a file the engine makes for patient data (the SQLite database; SQLite gives its -wal and -shm the same).
PRIVATE_FILE_MODE = 0o600


def bundled_config_dir() -> Path:
    """The checkout's config/ folder, or the packaged copy when there is no checkout."""
    return CHECKOUT_CONFIG_DIR if (CHECKOUT_CONFIG_DIR / CONFIG_FILE_NAME).is_file() else PACKAGED_CONFIG_DIR


def default_config_path() -> Path:
    """The engine configuration to read when CAREBRIDGE_CONFIG names none."""
    bundled = bundled_config_dir()
    if bundled == PACKAGED_CONFIG_DIR and WORKING_DIR_CONFIG.is_file():
        return WORKING_DIR_CONFIG.resolve()
    return bundled / CONFIG_FILE_NAME


def schema_path() -> Path:
    """The JSON Schema every engine configuration must match."""
    return bundled_config_dir() / SCHEMA_FILE_NAME


def make_private_directory(path: str | os.PathLike) -> Path:
    """Make ``path`` and its missing parents owner-only (:data:`PRIVATE_DIRECTORY_MODE`), whatever the umask.

    A folder that exists already keeps its mode: it may be shared on purpose (``/tmp``, a mount point).
    """
    path = Path(path)
    missing = []
    current = path
    while not current.exists() and current.parent != current:
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=PRIVATE_DIRECTORY_MODE)
        except FileExistsError:
            continue  # another process made it at the same moment
        os.chmod(directory, PRIVATE_DIRECTORY_MODE)  # mkdir's mode passes through the umask
    return path
