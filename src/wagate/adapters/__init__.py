"""Transports that carry wagate events to the outside world: callbacks, webhooks, SSE, Socket.IO."""
