"""Instructions retired, from a Linux ``perf_event_open`` counter, where one is available.

A deterministic measure of work done in C (a ``re.search`` from offset 0 on
every call copies nothing, so only an instruction count sees it). The
counter counts this thread's user-space instructions; it needs Linux,
``/proc/sys/kernel/perf_event_paranoid`` at 2 or below, no seccomp filter
refusing the call, and a hardware counter (many virtual machines have none).
:meth:`InstructionCounter.open` says which of these failed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import struct
import sys
from pathlib import Path
from types import TracebackType

__all__ = ["InstructionCounter", "paranoid_level"]

_SYSCALL = {"x86_64": 298, "aarch64": 241}
_PERF_TYPE_HARDWARE = 0
_PERF_COUNT_HW_INSTRUCTIONS = 1
_ATTR_SIZE = 128
# perf_event_attr flag bits: disabled, exclude_kernel, exclude_hv.
_FLAGS = (1 << 0) | (1 << 5) | (1 << 6)
_ENABLE, _DISABLE, _RESET = 0x2400, 0x2401, 0x2403
_PARANOID = Path("/proc/sys/kernel/perf_event_paranoid")


def paranoid_level() -> int | None:
    """``perf_event_paranoid``, or None where there is no such file."""
    try:
        return int(_PARANOID.read_text().strip())
    except (OSError, ValueError):
        return None


class InstructionCounter:
    """An open counter of this thread's user-space instructions; use it as a context."""

    def __init__(self, fd: int, libc: ctypes.CDLL) -> None:
        self._fd = fd
        self._libc = libc

    @classmethod
    def open(cls) -> InstructionCounter | str:
        """A counter, or the reason there is none (one line, for reports)."""
        number = _SYSCALL.get(platform.machine())
        if not sys.platform.startswith("linux") or number is None:
            return f"perf_event_open is not available on {sys.platform}/{platform.machine()}"
        level = paranoid_level()
        if level is not None and level > 2:
            return f"kernel.perf_event_paranoid is {level} (2 or less lets a process count itself)"
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        attr = bytearray(_ATTR_SIZE)
        struct.pack_into(
            "IIQQQQQ", attr, 0, _PERF_TYPE_HARDWARE, _ATTR_SIZE,
            _PERF_COUNT_HW_INSTRUCTIONS, 0, 0, 0, _FLAGS,
        )  # fmt: skip
        buffer = ctypes.create_string_buffer(bytes(attr), _ATTR_SIZE)
        fd = libc.syscall(number, buffer, 0, -1, -1, 0)
        if fd < 0:
            error = ctypes.get_errno()
            return (
                f"perf_event_open refused an instruction counter: {os.strerror(error)} "
                "(no hardware counter in this machine or VM, or a seccomp filter)"
            )
        return cls(fd, libc)

    def read(self) -> int:
        """Instructions counted so far."""
        return int.from_bytes(os.read(self._fd, 8), sys.byteorder)

    def __enter__(self) -> InstructionCounter:
        self._libc.ioctl(self._fd, _RESET, 0)
        self._libc.ioctl(self._fd, _ENABLE, 0)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._libc.ioctl(self._fd, _DISABLE, 0)
        os.close(self._fd)
