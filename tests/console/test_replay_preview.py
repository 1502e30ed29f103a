"""Replay with a preview (/admin/replay/<id>, GET /admin/api/messages/<id>/replay-preview,
``carebridge messages replay ID --diff``): what the mapping in force now would change in each resource a
stored message wrote, element by element, computed without writing; the console's Replay needs a
confirmation, and the values before and after are shown only to roles that may see patient data."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import func, select

from engine.db.models import Message, MessageResource, ResourceVersion
from engine.operations.replay_preview import diff, flatten
from support.access import csrf_of
from support.hl7_messages import adt
from support.reloads import reload_once_settled

#: A channel override that maps every patient's birth date to one value: the field a replay changes.
BIRTH_DATE_OVERRIDE = """\
kind: segment_map
name: pid_patient
fields:
  birthDate: {value: "1999-01-01"}
"""


@pytest.fixture
def stored(secured) -> int:
    """The id of an ADT^A01 received on the mllp channel and mapped by the shipped configs."""
    outcome = secured.pipeline.receive_hl7(adt("A01", "RP-1", birth_date="19800214"), "mllp")
    assert outcome.status == "accepted", outcome.reason
    return outcome.message_id


def edit_mapping(runtime) -> None:
    override = runtime.settings.config_path.parent / "mappings" / "mllp" / "pid_patient.yaml"
    override.parent.mkdir(parents=True, exist_ok=True)
    override.write_text(BIRTH_DATE_OVERRIDE)
    assert reload_once_settled(runtime.mapper.reload_if_changed)


def written(runtime) -> tuple[int, int, int]:
    with runtime.database.read() as session:
        return (session.scalar(select(func.count()).select_from(ResourceVersion)),
                session.scalar(select(func.count()).select_from(MessageResource)),
                session.scalar(select(func.sum(Message.attempts))) or 0)


def patient_birth_date(runtime) -> str:
    with runtime.database.read() as session:
        [link] = session.scalars(select(MessageResource).where(MessageResource.resource_type == "Patient"))
        return runtime.repository.current(session, "Patient", link.resource_id)["birthDate"]


def diff_rows(page: str) -> list[tuple[str, ...]]:
    """The (kind, element, cells...) rows of the page's diff tables, as text."""
    rows = re.findall(r'<tr class="(added|removed|changed)">(.*?)</tr>', page, re.S)
    return [tuple(html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
                  for cell in re.findall(r"<td>(.*?)</td>", body, re.S)) for _, body in rows]


def test_flattened_paths_name_list_items_and_leave_out_server_elements():
    resource = {"resourceType": "Patient", "id": "p1", "meta": {"versionId": "2"},
                "name": [{"family": "Doe", "given": ["Ada"]}]}
    assert flatten(resource) == {"resourceType": "Patient", "name[0].family": "Doe", "name[0].given[0]": "Ada"}


def test_the_diff_tells_added_removed_and_changed_elements_apart():
    before = {"gender": "female", "birthDate": "1980-02-14"}
    after = {"gender": "female", "birthDate": "1999-01-01", "name": [{"family": "Doe"}]}
    found = [(c.kind, c.path, c.before, c.after) for c in diff(before, after)]
    assert found == [("added", "name[0].family", None, "Doe"), ("changed", "birthDate", "1980-02-14", "1999-01-01")]
    assert [(c.kind, c.path) for c in diff(after, before)] == [("removed", "name[0].family"),
                                                               ("changed", "birthDate")]


def test_an_unchanged_mapping_previews_no_change(secured, signed_in, stored):
    page = signed_in("operator").get(f"/admin/replay/{stored}").get_data(as_text=True)
    assert 'id="unchanged"' in page and diff_rows(page) == []


def test_the_preview_shows_the_field_an_edited_mapping_changes_and_writes_nothing(secured, signed_in, stored):
    edit_mapping(secured)
    before = written(secured)
    answer = signed_in("operator").get(f"/admin/replay/{stored}")
    assert answer.status_code == 200
    assert ("changed", "birthDate", "1980-02-14", "1999-01-01") in diff_rows(answer.get_data(as_text=True))
    assert written(secured) == before and patient_birth_date(secured) == "1980-02-14"


def test_confirming_the_replay_updates_the_resource(secured, signed_in, stored):
    edit_mapping(secured)
    client = signed_in("operator")
    page = client.get(f"/admin/replay/{stored}").get_data(as_text=True)
    answer = client.post(f"/admin/replay/{stored}", data={"csrf_token": csrf_of(page), "confirm": "yes"})
    assert answer.status_code == 302 and answer.headers["Location"].endswith(f"/admin/messages/{stored}")
    assert patient_birth_date(secured) == "1999-01-01"
    with client.session_transaction() as session:
        assert any(f"Message {stored} replayed: accepted" in text for _, text in session["_flashes"])


def test_a_replay_without_the_confirmation_replays_nothing(secured, signed_in, stored):
    edit_mapping(secured)
    client = signed_in("operator")
    page = client.get(f"/admin/replay/{stored}").get_data(as_text=True)
    answer = client.post(f"/admin/replay/{stored}", data={"csrf_token": csrf_of(page)})
    assert answer.status_code == 302 and answer.headers["Location"].endswith(f"/admin/replay/{stored}")
    assert patient_birth_date(secured) == "1980-02-14"


def test_a_viewer_may_neither_preview_nor_replay(secured, signed_in, stored):
    client = signed_in("viewer")
    token = csrf_of(client.get("/admin/").get_data(as_text=True))
    assert client.get(f"/admin/replay/{stored}").status_code == 403
    assert client.post(f"/admin/replay/{stored}", data={"csrf_token": token, "confirm": "yes"}).status_code == 403
    assert client.get(f"/admin/api/messages/{stored}/replay-preview").status_code == 403


def test_a_role_without_raw_sees_the_elements_that_change_not_their_values(secured, signed_in, stored):
    edit_mapping(secured)
    page = signed_in("integrator").get(f"/admin/replay/{stored}").get_data(as_text=True)
    assert ("changed", "birthDate") in diff_rows(page) and "1980-02-14" not in page


def test_the_api_gives_the_preview_as_json(secured, signed_in, stored):
    edit_mapping(secured)
    client = signed_in("operator")
    body = client.get(f"/admin/api/messages/{stored}/replay-preview").get_json()
    [patient] = [r for r in body["resources"] if r["resourceType"] == "Patient"]
    assert body["changed"] and patient["lastVersion"] == 1
    assert patient["changes"] == [{"kind": "changed", "path": "birthDate"}]
    valued = client.get(f"/admin/api/messages/{stored}/replay-preview?values=true").get_json()
    [patient] = [r for r in valued["resources"] if r["resourceType"] == "Patient"]
    assert patient["changes"] == [{"kind": "changed", "path": "birthDate", "before": "1980-02-14",
                                   "after": "1999-01-01"}]
    assert client.get("/admin/api/messages/999999/replay-preview").status_code == 404


def test_the_cli_diff_prints_the_preview_and_replays_nothing(secured, stored, monkeypatch, capsys):
    from carebridge.cli.main import main

    edit_mapping(secured)
    for name, value in secured.settings.environ.items():
        monkeypatch.setenv(name, value)
    before = written(secured)
    assert main(["messages", "replay", str(stored), "--diff", "--values"]) == 0
    out = capsys.readouterr().out
    assert f"message {stored} (ADT^A01): a replay would change 1 of" in out
    assert "  changed  birthDate: '1980-02-14' -> '1999-01-01'" in out
    assert written(secured) == before and patient_birth_date(secured) == "1980-02-14"
    assert main(["messages", "replay", str(stored), "--diff"]) == 0
    assert "1980-02-14" not in capsys.readouterr().out
