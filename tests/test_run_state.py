"""Run state never loses a record: reading never writes, a torn tail is kept beside the file, a bad line stops
the run with its file, line and the command that moves it aside, and duplicate ids are one record."""

import json

import pytest
from typer.testing import CliRunner

from constitutional.cli import app
from constitutional.core.errors import ConstitutionalError
from constitutional.core.runs import CallCache, RecordStore, RunDir

S = "constitutional.test/1"


def _line(i: int) -> str:
    return json.dumps({"schema": S, "id": f"r{i}", "value": i})


def _store(tmp_path, text: bytes | str) -> RecordStore:
    path = tmp_path / "run" / "stage" / "records.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return RecordStore(path, S)


def test_a_complete_last_record_without_a_newline_is_kept_and_reading_writes_nothing(tmp_path):
    store = _store(tmp_path, _line(1))
    before = store.path.read_bytes()
    assert [r["id"] for r in store] == ["r1"] and store.ids() == {"r1"}
    RecordStore(store.path, S)  # opening, as a reading stage does
    assert store.path.read_bytes() == before
    store.append({"id": "r2"})
    assert [r["id"] for r in store] == ["r1", "r2"] and store.path.read_bytes().count(b"\n") == 2


def test_a_torn_tail_is_skipped_when_reading_and_kept_beside_the_file_when_appending(tmp_path):
    store = _store(tmp_path, _line(1) + "\n" + _line(2)[:17])
    before = store.path.read_bytes()
    assert [r["id"] for r in store] == ["r1"] and store.path.read_bytes() == before
    store.append({"id": "r2"})
    assert [r["id"] for r in store] == ["r1", "r2"]
    assert (store.path.parent / "records.jsonl.torn").read_text() == _line(2)[:17] + "\n"


@pytest.mark.parametrize(("bad", "words"), [
    ('{"schema": "constitutional.test/1", "id": "r9", "val', "not a JSON record"),
    (b"\xff\xfe not utf-8", "not UTF-8"),
    ("[1, 2, 3]", "not a JSON object"),
    ('{"schema": "constitutional.test/1", "value": 3}', "no string 'id'"),
])
def test_a_bad_line_in_the_middle_names_its_file_and_line_and_doctor_moves_it_aside(tmp_path, bad, words):
    bad = bad if isinstance(bad, bytes) else bad.encode()
    store = _store(tmp_path, _line(1).encode() + b"\n" + bad + b"\n" + _line(3).encode() + b"\n")
    with pytest.raises(ConstitutionalError) as e:
        list(store)
    assert e.value.line == 2 and words in e.value.problem and "constitutional doctor" in e.value.hint
    assert str(store.path) in e.value.render()
    r = CliRunner().invoke(app, ["doctor", str(tmp_path / "run")])
    assert r.exit_code == 0, r.output
    assert [x["id"] for x in store] == ["r1", "r3"]
    assert (store.path.parent / "records.jsonl.quarantine").read_bytes() == b"2\t" + bad + b"\n"


def test_duplicate_ids_are_one_record(tmp_path):
    store = _store(tmp_path, "\n".join([_line(1), _line(2), _line(1)]) + "\n")
    assert [r["id"] for r in store] == ["r1", "r2"] and store.ids() == {"r1", "r2"}


def test_a_corrupt_manifest_or_cache_is_reported_and_doctor_moves_it_aside(tmp_path):
    root = tmp_path / "run"
    root.mkdir()
    (root / "manifest.json").write_text('{"stages": {"distill": ', encoding="utf-8")
    (root / "cache.sqlite").write_bytes(b"this is not sqlite" * 100)
    run = RunDir(root)
    with pytest.raises(ConstitutionalError, match="manifest is corrupt") as e:
        run.manifest()
    assert "constitutional doctor" in e.value.hint
    with pytest.raises(ConstitutionalError, match="call cache"):
        CallCache(root / "cache.sqlite")
    r = CliRunner().invoke(app, ["doctor", str(root)])
    assert r.exit_code == 0 and (root / "manifest.json.corrupt").is_file() and (root / "cache.sqlite.corrupt").is_file()
    assert run.manifest()["stages"] == {} and CallCache(root / "cache.sqlite").get_many(["x"]) == {}
