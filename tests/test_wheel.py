"""A wheel built from the checkout carries every file the engine reads from its own package folders."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: What the build does not need and a copy of the checkout leaves behind.
NOT_SOURCES = shutil.ignore_patterns(".venv", ".git", "build", "dist", "var", "*.egg-info", "__pycache__",
                                     ".pytest_cache", ".hypothesis", "tests", "benchmarks", "docs")


def _tracked(folder: str, pattern: str) -> set[str]:
    return {path.relative_to(ROOT).as_posix() for path in (ROOT / folder).rglob(pattern) if path.is_file()
            and "__pycache__" not in path.parts}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # Built from a copy so a stale build/ folder in the checkout cannot supply a file the build forgot.
    source = tmp_path_factory.mktemp("source") / "carebridge"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCES)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(out)], check=True, timeout=120)
    return next(out.glob("carebridge-*.whl"))


@pytest.fixture(scope="module")
def wheel_files(wheel) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def test_wheel_carries_the_alembic_migrations(wheel_files):
    expected = _tracked("engine/db/schema", "*.py") | _tracked("engine/db/schema", "*.mako")
    assert any("/versions/" in name for name in expected)
    assert expected <= wheel_files


def test_wheel_carries_the_mapping_configs_and_their_schemas(wheel_files):
    expected = _tracked("mappings/configs", "*.yaml") | _tracked("mappings", "*.schema.json")
    assert "mappings/schema/mapping-config.schema.json" in expected
    assert expected <= wheel_files


def test_wheel_carries_the_carepatron_field_maps_and_the_csv_map(wheel_files):
    expected = _tracked("mappings/carepatron", "*.yaml") | _tracked("mappings/csv", "*.yaml")
    assert "mappings/carepatron/client.yaml" in expected
    assert expected <= wheel_files


def test_wheel_carries_the_console_templates(wheel_files):
    expected = _tracked("routes/templates", "*.html")
    assert expected and expected <= wheel_files


def test_wheel_carries_the_consoles_static_files(wheel_files):
    expected = _tracked("routes/static", "*")
    assert "routes/static/console/console.css" in expected and expected <= wheel_files


def test_wheel_carries_a_copy_of_the_bundled_config(wheel_files):
    expected = {"engine/packaged_config/" + path.removeprefix("config/") for path in _tracked("config", "*")}
    assert "engine/packaged_config/engine.yaml" in expected
    assert "engine/packaged_config/engine.schema.json" in expected
    assert expected <= wheel_files


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A venv holding only the wheel; its dependencies come from the project's venv through a .pth line."""
    target = tmp_path_factory.mktemp("installed") / "venv"
    venv.EnvBuilder(with_pip=False).create(target)
    python = target / "bin" / "python"
    site_packages = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                   check=True, capture_output=True, text=True).stdout.strip()
    # A .pth path line adds the folder without running its own .pth files, so the
    # checkout's editable install stays out.
    Path(site_packages, "project-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
                    "--disable-pip-version-check", str(wheel)], check=True, timeout=120)
    return target


def _run_installed(installed: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("CAREBRIDGE_") and key != "PYTHONPATH"}
    env["CAREBRIDGE_VAR_DIR"] = str(cwd / "var")
    return subprocess.run([str(installed / "bin" / "carebridge"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def test_installed_engine_checks_its_packaged_config_outside_the_checkout(installed, tmp_path):
    result = _run_installed(installed, tmp_path, "config", "check")
    assert result.returncode == 0, result.stderr
    assert "/packaged_config/engine.yaml: valid" in result.stdout
    assert str(installed) in result.stdout and str(ROOT) not in result.stdout


def test_installed_engine_loads_its_packaged_mapping_configs(installed, tmp_path):
    result = _run_installed(installed, tmp_path, "mappings", "check")
    assert result.returncode == 0, result.stderr
    assert "all valid" in result.stdout


def test_installed_engine_prefers_the_working_directory_config(installed, tmp_path):
    (tmp_path / "config").mkdir()
    shutil.copy(ROOT / "config" / "engine.yaml", tmp_path / "config" / "engine.yaml")
    result = _run_installed(installed, tmp_path, "config", "check")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{tmp_path / 'config' / 'engine.yaml'}: valid")


def test_installed_engine_runs_its_packaged_migrations(installed, tmp_path):
    result = _run_installed(installed, tmp_path, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert "database schema at revision" in result.stdout and "None" not in result.stdout
