"""Charsets of senders that mislabel: MSH-18 decides unless the channel forces one; bytes the
declared charset cannot decode are read in the channel's default before latin-1."""

from __future__ import annotations

import pytest

from mappings.mapper import Mapper
from support.mapping_configs import AUTHORITIES, CONFIGS


def message(family: str, charset: str) -> str:
    return (f"MSH|^~\\&|A|HOSP|CB|CB|20240101||ADT^A28|1|P|2.5|||||AU|{charset}\r"
            f"PID|1||55^^^HOSP^MR||{family}||19800101|F\r")


def family(mapper: Mapper, raw: bytes, **kwargs) -> str:
    return mapper.map(raw, **kwargs).resources[0].resource["name"][0]["family"]


@pytest.fixture
def channels(tmp_path):
    """A mapper whose channel "mislabelled" forces UTF-8 (its sender says 8859/1 and sends UTF-8)."""
    settings = tmp_path / "mislabelled" / "settings.yaml"
    settings.parent.mkdir()
    settings.write_text("kind: channel_settings\nname: settings\nforced_charset: utf-8\n")
    return Mapper.from_directories(configs_dir=CONFIGS, overrides_dir=tmp_path, authority_systems=AUTHORITIES), tmp_path


def test_a_forced_charset_decodes_a_message_whose_msh_18_is_wrong(channels):
    mapper, _ = channels
    raw = message("Müller", "8859/1").encode("utf-8")
    assert family(mapper, raw, channel="mislabelled") == "Müller"


def test_without_a_forced_charset_msh_18_decides(channels):
    mapper, _ = channels
    raw = message("Müller", "8859/1").encode("utf-8")
    assert family(mapper, raw) == "MÃ¼ller"
    assert family(mapper, message("Müller", "8859/1").encode("latin-1"), channel="other") == "Müller"


def test_bytes_the_declared_charset_cannot_decode_are_read_in_the_channel_default(mapper):
    raw = message("O’Brien", "ASCII").encode("cp1252")
    assert family(mapper, raw, default_charset="cp1252") == "O’Brien"
    assert family(mapper, message("Müller", "ASCII").encode("utf-8")) == "Müller"


def test_bytes_no_charset_decodes_are_read_as_latin_1(mapper):
    raw = message("M\xfcller", "UNICODE UTF-8").encode("latin-1")
    assert family(mapper, raw, default_charset="utf-8") == "Müller"


def test_an_unknown_forced_charset_is_a_config_problem(channels):
    mapper, directory = channels
    (directory / "mislabelled" / "settings.yaml").write_text(
        "kind: channel_settings\nname: settings\nforced_charset: klingon-8\n")
    assert "channel mislabelled: unknown forced_charset 'klingon-8'" in mapper.check()


def test_a_forced_charset_must_be_text_by_the_schema(channels):
    mapper, directory = channels
    settings = directory / "mislabelled" / "settings.yaml"
    settings.write_text("kind: channel_settings\nname: settings\nforced_charset: [utf-8]\n")
    assert any(p.startswith(f"{settings}:3: forced_charset:") for p in mapper.check())
