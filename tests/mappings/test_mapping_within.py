"""Segment groups with ``within``: a resource built per segment inside each instance of an
earlier resource only (each OBX under an OBR that became a report), and its references."""

from __future__ import annotations

import pytest

from mappings.mapper import ChannelProblems, Mapper

#: Reports only for final OBRs (OBR-25 F); their OBX become results, the others' OBX do not.
CONFIG = """\
kind: message
name: panels
handles: [ORU^R01]
resources:
  - id: panel
    type: DiagnosticReport
    each: OBR
    when: {path: OBR-25, equals: F}
    fields:
      status: {value: final}
      code: {path: OBR-4, type: CWE}
      result: {ref: result, all: true}
  - id: result
    type: Observation
    each: OBX
    within: panel
    fields:
      status: {value: final}
      code: {path: OBX-3, type: CWE}
"""

MESSAGE = ("MSH|^~\\&|LAB|HOSP|CB|CB|20240122||ORU^R01|1|P|2.5.1\r"
           "OBR|1|||LIPID^Lipids^L|||||||||||||||||||||F\r"
           "OBX|1|NM|CHOL^Cholesterol^L||5.2\r"
           "OBX|2|NM|HDL^HDL^L||1.4\r"
           "OBR|2|||GLU^Glucose^L|||||||||||||||||||||P\r"
           "OBX|1|NM|GLU^Glucose^L||6.1\r").encode()


def mapper_with(tmp_path, config: str) -> Mapper:
    (tmp_path / "panels.yaml").write_text(config)
    return Mapper.from_directories(configs_dir=tmp_path)


def test_within_builds_results_only_under_the_groups_that_became_resources(tmp_path):
    resources = mapper_with(tmp_path, CONFIG).map(MESSAGE).resources
    panels = [r for r in resources if r.resource_type == "DiagnosticReport"]
    results = [r for r in resources if r.resource_type == "Observation"]
    assert [p.resource["code"]["coding"][0]["code"] for p in panels] == ["LIPID"]
    assert [r.resource["code"]["coding"][0]["code"] for r in results] == ["CHOL", "HDL"]
    assert panels[0].resource["result"] == [{"reference": r.full_url} for r in results]


def test_without_within_every_segment_of_the_message_is_built(tmp_path):
    resources = mapper_with(tmp_path, CONFIG.replace("    within: panel\n", "")).map(MESSAGE).resources
    assert len([r for r in resources if r.resource_type == "Observation"]) == 3


def test_within_must_name_a_resource_defined_before(tmp_path):
    swapped = CONFIG.replace("within: panel", "within: later")
    with pytest.raises(ChannelProblems, match="within names 'later', not a resource defined before this one"):
        mapper_with(tmp_path, swapped)
