"""The listener's counters (``ServerStats``) in the Prometheus text exposition format 0.0.4.

Every field of :class:`~wireproto._stats.ServerStats` and
:class:`~wireproto._stats.FormatStats` is exported: the known ones with their
type and help, any field added later as an ``untyped`` metric of its own
name, so that no counter the listener keeps is left out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping

from wireproto import CloseReason, FormatStats, ServerStats

__all__ = ["CONTENT_TYPE", "render"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_PREFIX = "wireproto_"

# field -> (metric name, type, help, label of a mapping's keys)
_SERVER: dict[str, tuple[str, str, str, str]] = {
    "accepted": ("connections_accepted_total", "counter", "Sockets accepted.", ""),
    "active": ("connections_active", "gauge", "Sockets open now.", ""),
    "rejected": (
        "connections_rejected_total",
        "counter",
        "Sockets closed at accept over a limit, by reason.",
        "reason",
    ),
    "detections": (
        "detections_total",
        "counter",
        "Detection passes (inner ones of layers included), by outcome.",
        "outcome",
    ),
    "bytes_received": ("received_bytes_total", "counter", "Bytes read from sockets.", ""),
    "bytes_sent": ("sent_bytes_total", "counter", "Bytes written to sockets.", ""),
    "protocol_errors": (
        "protocol_errors_total",
        "counter",
        "Connections closed for a protocol error.",
        "",
    ),
    "closes": ("closes_total", "counter", "Socket connections closed, by reason.", "reason"),
    "receive_memory": (
        "receive_memory_bytes",
        "gauge",
        "Receive-buffer bytes reserved from the memory budget.",
        "",
    ),
    "receive_memory_limit": (
        "receive_memory_limit_bytes",
        "gauge",
        "The memory budget of all connections.",
        "",
    ),
    "draining": ("draining", "gauge", "1 while the server is draining, else 0.", ""),
}
_FORMAT: dict[str, tuple[str, str, str, str]] = {
    "sessions": ("format_sessions_total", "counter", "Sessions started, by format.", ""),
    "active": ("format_sessions_active", "gauge", "Sessions open now, by format.", ""),
    "bytes_received": (
        "format_received_bytes_total",
        "counter",
        "Bytes received by the format's sessions (a layer's inner stream).",
        "",
    ),
    "bytes_sent": (
        "format_sent_bytes_total",
        "counter",
        "Bytes sent by the format's sessions.",
        "",
    ),
    "protocol_errors": (
        "format_protocol_errors_total",
        "counter",
        "Sessions closed for a protocol error, by format.",
        "",
    ),
    "closes": (
        "format_closes_total",
        "counter",
        "Sessions closed, by format and reason.",
        "reason",
    ),
}
# Labels always present (zero until counted), so that rate() has a series to work on.
_KNOWN_KEYS = {
    "closes": tuple(reason.value for reason in CloseReason),
    "detections": ("match", "fallback", "no-match", "timeout"),
}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{_escape(value)}"' for key, value in labels.items()) + "}"


def _number(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _samples(
    field: str, value: object, labels: dict[str, str], key_label: str
) -> Iterator[tuple[dict[str, str], object]]:
    """The (labels, number) samples of one field's value (a number or a mapping of numbers)."""
    if isinstance(value, Mapping):
        keys = dict.fromkeys(_KNOWN_KEYS.get(field, ()), 0)
        keys.update(value)
        for key in sorted(keys):
            yield {**labels, key_label or "key": str(key)}, keys[key]
    elif isinstance(value, int | float):
        yield labels, value


def render(stats: ServerStats) -> str:
    """The exposition of ``stats``: one family per field, formats labelled ``format``."""
    families: dict[str, tuple[str, str, list[str]]] = {}

    def add(
        table: Mapping[str, tuple[str, str, str, str]],
        field: str,
        value: object,
        labels: dict[str, str],
    ) -> None:
        name, kind, help_text, key_label = table.get(field, (field, "untyped", field, ""))
        family = families.setdefault(_PREFIX + name, (kind, help_text, []))
        for sample_labels, number in _samples(field, value, labels, key_label):
            family[2].append(f"{_PREFIX}{name}{_labels(sample_labels)} {_number(number)}")

    for field in dataclasses.fields(ServerStats):
        if field.name != "formats":
            add(_SERVER, field.name, getattr(stats, field.name), {})
    for format_name, counters in stats.formats.items():
        for field in dataclasses.fields(FormatStats):
            value = getattr(counters, field.name)
            add(_FORMAT, field.name, value, {"format": format_name})
    lines: list[str] = []
    for name, (kind, help_text, samples) in families.items():
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        lines.extend(samples)
    return "\n".join(lines) + "\n"
