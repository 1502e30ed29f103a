"""Input as senders really send it: escapes, segment breaks, charsets, batches, versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from mappings.v2.batch import split_batch
from mappings.v2.header import read_header

PID = "PID|1||55^^^HOSP^MR||{name}||19800101|F\r"


def message(pid: str, version: str = "2.5", charset: str = "") -> str:
    return f"MSH|^~\\&|A|HOSP|CB|CB|20240101||ADT^A28|1|P|{version}|||||AU|{charset}\r" + pid


def family(mapper, raw: bytes, **kwargs) -> str:
    return mapper.map(raw, **kwargs).resources[0].resource["name"][0]["family"]


@pytest.mark.parametrize("escaped, text", [
    ("A\\F\\B", "A|B"), ("A\\S\\B", "A^B"), ("A\\T\\B", "A&B"), ("A\\R\\B", "A~B"),
    ("A\\E\\B", "A\\B"), ("\\X4F\\Brien", "OBrien"),
])
def test_escape_sequences_are_decoded(mapper, escaped, text):
    assert family(mapper, message(PID.format(name=escaped)).encode()) == text


@pytest.mark.parametrize("separator", ["\r", "\n", "\r\n"])
def test_segments_may_be_separated_by_cr_lf_or_crlf(mapper, separator):
    raw = message(PID.format(name="Doe")).replace("\r", separator).encode()
    assert family(mapper, raw) == "Doe"


@pytest.mark.parametrize("charset, encoding", [("8859/1", "latin-1"), ("UNICODE UTF-8", "utf-8"), ("ASCII", "ascii")])
def test_msh_18_decides_the_charset(mapper, charset, encoding):
    name = "Muller" if encoding == "ascii" else "Müller"
    assert family(mapper, message(PID.format(name=name), charset=charset).encode(encoding)) == name


def test_a_channel_default_charset_fixes_a_sender_that_does_not_declare_one(mapper):
    raw = message(PID.format(name="Müller")).encode("latin-1")
    assert family(mapper, raw, default_charset="latin-1") == "Müller"


#: The HL7 versions senders use; each has a golden message using its own fields
#: (2.3 SCH-11 TQ timing, 2.5 TQ1, 2.7 and 2.8 PID-40 telecom with XTN.12).
VERSIONS = ["2.3", "2.4", "2.5", "2.6", "2.7", "2.8"]


def test_golden_messages_cover_every_version_from_2_3_to_2_8():
    # The mapper reads no MSH-12: what differs between versions is which fields carry what,
    # so each version is covered by a golden message in its own shape.
    golden = Path(__file__).parent / "golden"
    versions = {read_header(p.read_bytes()).version for p in golden.glob("*.hl7")}
    assert {".".join(v.split(".")[:2]) for v in versions} >= set(VERSIONS)


def test_repeated_fields_each_become_an_element(mapper):
    pid = "PID|1||55^^^HOSP^MR~66^^^OTHER^PI||Doe^J~Roe^J||19800101|F\r"
    resource = mapper.map(message(pid).encode()).resources[0].resource
    assert [i["value"] for i in resource["identifier"]] == ["55", "66"]
    assert [n["family"] for n in resource["name"]] == ["Doe", "Roe"]


def test_an_empty_field_keeps_the_stored_value_and_an_explicit_null_clears_it(mapper):
    kept = mapper.map(message("PID|1||55^^^HOSP^MR||Doe||\r").encode()).resources[0]
    cleared = mapper.map(message('PID|1||55^^^HOSP^MR||Doe||""\r').encode()).resources[0]
    assert "birthDate" not in kept.resource and kept.clear == []
    assert "birthDate" not in cleared.resource and "birthDate" in cleared.clear


def test_a_batch_splits_into_its_messages_without_the_envelope(mapper):
    one, two = message(PID.format(name="One")), message(PID.format(name="Two"))
    batch = f"FHS|^~\\&|A\rBHS|^~\\&|A\r{one}{two}BTS|2\rFTS|1\r".replace("\r", "\r\n").encode()
    messages = split_batch(batch)
    assert [family(mapper, m) for m in messages] == ["One", "Two"]
    assert all(b"BTS" not in m and b"FHS" not in m for m in messages)


def test_each_message_of_a_batch_maps_with_its_own_type_and_control_id(mapper):
    charge = ("MSH|^~\\&|BILL|HOSP|CB|CB|20240125||DFT^{event}|{control_id}|P|2.5\r"
              "PID|1||55^^^HOSP^MR||Doe\r"
              "FT1|1|{control_id}-1||20240125||CG|99213^Office visit^CPT|||1|80.00&AUD\r")
    batch = ("FHS|^~\\&|BILL|HOSP\rBHS|^~\\&|BILL|HOSP\r" + message(PID.format(name="Doe"))
             + charge.format(event="P03", control_id="B2") + charge.format(event="P11", control_id="B3")
             + "BTS|3\rFTS|1\r").encode()
    results = [mapper.map(m) for m in split_batch(batch)]
    assert [r.message_type for r in results] == ["ADT^A28", "DFT^P03", "DFT^P11"]
    # A DFT's Invoice is identified by its own message's control id (MSH-10).
    invoices = [r.resource["identifier"][0]["value"] for result in results for r in result.resources
                if r.resource_type == "Invoice"]
    assert invoices == ["B2", "B3"]


def test_identifiers_without_an_authority_take_the_sending_facility(mapper):
    resource = mapper.map(message("PID|1||55||Doe\r").encode()).resources[0].resource
    assert resource["identifier"][0]["system"] == "urn:oid:1.2.36.146.595.217.0.1"


def test_an_explicit_null_inside_an_object_clears_that_member_only(mapper):
    visit = ("MSH|^~\\&|A|HOSP|CB|CB|20240101||ADT^A13|1|P|2.5\r"
             "PID|1||55^^^HOSP^MR||Doe\r"
             "PV1|1|I|||||||||||||||||V1^^^HOSP^VN" + "|" * 26 + '""\r')
    encounter = next(r for r in mapper.map(visit.encode()).resources if r.resource_type == "Encounter")
    assert "period" not in encounter.resource
    assert encounter.clear == ["period.end"]
