"""The ``wireproto`` command line: ``wireproto serve`` runs the installed providers."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Sequence

import wireproto
from wireproto.connection import ConnectionSettings
from wireproto.registry import Registry
from wireproto.server import Server
from wireproto.testing import _cli as fuzz_cli

__all__ = ["main"]

_log = logging.getLogger("wireproto.cli")

_LOG_LEVELS = ("debug", "info", "warning", "error")


def _seconds(text: str) -> float:
    value = float(text)
    if not value >= 0:  # also rejects NaN
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds >= 0")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0 picks a free one)")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wireproto", description="Serve wire protocols from installed providers."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {wireproto.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = commands.add_parser("serve", help="serve every installed provider on one port")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=6380, help="port (default 6380; 0: any)")
    serve.add_argument("--log-level", choices=_LOG_LEVELS, default="info")
    serve.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    serve.add_argument(
        "--detect-timeout",
        type=_seconds,
        default=5.0,
        metavar="SECONDS",
        help="close a client still undetected after this long (default 5; 0: never)",
    )
    serve.add_argument(
        "--max-detect-bytes",
        type=_positive_int,
        default=16 * 1024,
        metavar="N",
        help="close a client still undetected after N bytes (default 16384)",
    )
    serve.set_defaults(handler=_serve)

    fuzz = commands.add_parser("fuzz", help="fuzz a wire format's parser and detector")
    fuzz_cli.add_arguments(fuzz)
    fuzz.set_defaults(handler=fuzz_cli.run)
    return parser


def _format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _serve(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if args.loop == "uvloop":
        try:
            import uvloop  # noqa: PLC0415 (optional dependency)
        except ImportError:
            _log.error("--loop uvloop needs uvloop: pip install 'wireproto[uvloop]'")
            return 2
        loop_factory = uvloop.new_event_loop
    settings = ConnectionSettings(
        max_detect_bytes=args.max_detect_bytes,
        detect_timeout=args.detect_timeout or None,
    )
    registry = Registry.from_plugins()
    if registry.plugin_failures:  # each failure was logged by the registry
        names = ", ".join(failure.name for failure in registry.plugin_failures)
        _log.warning("serving without the provider plugins that failed: %s", names)
    if not registry.formats:
        _log.warning("no wire formats are registered: every client will be closed")
    server = Server(registry, args.host, args.port, settings=settings)
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            return runner.run(_run(server))
    except KeyboardInterrupt:  # before the signal handlers were in place
        return 130


async def _run(server: Server) -> int:
    try:
        await server.start()
    except OSError as exc:
        _log.error("cannot listen: %s", exc)
        return 1
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    handled: list[signal.Signals] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (NotImplementedError, RuntimeError):  # no signal handlers on this platform
            continue
        handled.append(signum)
    try:
        names = ", ".join(fmt.name for fmt in server.registry.formats) or "no formats"
        where = ", ".join(_format_address(host, port) for host, port in server.addresses)
        print(f"wireproto serving {names} on {where}", flush=True)
        await stop.wait()
    finally:
        await server.close()
        for signum in handled:
            loop.remove_signal_handler(signum)
    print("wireproto stopped", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    args = _parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)
