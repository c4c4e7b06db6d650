"""The plug point between a :class:`~wagate.Session` and a WhatsApp engine.

A driver runs one WhatsApp connection at a time for one session.  The session
decides state; the driver only reports what the engine says, through the
:class:`DriverSink` it is given, and answers commands.  Drivers shipped with
wagate:

- :class:`wagate.drivers.simulator.SimulatedDriver`: an in-process simulation of
  WhatsApp's observable behaviour, for tests and demos;
- :class:`wagate.drivers.neonize.NeonizeDriver`: the real engine (whatsmeow, via
  neonize).

Writing a driver means implementing :class:`Driver`'s abstract methods; the
session calls them from its own task group and cancels :meth:`Driver.run` when
it restarts or closes.
"""

from .._driver import ConnectionEnded, Driver, DriverSink, IncomingMessage

__all__ = ["ConnectionEnded", "Driver", "DriverSink", "IncomingMessage"]
