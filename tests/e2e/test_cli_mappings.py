"""`carebridge mappings check` and `carebridge map` as an integrator runs them: problems named
once by file, line and key path, never a traceback; the dry run maps as the channel would."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import pytest

from support.config import ROOT, write_test_config
from support.engine_process import engine_env
from support.hl7_messages import adt
from support.mapping_configs import CONFIGS

pytestmark = pytest.mark.e2e

#: A segment map override naming an element Patient does not have: valid YAML and schema, no compile.
BROKEN_PID_MAP = "kind: segment_map\nname: pid_patient\nfields:\n  nonsense: PID-5\n"
#: What the compiler says of it.
BROKEN_PID_PROBLEM = "fields.nonsense: Patient has no element 'nonsense'"

#: Runs the real CLI with the shipped configs read from another directory (a broken copy).
RUN_WITH_CONFIGS = textwrap.dedent("""
    import sys
    from pathlib import Path
    import carebridge.runtime
    carebridge.runtime.MAPPING_CONFIGS = Path(sys.argv[1])
    from carebridge.cli.main import main
    sys.exit(main(sys.argv[2:]))
""")


def carebridge(tmp_path, *args, env=None, configs=None):
    command = [sys.executable, "-c", RUN_WITH_CONFIGS, str(configs), *args] if configs else \
        [sys.executable, "-m", "carebridge.cli", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                          env=engine_env(tmp_path, env or {}), timeout=120)


def test_mappings_check_names_a_broken_channel_override_once_by_file_line_and_path(tmp_path):
    config = write_test_config(tmp_path)
    override = tmp_path / "mappings" / "northside" / "pid_patient.yaml"
    override.parent.mkdir(parents=True)
    override.write_text(BROKEN_PID_MAP)

    result = carebridge(tmp_path, "mappings", "check", env={"CAREBRIDGE_CONFIG": str(config)})

    assert result.returncode == 1
    assert result.stderr.count(f"{override}:4: {BROKEN_PID_PROBLEM}") == 1, result.stderr
    assert "Traceback" not in result.stderr


def broken_shipped_configs(tmp_path):
    configs = tmp_path / "configs"
    shutil.copytree(CONFIGS, configs)
    pid_map = configs / "segments" / "pid_patient.yaml"
    pid_map.write_text(pid_map.read_text().replace("  birthDate: {path: PID-7", "  birthdate: {path: PID-7"))
    return configs, pid_map


def test_mappings_check_reports_a_broken_shipped_config_once_without_a_traceback(tmp_path):
    configs, pid_map = broken_shipped_configs(tmp_path)

    result = carebridge(tmp_path, "mappings", "check", configs=configs)

    assert result.returncode == 1
    problems = [line for line in result.stderr.splitlines() if line.startswith(f"{pid_map}:")]
    assert len(problems) == 1, result.stderr
    assert ": fields.birthdate: Patient has no element 'birthdate'" in problems[0]
    assert "Traceback" not in result.stderr


def test_serve_refuses_broken_shipped_configs_with_the_problem_and_exit_2(tmp_path):
    configs, pid_map = broken_shipped_configs(tmp_path)

    result = carebridge(tmp_path, "serve", "--no-mllp", "--no-http", configs=configs)

    assert result.returncode == 2
    assert "mapping configs refused" in result.stderr
    assert f"{pid_map}:" in result.stderr
    assert "Traceback" not in result.stderr


def test_map_prints_the_good_message_and_names_the_unmappable_one_on_stderr(tmp_path):
    batch = tmp_path / "two.hl7"
    batch.write_bytes(adt("A01", "C1") + adt("A01", "C2", birth_date="19801399"))

    result = carebridge(tmp_path, "map", str(batch))

    assert result.returncode == 1
    [bundle] = [json.loads(line) for line in result.stdout.splitlines()]
    assert bundle["entry"][0]["resource"]["name"][0]["family"] == "Testperson"
    assert f"{batch}: message 2: PID-7: " in result.stderr


def test_map_with_a_channel_decodes_by_the_channel_default_charset(tmp_path):
    config = write_test_config(tmp_path, channels=[{"name": "legacy", "type": "mllp", "port": 0,
                                                    "default_charset": "cp1252"}])
    message = tmp_path / "cp1252.hl7"
    # Not valid UTF-8; read as latin-1 (the last resort) the apostrophe would be a control character.
    message.write_bytes(adt("A01", "C1", family="O’Brien").decode().encode("cp1252"))

    result = carebridge(tmp_path, "map", str(message), "--channel", "legacy", env={"CAREBRIDGE_CONFIG": str(config)})

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["entry"][0]["resource"]["name"][0]["family"] == "O’Brien"


#: Messages enough that their bundles overflow a pipe's buffer (64 KiB on Linux) many times.
MANY_MESSAGES = 200


def test_map_into_a_reader_that_stops_after_one_line_exits_quietly(tmp_path):
    batch = tmp_path / "many.hl7"
    batch.write_bytes(b"".join(adt("A01", f"C{n}", mrn=str(100000 + n)) for n in range(MANY_MESSAGES)))

    # `carebridge map FILE | head -1`: the reader takes one line and closes its end of the pipe.
    process = subprocess.Popen([sys.executable, "-m", "carebridge.cli", "map", str(batch)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=engine_env(tmp_path, {}))
    first = process.stdout.readline()
    process.stdout.close()
    stderr = process.stderr.read().decode()
    process.wait(timeout=120)

    assert json.loads(first)["resourceType"] == "Bundle"
    assert process.returncode in (0, 1)
    assert stderr == ""
