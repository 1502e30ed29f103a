"""The official FHIR R4 examples (npm package ``hl7.fhir.r4.examples``, CC0), fetched once into ``.cache/``.

The package is about 19 MB packed and 190 MB unpacked, so it is kept as the tarball
``npm pack`` downloads and only the examples of the requested types are read from it.
Without npm the tests that need it are skipped, unless ``CI=true``: then they fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
from decimal import Decimal
from pathlib import Path

import pytest

PACKAGE = "hl7.fhir.r4.examples"
VERSION = "4.0.1"
#: Where the tarball is kept between runs (gitignored).
CACHE = Path(__file__).resolve().parents[2] / ".cache" / "npm"
#: How long ``npm pack`` may take.
NPM_TIMEOUT_SECONDS = 300


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the R4 examples are required)")
    pytest.skip(reason)


def examples_tarball() -> Path:
    """The package tarball, downloaded with ``npm pack`` when it is not cached yet."""
    tarball = CACHE / f"{PACKAGE}-{VERSION}.tgz"
    if tarball.exists():
        return tarball
    npm = shutil.which("npm")
    if npm is None:
        _unavailable("npm is not installed: install Node.js/npm to fetch hl7.fhir.r4.examples")
    CACHE.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([npm, "pack", f"{PACKAGE}@{VERSION}", "--pack-destination", str(CACHE)],
                            capture_output=True, text=True, timeout=NPM_TIMEOUT_SECONDS)
    if result.returncode != 0 or not tarball.exists():
        _unavailable(f"npm pack {PACKAGE} failed: {result.stderr.strip()[-300:]}")
    return tarball


def load_examples(types: tuple[str, ...]) -> list[dict]:
    """Every example resource of ``types`` (files named ``package/<Type>-<id>.json``)."""
    pattern = re.compile(rf"^package/({'|'.join(types)})-[^/]+\.json$")
    found = []
    with tarfile.open(examples_tarball(), "r:gz") as archive:
        for member in archive:
            if member.isfile() and pattern.match(member.name):
                # Decimals as written, so a test can tell 1.0 from 1.00.
                resource = json.load(archive.extractfile(member), parse_float=Decimal)
                if resource.get("resourceType") in types and resource.get("id"):
                    found.append(resource)
    return sorted(found, key=lambda r: (r["resourceType"], r["id"]))
