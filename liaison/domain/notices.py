"""The notice catalogue: the eleven notice types, the common header, parsing and H2 handling."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from crypto.encoding import blake2b, canonical_json
from liaison.domain.agencies import reason_codes
from liaison.domain.code_lists import DOCUMENT_TYPE, ETHNICITY, INTERPRETER_LANGUAGE, NATIONALITY
from liaison.domain.fields import (
    AgencyCode,
    Attachment,
    Base64Bytes,
    Block,
    Bool,
    Choice,
    Coded,
    CodedList,
    Counts,
    DateTime,
    Field,
    FieldError,
    Int,
    ListOf,
    MessageId,
    NoticeError,
    PartialDate,
    Place,
    ReasonCode,
    Sha256,
    Str,
    Text,
    check_fields,
    datetime_utc,
)
from liaison.domain.messages import N_, Message

FORMAT_VERSION = 1
MAX_NOTICE_BYTES = 1_000_000

HANDLING_CODES = {
    "H0": N_("no restriction beyond the law"),
    "H1": N_("not to be used as evidence without the provider's permission"),
    "H2": N_(
        "not to be passed on (forwarded, exported, printed for third parties) "
        "without the provider's permission"
    ),
    "H3": N_("other restrictions, stated in the handling note"),
}
PRIORITIES = {"normal": N_("normal"), "urgent": N_("urgent")}

HEADER_FIELDS = (
    Field("our_ref", Str(100), N_("Our reference"), N_("Sender's own reference number")),
    Field(
        "their_ref",
        Str(100),
        N_("Your reference"),
        N_("The counterpart's reference, when replying"),
        required=False,
    ),
    Field("sender_unit", AgencyCode(), N_("Sender unit"), N_("Agency code of the sender")),
    Field("recipient_unit", AgencyCode(), N_("Recipient unit"), N_("Agency code of the recipient")),
    Field(
        "case_ref",
        Str(100),
        N_("Case reference"),
        N_("Case reference shared by every notice of the case"),
    ),
    Field(
        "handling",
        Choice(HANDLING_CODES),
        N_("Handling code"),
        N_("H0 none, H1 not as evidence, H2 not to be passed on, H3 see note"),
    ),
    Field(
        "handling_note",
        Text(1000),
        N_("Handling note"),
        N_("The restriction in words (required for H3)"),
        required=False,
    ),
    Field("priority", Choice(PRIORITIES), N_("Priority"), N_("normal or urgent")),
    Field("reply_by", DateTime(), N_("Reply by"), N_("Deadline for the reply"), required=False),
    Field(
        "forwarded_from",
        Block(
            (
                Field("message_id", MessageId(), N_("Message id"), N_("The message passed on")),
                Field(
                    "sender_unit",
                    AgencyCode(),
                    N_("Sender unit"),
                    N_("Agency code of the original sender"),
                ),
                Field(
                    "our_ref",
                    Str(100),
                    N_("Original sender's reference"),
                    N_("The original sender's own reference"),
                ),
            ),
            name="forwarded_from",
        ),
        N_("Forwarded from"),
        N_("Set by `liaison forward`: the received notice this one passes on"),
        required=False,
    ),
)

SEX = {"female": N_("female"), "male": N_("male"), "unknown": N_("unknown")}
NATIONALITY_STATUS = {"claimed": N_("claimed"), "confirmed": N_("confirmed")}
ID_DOCUMENT_TYPES = {
    "id_card": N_("ID card"),
    "passport": N_("passport"),
    "birth_certificate": N_("birth certificate"),
    "household_registration": N_("household registration"),
    "certificate_of_return": N_("certificate of return"),
    "letter_of_introduction": N_("letter of introduction"),
    "other": N_("other document"),
    "none": N_("no document"),
}

DOCUMENT_FIELDS = (
    Field("type", Coded(DOCUMENT_TYPE), N_("Document type"), N_("Kind of document")),
    Field("number", Str(60), N_("Document number"), N_("Number on the document"), required=False),
    Field("note", Text(500), N_("Note"), N_("Remarks on the document"), required=False),
)

CHILD_FIELDS = (
    Field(
        "name",
        Str(120),
        N_("Full name (as on ID document)"),
        N_("Name exactly as on the ID document, if any"),
        required=False,
    ),
    Field(
        "name_zh",
        Str(120),
        N_("Chinese rendering (音)"),
        N_("Chinese characters for the name, display only"),
        required=False,
    ),
    Field("sex", Choice(SEX), N_("Sex"), N_("female, male or unknown")),
    Field(
        "birth",
        PartialDate(),
        N_("Date of birth"),
        N_("Full date or year, may be estimated"),
        required=False,
    ),
    Field(
        "born_abroad", Bool(), N_("Born abroad"), N_("true if born outside Vietnam"), required=False
    ),
    Field("note", Text(500), N_("Note"), N_("Health, needs or other remarks"), required=False),
)

PERSON_FIELDS = (
    Field(
        "name",
        Str(120),
        N_("Full name (as on ID document)"),
        N_("Name of record exactly as on the ID document, Latin script with diacritics"),
    ),
    Field(
        "name_zh",
        Str(120),
        N_("Chinese rendering (音)"),
        N_("Chinese characters for the name: a transliteration, never used for matching"),
        required=False,
    ),
    Field(
        "aliases",
        ListOf(Str(120), max_items=20),
        N_("Aliases"),
        N_("Other names the person is known by"),
        required=False,
    ),
    Field("sex", Choice(SEX), N_("Sex"), N_("female, male or unknown")),
    Field(
        "birth",
        PartialDate(),
        N_("Date of birth"),
        N_("Full date or year, may be estimated"),
        required=False,
    ),
    Field(
        "ethnicity",
        Coded(ETHNICITY),
        N_("Ethnicity"),
        N_("Ethnic group: code of the list (01 Kinh…) or its name"),
        required=False,
    ),
    Field(
        "home_address",
        Text(500),
        N_("Home address"),
        N_("Home address in current administrative units"),
        required=False,
    ),
    Field(
        "home_address_former",
        Text(500),
        N_("Home address (former units)"),
        N_("Same address in the administrative units before the merger"),
        required=False,
    ),
    Field(
        "nationality",
        Coded(NATIONALITY),
        N_("Nationality"),
        N_("Country code, e.g. VN or CN"),
        required=False,
    ),
    Field(
        "nationality_status",
        Choice(NATIONALITY_STATUS),
        N_("Nationality status"),
        N_("claimed or confirmed"),
        required=False,
    ),
    Field(
        "id_document",
        Block(DOCUMENT_FIELDS),
        N_("ID document"),
        N_("Type and number of the ID document"),
        required=False,
    ),
    Field("photo", Attachment(), N_("Photo"), N_("Reference to an attached photo"), required=False),
    Field("minor", Bool(), N_("Minor (under 18)"), N_("true if under 18"), required=False),
    Field(
        "under_14",
        Bool(),
        N_("Child under 14"),
        N_("true if under 14 (sensitive data under PIPL Art. 28)"),
        required=False,
    ),
    Field(
        "children",
        ListOf(Block(CHILD_FIELDS), max_items=20),
        N_("Accompanying children"),
        N_("Children with the person, including infants born abroad"),
        required=False,
    ),
    Field("health", Text(1000), N_("Health"), N_("Health condition"), required=False),
    Field("pregnant", Bool(), N_("Pregnant"), N_("true if pregnant"), required=False),
    Field("disability", Text(500), N_("Disability"), N_("Disability, if any"), required=False),
    Field(
        "urgent_needs", Text(1000), N_("Urgent needs"), N_("Needs to meet at once"), required=False
    ),
    Field(
        "interpreter_language",
        Coded(INTERPRETER_LANGUAGE),
        N_("Interpreter language"),
        N_("Language the person needs an interpreter for"),
        required=False,
    ),
    Field(
        "wishes",
        Text(2000),
        N_("The person's own wishes"),
        N_("What the person wants, in their words"),
        required=False,
    ),
)
PERSON = Block(PERSON_FIELDS, name="person")

ESCORT_FIELDS = (
    Field("name", Str(120), N_("Name"), N_("Officer's name")),
    Field("officer_id", Str(60), N_("Officer ID"), N_("Officer's service number"), required=False),
    Field("role", Text(200), N_("Role"), N_("Role in the team"), required=False),
)
SIGNATORY_FIELDS = (
    Field(
        "side",
        # The label says "side" ("Phía" / "所属方"); the value names the country only, so that
        # it does not read "Phía: Phía Việt Nam".
        Choice({"vn": N_("Vietnam"), "cn": N_("China")}),
        N_("Side"),
        N_("vn or cn"),
    ),
    Field("name", Str(120), N_("Name"), N_("Signatory's name")),
    Field("officer_id", Str(60), N_("Officer ID"), N_("Officer's service number"), required=False),
    Field("agency", AgencyCode(), N_("Agency"), N_("Agency code of the signatory")),
    Field(
        "position",
        Text(200),
        N_("Position"),
        N_("Position or rank, with a translation for the other side's column"),
        required=False,
    ),
)
INTERPRETER_FIELDS = (
    Field("name", Str(120), N_("Name"), N_("Interpreter's name")),
    Field(
        "languages",
        CodedList(INTERPRETER_LANGUAGE),
        N_("Languages"),
        N_("Languages interpreted, e.g. vi-zh"),
    ),
)

URGENCY = {
    "life_threatening": N_("life-threatening"),
    "high": N_("high"),
    "routine": N_("routine"),
}
OUTCOMES = {
    "confirmed": N_("confirmed"),
    "not_confirmed": N_("not confirmed"),
    "pending": N_("pending"),
}
BIOMETRICS = {"fingerprints": N_("fingerprints"), "dna": N_("DNA"), "face": N_("face image")}
DECISIONS = {"accept": N_("accept"), "counter": N_("counter-proposal")}
ACTIONS = {"reschedule": N_("reschedule"), "cancel": N_("cancel")}
RECEIVED = {
    "message": N_("message"),
    "person": N_("person"),
    "documents": N_("documents"),
}
SUPPORT = {
    "essential_needs": N_("essential-needs support"),
    "health_care": N_("health care"),
    "psychological": N_("psychological support"),
    "legal_aid": N_("legal aid"),
    "education_vocational": N_("education and vocational training"),
    "travel_home": N_("travel home"),
    "reintegration": N_("reintegration"),
}
REFERRAL_STATUS = {
    "in_shelter": N_("in temporary shelter"),
    "returned_home": N_("returned home"),
    "transferred": N_("transferred"),
    "left": N_("left the shelter"),
}
RECONCILIATION = {
    "proposed": N_("proposed"),
    "agreed": N_("agreed"),
    "disputed": N_("disputed"),
}

_REPLY = Field(
    "in_reply_to", MessageId(), N_("In reply to"), N_("Message id of the notice answered")
)
_REPLY_OPT = Field(
    "in_reply_to",
    MessageId(),
    N_("In reply to"),
    N_("Message id of the notice answered"),
    required=False,
)
_REMARKS = Field("remarks", Text(4000), N_("Remarks"), N_("Other remarks"), required=False)
_ATTACHMENTS = Field(
    "attachments",
    ListOf(Attachment(), max_items=50),
    N_("Attachments"),
    N_("Files sent with the notice"),
    required=False,
)


def _persons(label: str = N_("Persons")) -> Field:
    return Field(
        "persons", ListOf(PERSON, min_items=1, max_items=200), label, N_("One block per person")
    )


@dataclass(frozen=True)
class NoticeType:
    """One notice type of the catalogue: its code, label and fields in rendering order."""

    code: str
    label: str
    description: str
    fields: tuple[Field, ...]


CATALOGUE: dict[str, NoticeType] = {
    t.code: t
    for t in (
        NoticeType(
            "rescue_request",
            N_("Request for assistance / rescue"),
            N_("Ask the counterpart to locate and rescue persons"),
            (
                _persons(),
                Field(
                    "location_abroad",
                    Text(1000),
                    N_("Location abroad"),
                    N_("Where the persons are believed to be"),
                ),
                Field(
                    "source",
                    Text(1000),
                    N_("Source of information"),
                    N_("How the information reached us"),
                ),
                Field(
                    "urgency",
                    Choice(URGENCY),
                    N_("Urgency"),
                    N_("life_threatening, high or routine"),
                ),
                Field(
                    "contact_channel",
                    Text(500),
                    N_("Contact channel"),
                    N_("How the person or family can be reached"),
                    required=False,
                ),
                _REMARKS,
                _ATTACHMENTS,
            ),
        ),
        NoticeType(
            "verification_request",
            N_("Identity and nationality verification request"),
            N_("Ask the counterpart to verify identity and nationality"),
            (
                _persons(),
                Field(
                    "documents_held",
                    ListOf(Block(DOCUMENT_FIELDS), max_items=50),
                    N_("Documents held"),
                    N_("Documents in our hands"),
                    required=False,
                ),
                Field(
                    "photos",
                    ListOf(Attachment(), max_items=20),
                    N_("Photos"),
                    N_("References to attached photos"),
                    required=False,
                ),
                Field(
                    "biometrics",
                    ListOf(Choice(BIOMETRICS), max_items=3),
                    N_("Biometrics"),
                    N_("Biometric data available: fingerprints, dna, face"),
                    required=False,
                ),
                _REMARKS,
                _ATTACHMENTS,
            ),
        ),
        NoticeType(
            "verification_result",
            N_("Verification result"),
            N_("Answer a verification request"),
            (
                _REPLY_OPT,
                Field(
                    "outcome",
                    Choice(OUTCOMES),
                    N_("Outcome"),
                    N_("confirmed, not_confirmed or pending"),
                ),
                Field(
                    "verifying_unit",
                    AgencyCode(),
                    N_("Verifying unit"),
                    N_("Agency code of the unit that verified"),
                ),
                Field(
                    "persons",
                    ListOf(PERSON, max_items=200),
                    N_("Persons"),
                    N_("The persons as verified"),
                    required=False,
                ),
                Field(
                    "document_numbers",
                    ListOf(Str(60), max_items=50),
                    N_("Document numbers"),
                    N_("Numbers of the documents checked"),
                    required=False,
                ),
                _REMARKS,
                _ATTACHMENTS,
            ),
        ),
        NoticeType(
            "handover_proposal",
            N_("Handover proposal"),
            N_("Propose the time, place and persons of a handover"),
            (
                Field("slot", DateTime(), N_("Time of handover"), N_("Proposed date and time")),
                Field(
                    "place",
                    Place(),
                    N_("Place of handover"),
                    N_("Gate pair, border marker or named point"),
                ),
                _persons(),
                Field(
                    "escorts",
                    ListOf(Block(ESCORT_FIELDS), max_items=50),
                    N_("Escorting officers"),
                    N_("Officers escorting the persons"),
                ),
                Field(
                    "vehicle",
                    Text(300),
                    N_("Vehicle"),
                    N_("Vehicle and plate number"),
                    required=False,
                ),
                Field(
                    "files",
                    ListOf(Text(300), max_items=50),
                    N_("Files handed over"),
                    N_("Dossiers and papers to hand over"),
                    required=False,
                ),
                _REMARKS,
            ),
        ),
        NoticeType(
            "handover_response",
            N_("Handover acceptance or counter-proposal"),
            N_("Accept a handover proposal or propose another slot or place"),
            (
                _REPLY,
                Field("decision", Choice(DECISIONS), N_("Decision"), N_("accept or counter")),
                Field(
                    "slot",
                    DateTime(),
                    N_("Time of handover"),
                    N_("Alternative date and time (counter-proposal)"),
                    required=False,
                ),
                Field(
                    "place",
                    Place(),
                    N_("Place of handover"),
                    N_("Alternative place (counter-proposal)"),
                    required=False,
                ),
                Field(
                    "reception_team",
                    ListOf(Block(ESCORT_FIELDS), max_items=50),
                    N_("Reception team"),
                    N_("Officers who will receive the persons"),
                    required=False,
                ),
                _REMARKS,
            ),
        ),
        NoticeType(
            "reschedule_cancellation",
            N_("Reschedule or cancellation"),
            N_("Move or cancel an agreed handover, with a reason"),
            (
                _REPLY,
                Field("action", Choice(ACTIONS), N_("Action"), N_("reschedule or cancel")),
                Field(
                    "reason_code",
                    ReasonCode(),
                    N_("Reason"),
                    N_("weather, documents, health, security, transport or other"),
                ),
                Field(
                    "reason",
                    Text(1000),
                    N_("Reason in words"),
                    N_("Explanation (required for reason other)"),
                    required=False,
                ),
                Field(
                    "new_slot",
                    DateTime(),
                    N_("New time"),
                    N_("New date and time (reschedule)"),
                    required=False,
                ),
            ),
        ),
        NoticeType(
            "handover_record",
            N_("Handover record"),
            N_("Record of a completed handover, signed by both sides"),
            (
                _REPLY,
                Field(
                    "completed_at",
                    DateTime(),
                    N_("Completed at"),
                    N_("When the handover took place"),
                ),
                Field("place", Place(), N_("Place of handover"), N_("Where it took place")),
                _persons(),
                Field(
                    "belongings",
                    ListOf(Text(300), max_items=200),
                    N_("Belongings"),
                    N_("Belongings handed over, one per entry"),
                ),
                Field(
                    "documents",
                    ListOf(Block(DOCUMENT_FIELDS), max_items=100),
                    N_("Documents"),
                    N_("Documents handed over"),
                ),
                Field(
                    "condition",
                    Text(2000),
                    N_("Condition"),
                    N_("Condition of the persons at handover"),
                ),
                Field(
                    "interpreter",
                    Block(INTERPRETER_FIELDS),
                    N_("Interpreter"),
                    N_("Interpreter present"),
                    required=False,
                ),
                Field(
                    "signatories",
                    ListOf(Block(SIGNATORY_FIELDS), min_items=2, max_items=20),
                    N_("Signatories"),
                    N_("Signatories of both sides"),
                ),
            ),
        ),
        NoticeType(
            "receipt_ack",
            N_("Acknowledgement of receipt"),
            N_("Confirm that a message, person or documents were received"),
            (
                _REPLY_OPT,
                Field(
                    "received", Choice(RECEIVED), N_("Received"), N_("message, person or documents")
                ),
                Field("received_at", DateTime(), N_("Received at"), N_("When it was received")),
                Field(
                    "received_digest",
                    Sha256(),
                    N_("Digest of the notice received"),
                    N_("notice_digest of the acknowledged notice (countersigns a handover record)"),
                    required=False,
                ),
                Field(
                    "record_hash",
                    Base64Bytes(32),
                    N_("Handover record hash"),
                    N_("Base64 of the 32-byte hash of the handover record countersigned"),
                    required=False,
                ),
                Field(
                    "countersignature",
                    Base64Bytes(64),
                    N_("Countersignature"),
                    N_("Base64 of the 64-byte signature over the handover record hash"),
                    required=False,
                ),
                Field(
                    "persons",
                    ListOf(PERSON, max_items=200),
                    N_("Persons"),
                    N_("Persons received"),
                    required=False,
                ),
                _REMARKS,
            ),
        ),
        NoticeType(
            "self_return",
            N_("Self-return notice"),
            N_("A person who returned by themselves was found or reported"),
            (
                _persons(),
                Field("found_at", Place(), N_("Where found"), N_("Where the person was found")),
                Field("found_when", DateTime(), N_("When found"), N_("When the person was found")),
                Field(
                    "reporting_post",
                    AgencyCode(),
                    N_("Reporting post"),
                    N_("Agency code of the post that reports"),
                ),
                Field(
                    "referred_to",
                    AgencyCode(),
                    N_("Referred to"),
                    N_("Agency code the person was referred to"),
                    required=False,
                ),
                Field(
                    "circumstances",
                    Text(4000),
                    N_("Circumstances"),
                    N_("How the person came back"),
                    required=False,
                ),
                _REMARKS,
            ),
        ),
        NoticeType(
            "referral_status",
            N_("Referral and support status"),
            N_("Domestic status of a person's referral and support"),
            (
                _persons(),
                Field(
                    "receiving_agency",
                    AgencyCode(),
                    N_("Receiving agency"),
                    N_("Agency code of the receiving agency"),
                ),
                Field(
                    "status",
                    Choice(REFERRAL_STATUS),
                    N_("Status"),
                    N_("in_shelter, returned_home, transferred or left"),
                ),
                Field(
                    "shelter",
                    Text(300),
                    N_("Temporary shelter"),
                    N_("Name of the shelter"),
                    required=False,
                ),
                Field(
                    "support_given",
                    ListOf(Choice(SUPPORT), max_items=10),
                    N_("Support given"),
                    N_("Kinds of support given"),
                    required=False,
                ),
                Field(
                    "days_used",
                    Int(0, 1000),
                    N_("Days of support used"),
                    N_("Days used of the 120 (extendable)"),
                    required=False,
                ),
                Field(
                    "days_limit",
                    Int(1, 1000),
                    N_("Days of support allowed"),
                    N_("Support period in days; 120 when absent (extendable)"),
                    required=False,
                ),
                _REMARKS,
            ),
        ),
        NoticeType(
            "statistics",
            N_("Periodic statistics"),
            N_("Counts for a period, for reconciliation between the two sides"),
            (
                _REPLY_OPT,
                Field(
                    "period_start",
                    PartialDate(full_only=True),
                    N_("Period start"),
                    N_("First day of the period"),
                ),
                Field(
                    "period_end",
                    PartialDate(full_only=True),
                    N_("Period end"),
                    N_("Last day of the period"),
                ),
                Field(
                    "counts",
                    Counts(),
                    N_("Counts"),
                    N_("Counts by sex, age band, direction of return, route and gate"),
                ),
                Field(
                    "reconciliation",
                    Choice(RECONCILIATION),
                    N_("Reconciliation"),
                    N_("proposed, agreed or disputed"),
                ),
                Field(
                    "discrepancies",
                    Text(4000),
                    N_("Discrepancies"),
                    N_("Differences found between the two sides' figures"),
                    required=False,
                ),
            ),
        ),
    )
}
NOTICE_TYPES = tuple(CATALOGUE)


# "A or B" notice types are titled by the decision they carry, as an officer titles the letter.
DECISION_TITLES = {
    ("handover_response", "decision", "accept"): N_("Handover accepted"),
    ("handover_response", "decision", "counter"): N_("Counter-proposal for the handover"),
    ("reschedule_cancellation", "action", "cancel"): N_("Cancellation of the handover"),
    ("reschedule_cancellation", "action", "reschedule"): N_("Rescheduling of the handover"),
}


def notice_title(notice_type: str, fields: Mapping[str, Any]) -> str:
    """The title (msgid) a notice prints under: its decision for an "A or B" type, else the
    label of its type."""
    for (type_code, key, value), title in DECISION_TITLES.items():
        if type_code == notice_type and fields.get(key) == value:
            return title
    return CATALOGUE[notice_type].label


@dataclass(frozen=True)
class Notice:
    """A checked, NFC-normalised notice; `header` and `fields` are plain JSON mappings."""

    type: str
    header: Mapping[str, Any]
    fields: Mapping[str, Any]

    @property
    def handling(self) -> str:
        return str(self.header["handling"])

    @property
    def case_ref(self) -> str:
        return str(self.header["case_ref"])

    def title(self) -> str:
        """The msgid of the title this notice prints under (see notice_title)."""
        return notice_title(self.type, self.fields)

    def spec(self) -> NoticeType:
        return CATALOGUE[self.type]

    def to_dict(self) -> dict[str, Any]:
        return {
            "liaison_notice": FORMAT_VERSION,
            "type": self.type,
            "header": dict(self.header),
            "fields": dict(self.fields),
        }


class HandlingRestricted(NoticeError, PermissionError):
    """The handling code forbids passing the notice on (H2 forward or export)."""

    code = "handling_restricted"


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise FieldError(str(key), "duplicate_key", N_("{field}: appears twice"))
        out[key] = value
    return out


def parse_notice(data: bytes | Mapping[str, Any], *, attachments: int | None = None) -> Notice:
    """Check a notice (UTF-8 JSON bytes or a mapping) and return it NFC-normalised.

    Null values count as absent; a top-level `_help` (from `liaison notice template`) is ignored.
    `attachments`, when given, is the number of files the message carries: an attachment index
    (`photos`, `attachments`, a person's `photo`) beyond them is refused (`no_such_attachment`).

    Raises NoticeError (a ValueError) whose `code` is stable and, for FieldError, `field` names
    the offending field by its dotted path.
    """
    if isinstance(data, bytes | bytearray):
        if len(data) > MAX_NOTICE_BYTES:
            raise NoticeError(
                "too_large", N_("The notice is larger than {limit} bytes"), limit=MAX_NOTICE_BYTES
            )
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise NoticeError("bad_encoding", N_("The notice is not UTF-8 text")) from None
        try:
            data = json.loads(text, object_pairs_hook=_reject_duplicates)
        except json.JSONDecodeError as exc:
            raise NoticeError(
                "bad_json", N_("The notice is not valid JSON (line {line})"), line=exc.lineno
            ) from None
        except NoticeError:
            raise  # a duplicate key, found by the pairs hook
        except (RecursionError, ValueError):
            # Nesting deeper than the parser's stack, or an integer of over 4,300 digits
            # (CPython's limit): a notice from another device must never crash its reader.
            raise NoticeError("bad_json", N_("The notice is not valid JSON")) from None
    if not isinstance(data, Mapping):
        raise NoticeError("bad_json", N_("The notice must be a JSON object"))
    for key in data:
        # `_help` holds the template's help lines; it is dropped, never sealed.
        if key not in ("liaison_notice", "type", "header", "fields", "_help"):
            raise FieldError(str(key), "unknown_field", N_("{field}: unknown field"))
    if data.get("liaison_notice") != FORMAT_VERSION:
        raise FieldError(
            "liaison_notice", "bad_version", N_("{field}: unsupported notice format version")
        )
    notice_type = data.get("type")
    # A str check first: an object or array here is unhashable (a TypeError, found by fuzzing).
    if not isinstance(notice_type, str) or notice_type not in CATALOGUE:
        raise FieldError(
            "type",
            "unknown_type",
            N_("{field}: unknown notice type: {value}"),
            value=str(notice_type)[:40],
        )
    header_raw = data.get("header")
    if not isinstance(header_raw, Mapping):
        raise FieldError(
            "header", "wrong_type", N_("{field}: expected {expected}"), expected="object"
        )
    fields_raw = data.get("fields")
    if not isinstance(fields_raw, Mapping):
        raise FieldError(
            "fields", "wrong_type", N_("{field}: expected {expected}"), expected="object"
        )
    header = check_fields(HEADER_FIELDS, header_raw, "header")
    fields = check_fields(CATALOGUE[notice_type].fields, fields_raw, "fields")
    _check_rules(notice_type, header, fields)
    notice = Notice(notice_type, header, fields)
    if attachments is not None:
        check_attachment_indexes(notice, attachments)
    return notice


def attachment_indexes(notice: Notice) -> list[tuple[str, int]]:
    """Every attachment index of the notice with its dotted path, in field order."""
    found: list[tuple[str, int]] = []

    def walk(kind: Any, value: Any, path: str) -> None:
        if isinstance(kind, Attachment):
            found.append((path, value))
        elif isinstance(kind, Block):
            walk_fields(kind.fields, value, path)
        elif isinstance(kind, ListOf):
            for i, item in enumerate(value):
                walk(kind.item, item, f"{path}[{i}]")

    def walk_fields(spec: Iterable[Field], value: Mapping[str, Any], path: str) -> None:
        for f in spec:
            if f.name in value:
                walk(f.kind, value[f.name], f"{path}.{f.name}")

    walk_fields(notice.spec().fields, notice.fields, "fields")
    return found


def check_attachment_indexes(notice: Notice, count: int) -> None:
    """Refuse an attachment index the message does not have (it carries `count` files)."""
    for path, index in attachment_indexes(notice):
        if index >= count:
            raise FieldError(
                path,
                "no_such_attachment",
                N_("{field}: the message has no attachment {index} ({count} attached, from 0)"),
                index=index,
                count=count,
            )


def _is(label: str, value: Any) -> Message:
    """A condition "field is value" in the reader's language: the field's label and the value's
    label (a msgid, or names by language), never the raw key and code ("action = cancel")."""
    return Message(N_("{name} is “{value}”"), {"name": Message(label), "value": _shown(value)})


def _shown(value: Any) -> Any:
    return Message(value) if isinstance(value, str) else value


def _given(label: str) -> Message:
    return Message(N_("{name} is given"), {"name": Message(label)})


def _check_rules(notice_type: str, header: Mapping[str, Any], fields: Mapping[str, Any]) -> None:
    """Rules that tie fields together (a field needed or forbidden because of another)."""

    def needs(path: str, because: Message) -> FieldError:
        return FieldError(
            path, "missing", N_("{field}: required when {condition}"), condition=because
        )

    def forbids(path: str, because: Message) -> FieldError:
        return FieldError(
            path, "not_allowed", N_("{field}: not allowed when {condition}"), condition=because
        )

    if header["handling"] == "H3" and "handling_note" not in header:
        raise needs("header.handling_note", _is(N_("Handling code"), {"en": "H3"}))
    if notice_type == "handover_response":
        if fields["decision"] == "counter" and "slot" not in fields and "place" not in fields:
            raise needs("fields.slot", _is(N_("Decision"), DECISIONS["counter"]))
        if fields["decision"] == "accept":
            for key in ("slot", "place"):
                if key in fields:
                    raise forbids(f"fields.{key}", _is(N_("Decision"), DECISIONS["accept"]))
    if notice_type == "reschedule_cancellation":
        if fields["reason_code"] == "other" and "reason" not in fields:
            other = dict(reason_codes().get("other", {})) or {"en": "other"}
            raise needs("fields.reason", _is(N_("Reason"), other))
        if fields["action"] == "cancel" and "new_slot" in fields:
            raise forbids("fields.new_slot", _is(N_("Action"), ACTIONS["cancel"]))
    if notice_type == "receipt_ack":
        labels = {
            "record_hash": N_("Handover record hash"),
            "countersignature": N_("Countersignature"),
        }
        signed = [key for key in ("record_hash", "countersignature") if key in fields]
        if len(signed) == 1:
            other_key = "countersignature" if signed[0] == "record_hash" else "record_hash"
            raise needs(f"fields.{other_key}", _given(labels[signed[0]]))
        if signed and "in_reply_to" not in fields:
            raise needs("fields.in_reply_to", _given(labels["record_hash"]))
    if notice_type == "handover_record":
        sides = {s["side"] for s in fields["signatories"]}
        if sides != {"vn", "cn"}:
            raise FieldError(
                "fields.signatories", "missing_side", N_("{field}: both sides must sign")
            )
    if notice_type == "statistics":
        if fields["period_end"]["date"] < fields["period_start"]["date"]:
            raise FieldError(
                "fields.period_end", "bad_period", N_("{field}: the period ends before it starts")
            )


def notice_to_bytes(notice: Notice) -> bytes:
    """Canonical UTF-8 JSON (RFC 8785) of a checked notice: the plaintext that gets sealed."""
    return canonical_json(notice.to_dict(), allow_floats=True)


def notice_digest(notice: Notice) -> str:
    """BLAKE2b-256 (hex) of the notice's canonical bytes: what an acknowledgement countersigns."""
    return blake2b(notice_to_bytes(notice)).hex()


def ensure_may_forward(
    notice: Notice, recipients: Iterable[str], original_recipients: Iterable[str]
) -> None:
    """Refuse to pass an H2 notice to anyone outside its original recipients.

    `recipients` and `original_recipients` are agency codes or device ids, compared as given.
    """
    if notice.handling != "H2":
        return
    outside = sorted(set(recipients) - set(original_recipients))
    if outside:
        raise HandlingRestricted(
            "handling_restricted",
            N_(
                "Handling code H2: this notice may not be passed on without the provider's "
                "permission (not an original recipient: {recipients})"
            ),
            recipients=", ".join(outside),
        )


def ensure_may_export(notice: Notice) -> None:
    """Refuse to export (file, print for third parties) an H2 notice."""
    if notice.handling == "H2":
        raise HandlingRestricted(
            "handling_restricted",
            N_(
                "Handling code H2: this notice may not be exported or printed for third "
                "parties without the provider's permission"
            ),
        )


def moments(notice: Notice) -> list[tuple[str, Any]]:
    """Every DATETIME of the notice with its dotted path (for agendas and deadlines)."""
    found: list[tuple[str, Any]] = []

    def walk(spec: Iterable[Field], value: Mapping[str, Any], path: str) -> None:
        for f in spec:
            if f.name in value and isinstance(f.kind, DateTime):
                found.append((f"{path}.{f.name}", datetime_utc(value[f.name])))

    walk(HEADER_FIELDS, notice.header, "header")
    walk(notice.spec().fields, notice.fields, "fields")
    return found


def search_key(text: str) -> str:
    """Fold `text` for searching: NFC, case-folded, Vietnamese diacritics removed, đ → d."""
    text = unicodedata.normalize("NFD", text.casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.replace("đ", "d").replace("ð", "d")
    return " ".join(unicodedata.normalize("NFC", text).split())


def matches(query: str, text: str) -> bool:
    """True when every word of `query` occurs in `text`, ignoring case and diacritics."""
    haystack = search_key(text)
    return all(word in haystack for word in search_key(query).split())


def notice_search_text(notice: Notice) -> str:
    """All the strings of a notice joined, for `matches` (inbox search)."""
    parts: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(notice.header)
    walk(notice.fields)
    return "\n".join(parts)
