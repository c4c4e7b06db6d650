"""Where the webhook names live: wagate.adapters.webhooks, and still wagate.adapters.callbacks."""

from __future__ import annotations

import wagate.adapters.callbacks
import wagate.adapters.webhooks


def test_callbacks_still_exports_every_webhook_name_as_the_same_object() -> None:
    """Each name of wagate.adapters.webhooks is exported by callbacks too, as the same object."""
    assert wagate.adapters.callbacks.__all__ == wagate.adapters.webhooks.__all__
    for name in wagate.adapters.webhooks.__all__:
        assert getattr(wagate.adapters.callbacks, name) is getattr(wagate.adapters.webhooks, name)


def test_the_webhook_classes_say_where_they_are_public() -> None:
    """The classes and functions are defined in the package, not in the callbacks module."""
    for name in ("WebhookDispatcher", "WebhookEndpoint", "SQLiteDeadLetters", "verify_signature"):
        module = getattr(wagate.adapters.webhooks, name).__module__
        assert module.startswith("wagate.adapters.webhooks."), (name, module)
