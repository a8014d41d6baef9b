"""The later-typed home files (pins, revocations, review-key wraps, device request, agency
record, log checkpoint, witness state, replay state): a file in the format earlier versions
wrote, typed by hand here, loads through its record and is written back byte for byte; a file
of the wrong shape is a HomeError naming the file, never a KeyError."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from crypto.certs import TrustStore, issue_revocation
from crypto.encoding import b64e
from crypto.keys import RootKey
from liaison.client import agency as agency_ops
from liaison.client import directory, misbehaviour, officer, review, transparency, witness
from liaison.client.errors import HomeError
from liaison.client.home import Home
from liaison.client.records import (
    CheckpointRecord,
    DeviceRequest,
    PinsFile,
    ReviewKeyWraps,
    RevocationNote,
    WitnessState,
    agency_document_from_json,
    replay_state_from_json,
)
from liaison.client.sync import REPLAY_FILE, replay_guard

ROOT = RootKey.from_bytes(bytes(range(32)))
ROOT_A = b64e(ROOT.public)
ROOT_B = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="
HASH = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
# A signed revocation cannot be typed by hand: made with the agency's root, as the log serves it.
REVOCATION = b64e(
    issue_revocation(
        ROOT,
        agency="VN-QN-CA",
        device_id="VN-QN-CA:nguyen.van.an:phone",
        cert_hash=bytes(32),
        reason="lost",
        revoked_at=1764000000,
    ).to_bytes()
)
MESSAGE_ID = "0d" * 16
NOTE = f"liaison.example/log\\n8\\n{HASH}\\n\\n— sig\\n"  # as JSON text

# Each file exactly as the code before the typed records wrote it (json.dumps, indent 2,
# sorted keys, UTF-8, one trailing newline), unknown keys included where a later version
# might add them.
OLD_FILES: dict[str, str] = {
    directory.PINS_FILE: (
        "{\n"
        '  "meta": {\n'
        '    "VN-QN-CA": {\n'
        '      "how": "own-agency",\n'
        '      "pinned_at": 1764000000\n'
        "    }\n"
        "  },\n"
        '  "trust": {\n'
        '    "pins": {\n'
        f'      "VN-QN-CA": "{ROOT_A}"\n'
        "    },\n"
        '    "revocations": [],\n'
        '    "version": 1\n'
        "  }\n"
        "}\n"
    ),
    directory.REVOCATIONS_FILE: (
        "{\n"
        '  "VN-QN-CA:nguyen.van.an:phone": {\n'
        '    "log_index": 12,\n'
        f'    "revocation": "{REVOCATION}"\n'
        "  }\n"
        "}\n"
    ),
    review.REVIEW_WRAPS_FILE: '{\n  "k1": "d3JhcDE=",\n  "k2": "d3JhcDI="\n}\n',
    officer.REQUEST_FILE: (
        "{\n"
        '  "agency": "VN-QN-CA",\n'
        '  "created_at": 1764000000,\n'
        '  "device_id": "VN-QN-CA:nguyen.van.an:phone",\n'
        '  "display_names": {\n'
        '    "vi": "Nguyễn Văn An",\n'
        '    "zh": "阮文安"\n'
        "  },\n"
        '  "encryption_key": "ZW5j",\n'
        '  "format": "liaison-device-request/1",\n'
        '  "officer_id": "nguyen.van.an",\n'
        '  "server": "http://127.0.0.1:8080",\n'
        '  "signing_key": "c2ln"\n'
        "}\n"
    ),
    agency_ops.AGENCY_FILE: (
        "{\n"
        '  "code": "VN-QN-CA",\n'
        '  "country": "VN",\n'
        '  "created_at": 1764000000,\n'
        '  "issued": {\n'
        '    "VN-QN-CA:tran.thi.binh:desk": {\n'
        '      "cert_hash": "aGFzaA==",\n'
        '      "certificate": "Y2VydA==",\n'
        '      "not_after": 1795536000,\n'
        '      "role": "supervisor",\n'
        '      "serial": 1\n'
        "    }\n"
        "  },\n"
        '  "name_vi": "Công an Quảng Ninh",\n'
        '  "name_zh": "广宁公安",\n'
        '  "next_serial": 2,\n'
        '  "registered_log_index": 3,\n'
        '  "review_key_id": "k1",\n'
        '  "review_keys": [\n'
        "    {\n"
        '      "key_id": "k1",\n'
        '      "keystore": "agency/review.key",\n'
        '      "statement": "c3RtdA=="\n'
        "    }\n"
        "  ],\n"
        '  "review_statement": "c3RtdA==",\n'
        '  "review_wraps": {\n'
        '    "VN-QN-CA:tran.thi.binh:desk": {\n'
        '      "k1": {\n'
        '        "published": true,\n'
        '        "wrap": "d3JhcA=="\n'
        "      }\n"
        "    }\n"
        "  },\n"
        f'  "root_key": "{ROOT_A}"\n'
        "}\n"
    ),
    transparency.CHECKPOINT_FILE: (
        "{\n"
        f'  "note": "{NOTE}",\n'
        '  "origin": "liaison.example/log",\n'
        f'  "root_hash": "{HASH}",\n'
        '  "size": 8\n'
        "}\n"
    ),
    witness.WITNESS_STATE_FILE: (
        f'{{\n  "cosigned_at": 1764000100,\n  "note": "{NOTE}",\n  "size": 8\n}}\n'
    ),
    REPLAY_FILE: (
        "{\n"
        '  "counters": {\n'
        '    "CN-GX-DXGA:li.wei:desk": 4\n'
        "  },\n"
        f'  "seen": [\n    "{MESSAGE_ID}"\n  ],\n'
        '  "version": 1\n'
        "}\n"
    ),
}

# file -> (parse, the JSON value to write back)
ROUND_TRIPS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    directory.PINS_FILE: (PinsFile.from_json, PinsFile.to_json),
    directory.REVOCATIONS_FILE: (RevocationNote.table_from_json, RevocationNote.table_to_json),
    review.REVIEW_WRAPS_FILE: (ReviewKeyWraps.from_json, ReviewKeyWraps.to_json),
    officer.REQUEST_FILE: (DeviceRequest.from_json, DeviceRequest.to_json),
    agency_ops.AGENCY_FILE: (agency_document_from_json, dict),
    transparency.CHECKPOINT_FILE: (CheckpointRecord.from_json, CheckpointRecord.to_json),
    witness.WITNESS_STATE_FILE: (WitnessState.from_json, WitnessState.to_json),
    REPLAY_FILE: (replay_state_from_json, lambda guard: guard.to_dict()),
}


def _home_with(tmp_path: Path, relative: str, text: str) -> Home:
    home = Home(tmp_path / "home")
    home.write_bytes(relative, text.encode("utf-8"))
    return home


@pytest.mark.parametrize("relative", sorted(OLD_FILES))
def test_an_old_file_loads_and_writes_back_byte_for_byte(tmp_path: Path, relative: str) -> None:
    home = _home_with(tmp_path, relative, OLD_FILES[relative])
    parse, dump = ROUND_TRIPS[relative]
    record = home.load_record(relative, parse)
    home.write_json(relative, dump(record))
    assert home.read_bytes(relative) == OLD_FILES[relative].encode("utf-8")


def test_the_typed_readers_see_the_old_files(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    for relative, text in OLD_FILES.items():
        home.write_bytes(relative, text.encode("utf-8"))
    assert directory.pinned_root(home, "VN-QN-CA") == ROOT.public
    assert directory.trust_store(home).is_revoked("VN-QN-CA:nguyen.van.an:phone")
    assert directory.pin_records(home)[0]["how"] == "own-agency"
    note = directory.known_revocations(home)["VN-QN-CA:nguyen.van.an:phone"]
    assert (note.log_index, note.revocation) == (12, REVOCATION)
    request = officer.own_request(home)
    assert request.device_id == "VN-QN-CA:nguyen.van.an:phone"
    assert request.display_names["zh"] == "阮文安"
    assert request.extra == {"format": "liaison-device-request/1"}
    assert agency_ops.load_agency(home)["next_serial"] == 2
    cp = transparency.stored_checkpoint(home)
    assert cp is not None and (cp.origin, cp.size) == ("liaison.example/log", 8)
    assert replay_guard(home).last_counter("CN-GX-DXGA:li.wei:desk") == 4
    state = home.load_record(witness.WITNESS_STATE_FILE, WitnessState.from_json)
    assert state is not None and (state.size, state.cosigned_at) == (8, 1764000100)


def test_pinning_another_agency_keeps_the_old_pin_and_its_meta(tmp_path: Path) -> None:
    home = _home_with(tmp_path, directory.PINS_FILE, OLD_FILES[directory.PINS_FILE])
    directory.pin_root(home, "CN-GX-DXGA", bytes(range(32, 64)), how="fingerprint", at=1764000500)
    written = json.loads(home.read_bytes(directory.PINS_FILE) or b"")
    assert written["meta"] == {
        "VN-QN-CA": {"how": "own-agency", "pinned_at": 1764000000},
        "CN-GX-DXGA": {"how": "fingerprint", "pinned_at": 1764000500},
    }
    assert written["trust"]["pins"] == {"CN-GX-DXGA": ROOT_B, "VN-QN-CA": ROOT_A}


def test_storing_a_checkpoint_writes_the_old_format(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    stored = CheckpointRecord.from_json(json.loads(OLD_FILES[transparency.CHECKPOINT_FILE]))
    assert stored is not None and stored.note is not None
    cp = transparency.Checkpoint(origin=stored.origin, size=stored.size, root_hash=bytes(range(32)))
    transparency._store(home, stored.note, cp)
    assert home.read_bytes(transparency.CHECKPOINT_FILE) == OLD_FILES[
        transparency.CHECKPOINT_FILE
    ].encode("utf-8")


def test_absent_and_null_files_read_as_nothing_stored(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    for _pass in ("absent", "null"):
        assert directory.known_revocations(home) == {}
        assert directory.pinned_root(home, "VN-QN-CA") is None
        assert transparency.stored_checkpoint(home) is None
        assert replay_guard(home).last_counter("CN-GX-DXGA:li.wei:desk") is None
        assert home.load_record(review.REVIEW_WRAPS_FILE, ReviewKeyWraps.from_json) == {}
        assert home.load_record(witness.WITNESS_STATE_FILE, WitnessState.from_json) is None
        with pytest.raises(HomeError, match="officer init"):
            officer.own_request(home)
        with pytest.raises(HomeError, match="agency init"):
            agency_ops.load_agency(home)
        for relative in OLD_FILES:
            home.write_bytes(relative, b"null\n")


def _changed(relative: str, change: Callable[[dict[str, Any]], None]) -> tuple[str, str]:
    value = json.loads(OLD_FILES[relative])
    change(value)
    return relative, json.dumps(value)


BAD_FILES = [
    (directory.PINS_FILE, "[]"),
    _changed(directory.PINS_FILE, lambda v: v.update(trust={"version": 9})),
    _changed(directory.PINS_FILE, lambda v: v["meta"].update({"VN-QN-CA": "own-agency"})),
    (directory.REVOCATIONS_FILE, '"revoked"'),
    _changed(directory.REVOCATIONS_FILE, lambda v: v.update({"x": {"revocation": "eA=="}})),
    _changed(directory.REVOCATIONS_FILE, lambda v: v.update({"x": {"log_index": 1}})),
    (review.REVIEW_WRAPS_FILE, '{"k1": 7}'),
    _changed(officer.REQUEST_FILE, lambda v: v.pop("signing_key")),
    _changed(officer.REQUEST_FILE, lambda v: v.update(display_names="An")),
    (agency_ops.AGENCY_FILE, "[1, 2]"),
    _changed(agency_ops.AGENCY_FILE, lambda v: v.pop("code")),
    _changed(agency_ops.AGENCY_FILE, lambda v: v.update(issued=[])),
    _changed(agency_ops.AGENCY_FILE, lambda v: v.update(review_keys=[{"key_id": "k1"}])),
    _changed(agency_ops.AGENCY_FILE, lambda v: v["review_wraps"].update(d={"k1": "wrap"})),
    _changed(transparency.CHECKPOINT_FILE, lambda v: v.update(size="8")),
    _changed(transparency.CHECKPOINT_FILE, lambda v: v.pop("root_hash")),
    _changed(transparency.CHECKPOINT_FILE, lambda v: v.update(root_hash="cm9vdA==")),
    _changed(witness.WITNESS_STATE_FILE, lambda v: v.pop("note")),
    (REPLAY_FILE, '{"version": 1, "counters": {}}'),
    (REPLAY_FILE, "7"),
]


def _read(home: Home, relative: str) -> object:
    readers: dict[str, Callable[[], object]] = {
        directory.PINS_FILE: lambda: directory.pinned_root(home, "VN-QN-CA"),
        directory.REVOCATIONS_FILE: lambda: directory.known_revocations(home),
        review.REVIEW_WRAPS_FILE: lambda: home.load_record(relative, ReviewKeyWraps.from_json),
        officer.REQUEST_FILE: lambda: officer.own_request(home),
        agency_ops.AGENCY_FILE: lambda: agency_ops.load_agency(home),
        transparency.CHECKPOINT_FILE: lambda: transparency.stored_checkpoint(home),
        witness.WITNESS_STATE_FILE: lambda: home.load_record(relative, WitnessState.from_json),
        REPLAY_FILE: lambda: replay_guard(home),
    }
    return readers[relative]()


@pytest.mark.parametrize(("relative", "text"), BAD_FILES)
def test_a_file_of_the_wrong_shape_is_reported_by_name(
    tmp_path: Path, relative: str, text: str
) -> None:
    home = _home_with(tmp_path, relative, text)
    with pytest.raises(HomeError) as caught:
        _read(home, relative)
    assert str(home.root / relative) in str(caught.value)


def test_the_misbehaviour_proof_keeps_its_format(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    home.update_config(server="http://127.0.0.1:8080", server_identity={"log_key": "a2V5"})
    misbehaviour.record(
        home,
        reason="not_consistent",
        detail="",
        first_note="one\n",
        second_note="two\n",
        proof=["cA=="],
        now=1764000200,
    )
    assert json.loads(home.read_bytes(misbehaviour.MISBEHAVIOUR_FILE) or b"") == {
        "format": misbehaviour.PROOF_FORMAT,
        "reason": "not_consistent",
        "server": "http://127.0.0.1:8080",
        "server_identity": {"log_key": "a2V5"},
        "first_checkpoint": "one\n",
        "second_checkpoint": "two\n",
        "consistency_proof": ["cA=="],
        "detected_at": 1764000200,
    }


def test_trust_store_round_trip_matches_the_pins_record() -> None:
    pins = PinsFile.from_json(json.loads(OLD_FILES[directory.PINS_FILE]))
    assert pins.trust is not None
    assert TrustStore.from_dict(dict(pins.trust)).to_dict() == pins.trust
