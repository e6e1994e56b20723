"""The RESP command table and handlers, with Redis 7's replies and error texts.

A handler takes the session and the command's arguments (``argv[0]`` is the
command name) and returns the encoded reply. Arity and authentication are
checked before the handler runs (:meth:`RespSession.execute`), in Redis's
order: unknown command, wrong arity, then NOAUTH.

One module per command family (:mod:`.connection`, :mod:`.server`,
:mod:`.transactions`, :mod:`.keys`, :mod:`.strings`); what they share is in
``_base``, the table and :func:`lookup` in ``_table``.
"""

from __future__ import annotations

from ._base import REDIS_VERSION, Client, Command, Handler, ProviderState, Tally, unknown_command
from ._table import COMMANDS, command_names, lookup

__all__ = [
    "COMMANDS",
    "REDIS_VERSION",
    "Client",
    "Command",
    "Handler",
    "ProviderState",
    "Tally",
    "command_names",
    "lookup",
    "unknown_command",
]
