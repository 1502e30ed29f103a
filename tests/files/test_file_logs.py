"""File names may carry patient identifiers, and exceptions may quote them: when a file channel
logs a failure, it names the channel, the message id and the code, never the exception's text."""

from __future__ import annotations

import logging

from engine.db.database import Database
from engine.db.migrations import upgrade
from engine.fhir_api.writes import FhirWriter
from engine.pipeline.file_settings import FileChannelSettings
from engine.pipeline.file_writes import FileWriter
from engine.pipeline.files import ERROR, FileReceiver
from engine.repository.resources import FhirRepository
from engine.store.message_store import MessageStore

#: A fictional MRN, in the file's name and in the exception's message.
MRN = "F-LOGGED-9"


class ExplodingCsvMapping:
    """A CSV mapping with a bug whose exception quotes the file (what a real bug might do)."""

    def map(self, text: str):
        raise ValueError(f"cannot map the row of {MRN} in /inbox/processing/{MRN}_patients.csv")


def test_unexpected_failure_is_logged_with_its_code_location_and_without_its_message(tmp_path, caplog):
    database = Database(f"sqlite:///{tmp_path / 'carebridge.db'}")
    upgrade(database)
    repository = FhirRepository(database)
    writer = FileWriter(FhirWriter(database, repository, router=None, enqueue=lambda ids: None))
    settings = FileChannelSettings(name="inbox", directory=tmp_path, csv_mapping=ExplodingCsvMapping())
    receiver = FileReceiver(settings, MessageStore(database), None, writer, repository, database)
    path = tmp_path / f"{MRN}_patients.csv"
    path.write_bytes(f"mrn,first_name,last_name\n{MRN},Lou,Logged\n".encode())
    try:
        with caplog.at_level(logging.INFO):
            outcome = receiver.receive(path)
    finally:
        database.dispose()
    assert (outcome.status, outcome.reason) == (ERROR, "internal error: ValueError")
    assert f"channel=inbox message={outcome.message_id}" in caplog.text
    assert "in map" in caplog.text and "builtins.ValueError" in caplog.text
    assert MRN not in caplog.text
