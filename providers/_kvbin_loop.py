"""REQUEST's consumer loop (kvbin), generated from its declaration: do not edit.

Regenerate it from the repository root after a change to ``REQUEST`` or to the loop
generator (``tests/test_construct_emit.py`` fails until then; meanwhile the generated
loop runs)::

    .venv/bin/python -m wireproto.providers.kvbin > providers/_kvbin_loop.py
"""

from typing import Any, Final
from construct.core import ConstError
from construct.core import ConstructError
from construct.core import StreamError
from wireproto._construct_compile import _short
import struct
from wireproto._construct_emit import register

_const17_0: Final = b'\xc0KV'
_steps18_0: Final = ((2, None, None),)
_unpack16_0: Final = struct.Struct('>3sBLL').unpack_from
_unpack19_0: Final = struct.Struct('>H').unpack_from


def consume_framed_fields_0(
    buf: Any,
    offset: int,
    total: int,
    max_body: int,
    check: Any,
    handler: Any,
    sender: Any,
    replies: list[Any],
    flush: Any,
    flush_size: int,
    watch_close: bool,
    malformed: Any,
) -> int:
    v1: bytes
    v2: int
    v3: int
    v4: int
    v5: int
    queued = 0
    while True:
        try:
            if total - offset < 12:
                break
            v1, v2, v3, v4, = _unpack16_0(buf, offset)
            if not (v4 <= max_body and v1 == b'\xc0KV'):
                check(buf, offset)  # the framer raises its error
                if not v1 == _const17_0:
                    raise ConstError(f'parsing expected {_const17_0!r} but parsed {v1!r}')
            stop = 12 + v4
            if total - offset < stop:
                break
            data = buf[offset : offset + stop].tobytes()
            if stop >= 65536:
                data = memoryview(data)  # byte fields are views of the one copy
            if stop - 12 < 2:
                _short(data, 12, stop, _steps18_0)
            v5, = _unpack19_0(data, 12)
            end6 = 14 + v5
            if end6 > stop:
                raise StreamError(f'stream read less than specified amount, expected {v5}, found {stop - 14}')
            g7 = data[14:end6]
            g8 = data[end6:stop]
            message = (v2, v3, g7, g8, )
        except (ConstructError, UnicodeError) as exc:
            raise malformed(exc) from None
        offset += stop
        reply = handler(message, sender)
        if reply is not None:
            replies.append(reply)
            queued += len(reply)
            if queued >= flush_size:
                flush()
                queued = 0
        if watch_close and sender.close_requested:
            break
    return offset


_TEXT_0: Final = "from typing import Any, Final\nfrom construct.core import ConstError\nfrom construct.core import ConstructError\nfrom construct.core import StreamError\nfrom wireproto._construct_compile import _short\nimport struct\n\n_const17: Final = b'\\xc0KV'\n_steps18: Final = ((2, None, None),)\n_unpack16: Final = struct.Struct('>3sBLL').unpack_from\n_unpack19: Final = struct.Struct('>H').unpack_from\n\n\ndef consume_framed_fields(\n    buf: Any,\n    offset: int,\n    total: int,\n    max_body: int,\n    check: Any,\n    handler: Any,\n    sender: Any,\n    replies: list[Any],\n    flush: Any,\n    flush_size: int,\n    watch_close: bool,\n    malformed: Any,\n) -> int:\n    v1: bytes\n    v2: int\n    v3: int\n    v4: int\n    v5: int\n    queued = 0\n    while True:\n        try:\n            if total - offset < 12:\n                break\n            v1, v2, v3, v4, = _unpack16(buf, offset)\n            if not (v4 <= max_body and v1 == b'\\xc0KV'):\n                check(buf, offset)  # the framer raises its error\n                if not v1 == _const17:\n                    raise ConstError(f'parsing expected {_const17!r} but parsed {v1!r}')\n            stop = 12 + v4\n            if total - offset < stop:\n                break\n            data = buf[offset : offset + stop].tobytes()\n            if stop >= 65536:\n                data = memoryview(data)  # byte fields are views of the one copy\n            if stop - 12 < 2:\n                _short(data, 12, stop, _steps18)\n            v5, = _unpack19(data, 12)\n            end6 = 14 + v5\n            if end6 > stop:\n                raise StreamError(f'stream read less than specified amount, expected {v5}, found {stop - 14}')\n            g7 = data[14:end6]\n            g8 = data[end6:stop]\n            message = (v2, v3, g7, g8, )\n        except (ConstructError, UnicodeError) as exc:\n            raise malformed(exc) from None\n        offset += stop\n        reply = handler(message, sender)\n        if reply is not None:\n            replies.append(reply)\n            queued += len(reply)\n            if queued >= flush_size:\n                flush()\n                queued = 0\n        if watch_close and sender.close_requested:\n            break\n    return offset\n"


register(
    {
        _TEXT_0: consume_framed_fields_0,
    }
)
