"""The error registry: each error class's code and status, and its body both ways."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import pytest

from wagate import (
    InternalError,
    NotConnected,
    RemoteError,
    WagateError,
    error_from_body,
    error_response,
)

# Every module that defines an error class; those of an extra that is not installed
# are left out of the walk (their own tests skip).
ERROR_MODULES = [
    "wagate._errors",
    "wagate.adapters.auth",
    "wagate.adapters.sse",
    "wagate.adapters.socketio",
    "wagate.adapters._socketio_protocol",
    "wagate.adapters.callbacks",
    "wagate.adapters.webhooks._signing",
    "wagate.integrations._rest",
    "wagate.cluster",
]

SHARED_CODES: dict[type[WagateError], str] = {}
"""Classes that, on purpose, answer with a code another class declares (none yet)."""

# The keywords an error needs besides its message and tenant, to build one here.
SAMPLE_KEYWORDS: dict[str, dict[str, Any]] = {
    "SubscriberLagged": {"missed": 3, "last_seq": 41},
    "NotOwner": {"owner": "member-b"},
    "SendFailed": {"payload": {"id": "3EB0", "success": False, "error": "479"}},
    "RemoteError": {"code": "from_a_newer_release", "status_code": 418},
    "HttpError": {"status_code": 418},
    "StaleTimestamp": {"age": 301.5},
    "RangeNotSatisfiable": {"size": 1024},
    "RateLimited": {"retry_after": 12.5},
}


def _loaded_modules() -> None:
    for name in ERROR_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if not (exc.name or "").startswith("wagate"):
                continue  # an optional extra is not installed
            raise


def _error_classes() -> list[type[WagateError]]:
    _loaded_modules()
    found: list[type[WagateError]] = []
    todo: list[type[WagateError]] = [WagateError]
    while todo:
        cls = todo.pop()
        if cls.__module__.startswith("wagate") and cls not in found:
            found.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted(found, key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


ERROR_CLASSES = _error_classes()


def _sample(cls: type[WagateError]) -> WagateError:
    keywords = SAMPLE_KEYWORDS.get(cls.__name__, {})
    required = [
        name
        for name, parameter in inspect.signature(cls).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
        and parameter.default is inspect.Parameter.empty
        and name not in ("tenant", *keywords)
    ]
    assert required == [], f"add {cls.__name__}'s keywords {required} to SAMPLE_KEYWORDS"
    return cls(f"what went wrong ({cls.__name__})", tenant="acme", **keywords)


def test_the_walk_finds_the_errors_of_every_room() -> None:
    """The walk reaches errors of the core, the adapters and the REST API."""
    names = {cls.__name__ for cls in ERROR_CLASSES}
    assert {"NotConnected", "MissingToken", "InvalidLastEventId", "SendFailed"} <= names


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_every_error_class_declares_a_code_and_a_status(cls: type[WagateError]) -> None:
    """Each class says its own code (or is listed as sharing one) and an HTTP error status."""
    assert "code" in vars(cls) or cls in SHARED_CODES, f"{cls.__name__} declares no code"
    assert isinstance(cls.code, str) and cls.code
    assert isinstance(cls.status_code, int) and 400 <= cls.status_code < 600


def test_no_two_classes_declare_the_same_code() -> None:
    """A code names one class, so that a body comes back as that class."""
    owners: dict[str, list[str]] = {}
    for cls in ERROR_CLASSES:
        if "code" in vars(cls):
            owners.setdefault(cls.code, []).append(cls.__qualname__)
    assert {code: names for code, names in owners.items() if len(names) > 1} == {}
    for cls, code in SHARED_CODES.items():
        assert code in owners, f"{cls.__name__} shares a code no class declares"


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_every_error_round_trips_through_its_body(cls: type[WagateError]) -> None:
    """The complete body of an error comes back as the same class, message, tenant and details."""
    error = _sample(cls)
    answer = error_response(error, complete=True)
    back = error_from_body(answer.body, status=answer.status)
    assert type(back) is cls
    assert (back.message, back.tenant, back.details()) == (
        error.message,
        error.tenant,
        error.details(),
    )
    assert (back.code, back.status_code) == (error.code, error.status_code)
    assert answer.status == error.status_code


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_a_clients_body_has_the_code_and_message_only(cls: type[WagateError]) -> None:
    """What a client reads is ``{"error": {"code", "message"}}`` and the class's extras."""
    error = _sample(cls)
    answer = error_response(error)
    assert answer.body == {
        "error": {"code": error.code, "message": error.message},
        **error.extras(),
    }
    assert answer.error is error
    www = [value for name, value in answer.headers if name == "WWW-Authenticate"]
    assert www == ([f'Bearer error="{error.code}"'] if error.status_code == 401 else [])


def test_an_unexpected_exception_becomes_an_internal_error_without_its_words() -> None:
    """Any other exception is answered 500 ``internal_error``, saying nothing of its text."""
    answer = error_response(RuntimeError("password=hunter2"))
    assert isinstance(answer.error, InternalError)
    assert answer.status == 500
    assert answer.body == {
        "error": {"code": "internal_error", "message": "internal error; see the server log"}
    }
    assert (InternalError.code, WagateError.code) == ("internal_error", "wagate_error")


def test_answering_an_error_changes_nothing_in_it() -> None:
    """Making a body reads the error and its class; neither is changed."""
    error = NotConnected("link the account first", tenant="acme")
    before = dict(vars(error))
    error_response(error, complete=True)
    assert vars(error) == before
    assert (NotConnected.code, NotConnected.status_code) == ("not_connected", 409)


def test_a_code_unknown_here_keeps_its_code_and_status() -> None:
    """A body of a class this process does not know comes back as a RemoteError saying so."""
    back = error_from_body(
        {"error": {"code": "from_a_newer_release", "message": "m", "tenant": "acme"}}, status=418
    )
    assert isinstance(back, RemoteError)
    assert (back.code, back.status_code, back.message, back.tenant) == (
        "from_a_newer_release",
        418,
        "m",
        "acme",
    )
    assert error_response(back).status == 418


def test_a_clients_body_of_an_error_with_details_comes_back_as_remote() -> None:
    """A body without the details a class needs keeps its code and status all the same."""
    body = {"error": {"code": "subscriber_lagged", "message": "behind"}}
    back = error_from_body(body)
    assert isinstance(back, RemoteError)
    assert (back.code, back.status_code) == ("subscriber_lagged", 409)
