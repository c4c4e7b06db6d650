"""Webhooks without the webhooks extra: endpoints are checked, starting names the extra."""

from __future__ import annotations

import sys

import pytest

from wagate import Gateway
from wagate.adapters.callbacks import WebhookDispatcher, WebhookEndpoint
from wagate.drivers.simulator import SimulatedDriver

pytestmark = pytest.mark.anyio


async def test_starting_a_dispatcher_without_httpx_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without httpx, endpoints are still checked and starting a dispatcher asks for the extra."""
    monkeypatch.setitem(sys.modules, "httpx", None)  # as if httpx were not installed
    hook = WebhookEndpoint(url="https://example.com/hook", secret="0123456789abcdef-secret")
    async with Gateway(lambda tenant: SimulatedDriver()) as gateway:
        with pytest.raises(ImportError, match=r"wagate\[webhooks\]"):
            async with WebhookDispatcher(gateway, [hook]):
                pass
        assert gateway.hub.subscribers(None) == 0
