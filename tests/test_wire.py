"""The wire table: every kind of event is in it, and every kind round-trips through JSON."""

from __future__ import annotations

import importlib
import json
import pkgutil
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import attrs
import pytest

import wagate
from wagate import (
    Account,
    Audio,
    ChatState,
    ChatStateChanged,
    Connected,
    Connecting,
    Contact,
    ContactInfo,
    Disconnected,
    DisconnectReason,
    Document,
    Event,
    Gap,
    Group,
    GroupInfo,
    GroupJoined,
    GroupLeft,
    GroupParticipantsChanged,
    GroupRole,
    GroupUpdated,
    Image,
    Location,
    Media,
    MessageEdited,
    MessageReaction,
    MessageReceived,
    MessageRevoked,
    MessageSent,
    MessageStatus,
    NumberCheck,
    PairingCode,
    Participant,
    ParticipantAction,
    ParticipantError,
    ParticipantResult,
    Presence,
    PresenceChanged,
    ProfilePicture,
    QrGenerated,
    Receipt,
    SentMessage,
    State,
    Status,
    Sticker,
    Text,
    Unsupported,
    Video,
    from_wire,
    to_wire,
)
from wagate._events import utcnow
from wagate._wire import KINDS, kind_of, status_of
from wagate.cluster._wire import decode_event, decode_result, encode_event, encode_result

AT = datetime(2026, 11, 21, 10, 30, 15, 123456, tzinfo=timezone.utc)
BUDI = Account(jid="628123456789@s.whatsapp.net", phone="+628123456789", name="Budi")
SITI = "628111222333@s.whatsapp.net"


def _samples() -> Iterator[Event]:
    """Every kind of event, with its optional fields set and unset."""
    now = utcnow()
    yield QrGenerated(
        tenant="acme", seq=1, at=now, code="2@abc,def", expires_at=now + timedelta(seconds=60)
    )
    yield QrGenerated(tenant="acme", seq=2, at=AT, code="2@old,code", expires_at=AT)  # expired
    yield PairingCode(tenant="acme", seq=3, at=AT, code="ABCD-EFGH", phone="+628123456789")
    yield Connecting(tenant="acme", seq=4, at=AT, attempt=3)
    yield Connected(tenant="acme", seq=5, at=AT, account=BUDI)
    yield Connected(
        tenant="acme", seq=6, at=AT, account=Account(jid="1@s.whatsapp.net", phone="+1")
    )
    for seq, reason in enumerate(DisconnectReason, start=10):
        retry = reason.retryable
        yield Disconnected(
            tenant="acme",
            seq=seq,
            at=AT,
            reason=reason,
            will_retry=retry,
            retry_in=2.5 if retry else None,
            detail=f"{reason.value} said the engine" if retry else None,
        )
    yield MessageReceived(
        tenant="acme",
        seq=30,
        at=AT,
        id="3EB0ABC",
        chat="120363012345678901@g.us",
        sender=SITI,
        push_name="Siti",
        text="halo",
        is_group=True,
        timestamp=AT - timedelta(seconds=3),
    )
    yield MessageReceived(
        tenant="acme",
        seq=31,
        at=AT,
        id="3EB0DEF",
        chat=SITI,
        sender=SITI,
        push_name=None,
        text=None,
        is_group=False,
        timestamp=AT,
        kind="image",
        mentions=(BUDI.jid,),
        mentions_me=True,
    )
    yield MessageSent(tenant="acme", seq=32, at=AT, id="3EB0F", to=SITI, text="hi", success=True)
    yield MessageSent(
        tenant="acme", seq=33, at=AT, id=None, to=SITI, text="hi", success=False, error="479"
    )
    yield MessageSent(
        tenant="acme",
        seq=34,
        at=AT,
        id="3EB1",
        to=SITI,
        text="receipt",
        success=True,
        kind="image",
        media=Media(id="m" * 22, mime_type="image/jpeg", size=10, sha256="ab"),
        reply_to="3EB0F",
    )
    for seq, content in enumerate(CONTENTS, start=35):
        yield MessageReceived(
            tenant="acme",
            seq=seq,
            at=AT,
            id=f"3EB{seq}",
            chat=SITI,
            sender=SITI,
            push_name=None,
            text=content.text,
            is_group=False,
            timestamp=AT,
            kind=content.kind,
            content=content,
            mentions=(SITI,),
            forwarded=seq % 2 == 0,
        )
    for status in Receipt:
        yield MessageStatus(
            tenant="acme",
            seq=50,
            at=AT,
            ids=("3EB1", "3EB2"),
            chat=SITI,
            recipient=SITI,
            status=status,
        )
    yield MessageReaction(
        tenant="acme", seq=51, at=AT, id="3EB1", chat=SITI, sender=SITI, emoji="👍"
    )
    yield MessageReaction(
        tenant="acme", seq=52, at=AT, id="3EB1", chat=SITI, sender=SITI, emoji="", from_me=True
    )
    yield MessageEdited(tenant="acme", seq=53, at=AT, id="3EB1", chat=SITI, sender=SITI, text="new")
    yield MessageRevoked(tenant="acme", seq=54, at=AT, id="3EB1", chat=SITI, sender=SITI)
    yield PresenceChanged(
        tenant="acme", seq=55, at=AT, jid=SITI, presence=Presence.UNAVAILABLE, last_seen=AT
    )
    yield PresenceChanged(tenant="acme", seq=56, at=AT, jid=SITI, presence=Presence.AVAILABLE)
    yield ChatStateChanged(
        tenant="acme", seq=57, at=AT, chat=SITI, sender=SITI, state=ChatState.COMPOSING
    )
    team = "120363000000000001@g.us"
    yield GroupJoined(tenant="acme", seq=58, at=AT, jid=team, subject="Team", by=SITI)
    yield GroupJoined(
        tenant="acme", seq=59, at=AT, jid=team, subject="Team", by=None, participant_count=3
    )
    yield GroupUpdated(tenant="acme", seq=60, at=AT, jid=team, by=SITI, subject="Team A")
    yield GroupUpdated(tenant="acme", seq=61, at=AT, jid=team, description="", locked=True)
    yield GroupParticipantsChanged(
        tenant="acme",
        seq=62,
        at=AT,
        jid=team,
        action=ParticipantAction.PROMOTE,
        participants=(SITI, "628111222444@s.whatsapp.net"),
        by=SITI,
    )
    yield GroupLeft(tenant="acme", seq=63, at=AT, jid=team, by=SITI)
    yield GroupLeft(tenant="acme", seq=64, at=AT, jid=team)
    yield Gap(tenant="acme", seq=40, at=AT, first_seq=34, last_seq=40)
    yield Gap(tenant="acme", seq=900, at=AT, first_seq=41, last_seq=900, missed=None)


MEDIA = Media(
    id="m" * 22, mime_type="image/jpeg", size=3, file_name=None, sha256="ab", thumbnail=None
)
CONTENTS = (
    Text("hi", reply_to="3EB0F"),
    Image(MEDIA, caption="receipt"),
    Video(MEDIA),
    Audio(MEDIA, voice=True),
    Document(attrs.evolve(MEDIA, file_name="a.pdf"), file_name="a.pdf", caption="invoice"),
    Sticker(MEDIA),
    Location(-6.2, 106.8, name="Monas", address="Jakarta"),
    Contact(("BEGIN:VCARD\nVERSION:3.0\nFN:Siti\nEND:VCARD",), display_name="Siti"),
    Unsupported("poll"),
)
SAMPLES = list(_samples())


def _event_classes() -> set[type[Event]]:
    """Every event class that a module of wagate defines (every module, imported)."""
    found = set()
    for info in pkgutil.walk_packages(wagate.__path__, "wagate."):
        if info.name == "wagate.__main__":  # runs the command line
            continue
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # an optional extra that is not installed defines no event
            continue
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Event) and value is not Event:
                found.add(value)
    return found


def test_every_event_class_is_in_the_table_and_has_a_sample() -> None:
    """Each of wagate's event classes has exactly one kind in the table, and a sample here."""
    in_table = [kind.cls for kind in KINDS]
    assert sorted(in_table, key=str) == sorted(set(in_table), key=str)
    assert _event_classes() == set(in_table)
    assert {type(event) for event in SAMPLES} == set(in_table)
    assert {r for e in SAMPLES if isinstance(e, Disconnected) for r in [e.reason]} == set(
        DisconnectReason
    )


def test_an_events_own_message_is_its_wire_name() -> None:
    """``wire_name`` is the name of the first message the table makes in the colon naming."""
    for kind in KINDS:
        assert kind.cls.wire_name == kind.colon[0].name
    for event in SAMPLES:
        assert to_wire(event)[0].name == event.wire_name == kind_of(event).colon[0].name


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: f"{type(e).__name__}-{e.seq}")
def test_every_message_round_trips_through_json(event: Event) -> None:
    """Each colon message of each sample decodes back to an equal event, through JSON text."""
    for message in to_wire(event):
        data = json.loads(json.dumps(message.data, allow_nan=False))
        assert from_wire(message.name, data) == event
        assert (data["tenant"], data["seq"]) == (event.tenant, event.seq)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: f"{type(e).__name__}-{e.seq}")
def test_every_event_round_trips_through_the_cluster_form(event: Event) -> None:
    """The backplane's encoding and a command result carrying the event both come back equal."""
    name, data = encode_event(event)
    assert name == event.wire_name
    assert decode_event(name.encode(), data.encode()) == event
    result = json.loads(json.dumps(encode_result(event)))
    assert decode_result(result) == event


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: f"{type(e).__name__}-{e.seq}")
def test_the_status_an_event_leaves_round_trips_through_the_cluster_form(event: Event) -> None:
    """The status a state event leaves (QR, account, reason) crosses the cluster unchanged."""
    status = status_of("acme", (event,))
    state = kind_of(event).state
    assert status.state == (state or State.DISCONNECTED)
    back = decode_result(json.loads(json.dumps(encode_result(status))))
    assert isinstance(back, Status) and back == status
    if isinstance(event, QrGenerated):
        assert status.qr == event and "qrCode" not in encode_result(status)["value"]["qr"]


def test_a_qr_counts_its_expiry_from_the_encoding() -> None:
    """A pending code says how long it has left; an expired one says 0 and expired."""
    _, old = (event for event in SAMPLES if isinstance(event, QrGenerated))
    now = utcnow()  # not the samples' time: they were made when the module was collected
    fresh = QrGenerated(
        tenant="acme", seq=1, at=now, code="2@abc,def", expires_at=now + timedelta(seconds=60)
    )
    (message,) = to_wire(fresh, now=now)
    assert 0 < message.data["expiresIn"] <= 3600 and message.data["expired"] is False
    (message,) = to_wire(old)
    assert (message.data["expiresIn"], message.data["expired"]) == (0.0, True)


def test_a_gap_without_missed_counts_its_span() -> None:
    """A stream:gap with no ``missed`` key means every seq of the span; ``null`` means unknown."""
    lagged = next(e for e in SAMPLES if isinstance(e, Gap) and e.missed is not None)
    data = dict(to_wire(lagged)[0].data)
    del data["missed"]
    assert from_wire("stream:gap", data) == lagged
    unknown = next(e for e in SAMPLES if isinstance(e, Gap) and e.missed is None)
    assert to_wire(unknown)[0].data["missed"] is None


def test_every_payload_key_is_declared_once_in_the_source() -> None:
    """The keys clients read (``pushName``, ``expiresIn``...) are written in one module only."""
    from pathlib import Path

    keys = {"pushName", "expiresIn", "expiresAt", "qrCode", "willRetry", "retryIn", "isGroup"}
    keys |= {"phoneNumber", "expired", "missed", "attempt", "detail"}
    sources = [
        (path, path.read_text(encoding="utf-8"))
        for path in Path(wagate.__file__).parent.rglob("*.py")
    ]
    for key in keys:
        where = [path.name for path, text in sources if f'"{key}"' in text]
        assert where == ["_wire.py"], (key, where)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: f"{type(e).__name__}-{e.seq}")
def test_the_table_s_schemas_describe_what_it_writes(event: Event) -> None:
    """An event's own message, and the status it leaves, match the table's JSON Schemas.

    The schemas are what /openapi.json documents (``message:sent``, the status body);
    each key written is a property, and each key the schema requires is written.
    """
    jsonschema = pytest.importorskip("jsonschema")
    from wagate._wire import CONNECTION_STATUS, object_schema, payload_schema, status_payload

    own = kind_of(event).colon[0]
    payloads = [(object_schema(own.fields), to_wire(event)[0].data)]
    if kind_of(event).state is not None:
        status = status_payload(status_of("acme", (event,)))
        payloads.append((payload_schema(CONNECTION_STATUS), status))
    for schema, data in payloads:
        jsonschema.validate(data, {**schema, "additionalProperties": False})


def _results() -> list[object]:
    team = "120363000000000001@g.us"
    info = GroupInfo(jid=team, subject="Team", participant_count=2, is_admin=True)
    group = Group(
        jid=team,
        subject="Team",
        description="us",
        participants=(Participant(jid=SITI, role=GroupRole.SUPERADMIN),),
    )
    return [
        SentMessage(id="3EB0", to=SITI, timestamp=AT, kind="text"),
        group,
        info,
        [info, info],
        [
            ParticipantResult(jid=SITI, ok=True),
            ParticipantResult(jid=SITI, ok=False, error=ParticipantError.PRIVACY, code=403),
        ],
        [NumberCheck(number="+628111222333", on_whatsapp=True, jid=SITI)],
        ContactInfo(jid=SITI, push_name="Siti", verified=False, blocked=True),
        ProfilePicture(jid=SITI, url="https://pps.example/p.jpg", id="1"),
        [],
        "https://chat.whatsapp.com/ABCDEFGHIJKLMNOPQRSTUV",
    ]


@pytest.mark.parametrize("value", _results(), ids=lambda v: type(v).__name__)
def test_every_command_result_crosses_a_cluster_unchanged(value: object) -> None:
    """Each result type of the results table (alone, or a list of them) reads back equal."""
    assert decode_result(json.loads(json.dumps(encode_result(value)))) == value


def test_a_result_of_no_known_type_is_refused() -> None:
    with pytest.raises(TypeError, match="RESULTS"):
        encode_result(object())
    with pytest.raises(TypeError):
        encode_result([SITI, 1])
