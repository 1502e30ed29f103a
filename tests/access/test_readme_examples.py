"""The README's quick start, as written: registering an API client, getting a token with curl,
and calling the FHIR API and HL7 over HTTP with it, against ``carebridge serve`` with
authentication on."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support.config import ROOT
from support.engine_process import start_engine

MARKER = "<!-- readme-token-example:"


def _token_block() -> str:
    readme = (ROOT / "README.md").read_text()
    after = readme[readme.index(MARKER):]
    return re.search(r"```sh\n(.*?)```", after, re.S).group(1)


@pytest.mark.e2e
@pytest.mark.skipif(shutil.which("curl") is None, reason="the README's example uses curl")
def test_the_readme_token_example_works_as_written(tmp_path):
    engine = start_engine(tmp_path, {"CAREBRIDGE_AUTH": "on", "CAREBRIDGE_ADMIN_PASSWORD": "readme example 1"})
    try:
        work = tmp_path / "shell"
        work.mkdir()
        (work / ".venv").symlink_to(Path(sys.prefix))  # the venv the tests run in
        (work / "config").symlink_to(ROOT / "config")
        script = _token_block().replace("127.0.0.1:8080", f"127.0.0.1:{engine.http_port}")
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=work, env={**os.environ, **engine.env},
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        bundle, end = json.JSONDecoder().raw_decode(result.stdout)  # curl adds no newline after it
        ack = result.stdout[end:]
        assert bundle["resourceType"] == "Bundle"
        assert "MSA|AA" in ack
        assert json.loads((work / "demo-client.json").read_text())["scope"] == "system/*.rs hl7.send"
    finally:
        assert engine.stop() == 0
