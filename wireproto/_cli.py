"""The ``wireproto`` command line: ``wireproto serve`` runs the installed providers."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
import ssl
import sys
from collections.abc import Callable, Sequence

import wireproto
from wireproto import _build
from wireproto import _workers as workers
from wireproto._auth import AuthSettings
from wireproto._connection import ConnectionSettings
from wireproto._listener_limits import RESERVED_FILES, fit_open_files
from wireproto._proxy import ProxySettings
from wireproto._registry import Registry
from wireproto._server import Server, ServerLimits
from wireproto._tls import TlsSettings
from wireproto.testing import _cli as fuzz_cli

__all__ = ["main"]

_log = logging.getLogger("wireproto.cli")

_LOG_LEVELS = ("debug", "info", "warning", "error")
_DEFAULT_LIMITS = ServerLimits()


def _version() -> str:
    """``wireproto 0.1.0 (compiled: 11 modules)`` or ``... (pure Python)``."""
    return f"%(prog)s {wireproto.__version__} ({_build.current().describe()})"


def _number(text: str, kind: type[float] | type[int], fallback: float) -> float:
    """``kind(text)``, or ``fallback`` (an invalid value) when it is not a number, so that
    argparse shows the option's own message instead of ``invalid _port value``."""
    try:
        return kind(text)
    except ValueError:
        return fallback


def _seconds(text: str) -> float:
    value = _number(text, float, -1.0)
    if not value >= 0:  # also rejects NaN
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds >= 0")
    return value


def _positive_seconds(text: str) -> float:
    value = _number(text, float, -1.0)
    if not value > 0:  # also rejects NaN
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds > 0")
    return value


def _positive_int(text: str) -> int:
    value = int(_number(text, int, 0))
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


_SIZE_SUFFIXES = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def _size(text: str) -> int:
    """A byte count, optionally with a k, m or g suffix (powers of 1024)."""
    factor = _SIZE_SUFFIXES.get(text[-1:].lower(), 1)
    digits = text[:-1] if factor != 1 else text
    try:
        value = int(digits) * factor
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (e.g. 65536, 64k, 1g)") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive size")
    return value


def _count_or_zero(text: str) -> int:
    value = int(_number(text, int, -1))
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer >= 0")
    return value


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _port(text: str) -> int:
    value = int(_number(text, int, -1))
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0 picks a free one)")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wireproto", description="Serve wire protocols from installed providers."
    )
    parser.add_argument("--version", action="version", version=_version())
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
    serve.add_argument(
        "--fallback-format",
        metavar="NAME",
        help="give a client still undetected at the deadline to this format instead of closing",
    )
    serve.add_argument(
        "--idle-timeout",
        type=_seconds,
        default=0.0,
        metavar="SECONDS",
        help="close a client that sent nothing for this long (default 0: never)",
    )
    serve.add_argument(
        "--max-connections",
        type=_positive_int,
        default=_DEFAULT_LIMITS.max_connections,
        metavar="N",
        help="refuse connections past N open ones (default %(default)s)",
    )
    serve.add_argument(
        "--max-connections-per-client",
        type=_count_or_zero,
        default=_DEFAULT_LIMITS.max_connections_per_client,
        metavar="N",
        help="refuse connections past N open ones from one IP address (default %(default)s; "
        "0: no limit)",
    )
    serve.add_argument(
        "--max-receive-memory",
        type=_size,
        default=_DEFAULT_LIMITS.max_receive_memory,
        metavar="BYTES",
        help="memory held for all connections together: receive buffers, arguments not run "
        "yet, replies (default 1g); a connection whose charge would pass it is closed",
    )
    serve.add_argument(
        "--max-output-buffered",
        type=_size,
        metavar="BYTES",
        help="reset a client with more reply bytes held, checked as replies are built "
        "(default: each provider's: 64m, RESP 576m)",
    )
    serve.add_argument(
        "--drain-time",
        type=_seconds,
        default=0.0,
        metavar="SECONDS",
        help="on SIGTERM/SIGINT, keep serving this long with /healthz answering 503 before "
        "closing (default 0; a second signal ends it)",
    )
    serve.add_argument(
        "--shutdown-timeout",
        type=_seconds,
        default=5.0,
        metavar="SECONDS",
        help="on SIGTERM/SIGINT, time to flush replies before resetting (default 5)",
    )
    tls = serve.add_argument_group("TLS (sniffed on the same port)")
    tls.add_argument("--tls-cert", metavar="FILE", help="certificate chain (PEM): enables TLS")
    tls.add_argument("--tls-key", metavar="FILE", help="private key (PEM), if not in --tls-cert")
    tls.add_argument(
        "--tls-required", action="store_true", help="serve TLS clients only (default: both)"
    )
    tls.add_argument(
        "--tls-handshake-timeout",
        type=_positive_seconds,
        default=10.0,
        metavar="SECONDS",
        help="close a client whose handshake takes longer (default 10)",
    )
    tls.add_argument(
        "--tls-alpn",
        action="append",
        default=[],
        metavar="PROTOCOL",
        help="an ALPN protocol to offer (repeatable; sessions see the chosen one)",
    )
    proxy = serve.add_argument_group("PROXY protocol (v1 and v2)")
    proxy.add_argument(
        "--proxy-protocol-from",
        action="append",
        type=_network,
        default=[],
        metavar="CIDR",
        help="accept PROXY headers from this network (repeatable; default: from nobody)",
    )
    proxy.add_argument(
        "--proxy-protocol-required",
        action="store_true",
        help="peers in --proxy-protocol-from must send a PROXY header",
    )
    serve.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        metavar="N",
        help="server processes sharing the port with SO_REUSEPORT (default 1)",
    )
    serve.add_argument(
        "--reuse-port", action="store_true", help="set SO_REUSEPORT on the listening socket"
    )
    durability = serve.add_argument_group("durability (docs/durability.md)")
    durability.add_argument(
        "--dir",
        metavar="DIR",
        help="log every write to the shared store in DIR and replay it at start (default: "
        "memory only, no file written); with --workers N, worker K uses DIR/worker-K",
    )
    durability.add_argument(
        "--appendfsync",
        choices=("always", "everysec", "no"),
        default="everysec",
        help="with --dir: fsync before each batch of replies (always), once a second "
        "(everysec, the default) or never (no: the OS decides)",
    )
    serve.add_argument(
        "--password",
        metavar="SECRET",
        help="every client must authenticate, whatever its wire format (RESP AUTH, memcached "
        "SASL PLAIN or text auth as user 'default'); formats that cannot authenticate (kvbin) "
        "are refused. --set resp.password=SECRET is an alias",
    )
    serve.add_argument(
        "--set",
        dest="options",
        action="append",
        default=[],
        type=_option,
        metavar="NAME=VALUE",
        help="a provider option, e.g. resp.password=secret (repeatable)",
    )
    serve.set_defaults(handler=_serve)

    fuzz = commands.add_parser("fuzz", help="fuzz a wire format's parser and detector")
    fuzz_cli.add_arguments(fuzz)
    fuzz.set_defaults(handler=fuzz_cli.run)

    formats = commands.add_parser(
        "formats", help="list the installed formats, their priorities and detector overlaps"
    )
    formats.set_defaults(handler=fuzz_cli.run_formats)
    detect = commands.add_parser(
        "detect", help="show each format's verdict on some first bytes, and the winner"
    )
    fuzz_cli.add_detect_arguments(detect)
    detect.set_defaults(handler=fuzz_cli.run_detect)
    return parser


def _format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _tls_settings(args: argparse.Namespace) -> TlsSettings | None:
    if args.tls_cert is None:
        if args.tls_key or args.tls_required or args.tls_alpn:
            raise ValueError("the TLS options need --tls-cert")
        return None
    for option, path in (("--tls-cert", args.tls_cert), ("--tls-key", args.tls_key)):
        if path is not None and not os.path.isfile(path):
            raise ValueError(f"{option} {path!r}: no such file")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(args.tls_cert, args.tls_key)
    except (OSError, ssl.SSLError) as exc:
        files = f"{args.tls_cert!r}" + (f" and --tls-key {args.tls_key!r}" if args.tls_key else "")
        raise ValueError(
            f"cannot load the certificate chain from --tls-cert {files}: {exc}"
        ) from exc
    if args.tls_alpn:
        context.set_alpn_protocols(args.tls_alpn)
    return TlsSettings(
        context,
        required=args.tls_required,
        handshake_timeout=args.tls_handshake_timeout,
    )


def _raise_file_limit(connections: int) -> None:
    """Let the process hold ``connections`` sockets if the limits allow; else say so."""
    fits = fit_open_files(connections)
    if fits < connections:
        _log.warning(
            "event=limits.files open_files=%d max_connections=%d: raise ulimit -n",
            fits + RESERVED_FILES,
            connections,
        )


def _option(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    return name.strip(), value


_RESP_PASSWORD = "resp.password"


def _plugin_options(args: argparse.Namespace) -> dict[str, str]:
    options = {"resp.max-clients": str(args.max_connections)}
    if args.dir and args.workers == 1:  # the supervisor of --workers keeps no store
        worker = os.environ.get(workers.WORKER_INDEX_ENV)
        options["persistence.dir"] = (
            os.path.join(args.dir, f"worker-{worker}") if worker is not None else args.dir
        )
        options["persistence.appendfsync"] = args.appendfsync
    options.update(args.options)  # --set wins over the shortcuts
    # The password is the listener's, not RESP's: see _auth_settings().
    options.pop(_RESP_PASSWORD, None)
    return options


def _refused(args: argparse.Namespace, registry: Registry) -> bool:
    """Log why the options do not fit the installed plugins (an unknown fallback format,
    a ``--set`` no plugin reads); True if any does not."""
    refused = False
    if args.fallback_format is not None and args.fallback_format not in registry:
        known = ", ".join(fmt.name for fmt in registry.formats) or "none"
        _log.error(
            "--fallback-format %s: no such format is registered (registered: %s)",
            args.fallback_format,
            known,
        )
        refused = True
    given = dict(args.options)
    asked = ", ".join(sorted(registry.asked_options)) or "none"
    for name in registry.unread_options:
        if name in given:
            _log.error(
                "--set %s=%s: no installed plugin reads the option %r (options the plugins "
                "read: %s)",
                name,
                given[name],
                name,
                asked,
            )
            refused = True
    return refused


def _auth_settings(args: argparse.Namespace) -> AuthSettings:
    """The listener's authentication: ``--password``, or its old alias ``--set resp.password``."""
    password: str | None = args.password
    alias = dict(args.options).get(_RESP_PASSWORD)
    if alias is not None:
        if password is not None and alias != password:
            raise ValueError("--password and --set resp.password name different passwords")
        _log.warning("--set resp.password is an alias of --password: every format must AUTH")
        password = alias
    if password == "":
        raise ValueError("the password must not be empty")
    return AuthSettings.with_password(password)


def _serve(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        auth = _auth_settings(args)
        if args.workers > 1:  # fail here, not in workers restarted again and again
            plugins = Registry.from_plugins(options=_plugin_options(args))
            plugins.check_auth(auth, args.fallback_format)
    except ValueError as exc:
        _log.error("authentication: %s", exc)
        return 2
    if args.workers > 1 and _refused(args, plugins):
        return 2
    if args.workers > 1:
        status = workers.supervise(
            args.argv,
            workers=args.workers,
            host=args.host,
            port=args.port,
            shutdown_timeout=args.shutdown_timeout,
        )
        if status == 0:
            print("wireproto stopped", flush=True)
        return status
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if args.loop == "uvloop":
        try:
            import uvloop  # noqa: PLC0415 (optional dependency)
        except ImportError:
            _log.error("--loop uvloop needs uvloop: pip install 'wireproto[uvloop]'")
            return 2
        loop_factory = uvloop.new_event_loop
    try:
        tls = _tls_settings(args)
    except (ValueError, OSError, ssl.SSLError) as exc:
        _log.error("TLS: %s", exc)
        return 2
    proxy = None
    if args.proxy_protocol_from:
        proxy = ProxySettings(tuple(args.proxy_protocol_from), args.proxy_protocol_required)
    elif args.proxy_protocol_required:
        _log.error("--proxy-protocol-required needs --proxy-protocol-from")
        return 2
    settings = ConnectionSettings(
        max_detect_bytes=args.max_detect_bytes,
        detect_timeout=args.detect_timeout or None,
        fallback_format=args.fallback_format,
        idle_timeout=args.idle_timeout or None,
        layers=tuple(layer for layer in (proxy, tls) if layer is not None),
        auth=auth,
    )
    limits = ServerLimits(
        max_connections=args.max_connections,
        max_connections_per_client=args.max_connections_per_client or None,
        max_receive_memory=args.max_receive_memory,
        max_output_buffered=args.max_output_buffered,
    )
    _raise_file_limit(limits.max_connections)
    registry = Registry.from_plugins(options=_plugin_options(args))
    if registry.plugin_failures:  # each failure was logged by the registry
        names = ", ".join(failure.name for failure in registry.plugin_failures)
        _log.warning("serving without the provider plugins that failed: %s", names)
    if not registry.formats:
        _log.warning("no wire formats are registered: every client will be closed")
    fuzz_cli.log_overlaps(registry, _log)
    if _refused(args, registry):
        return 2
    server = Server(
        registry,
        args.host,
        args.port,
        settings=settings,
        limits=limits,
        reuse_port=args.reuse_port,
    )
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            return runner.run(_run(server, args.shutdown_timeout, args.drain_time))
    except KeyboardInterrupt:  # before the signal handlers were in place
        return 130


async def _run(server: Server, shutdown_timeout: float = 5.0, drain_time: float = 0.0) -> int:
    try:
        await server.start()
    except OSError as exc:
        _log.error("cannot listen: %s", exc)
        return 1
    except ValueError as exc:  # a configuration that would leave data open
        _log.error("cannot serve: %s", exc)
        return 2
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    handled: list[signal.Signals] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (NotImplementedError, RuntimeError):  # no signal handlers on this platform
            continue
        handled.append(signum)
    workers.watch_supervisor(loop, stop.set)  # a --workers worker stops with its supervisor
    try:
        names = ", ".join(fmt.name for fmt in server.registry.formats) or "no formats"
        where = ", ".join(_format_address(host, port) for host, port in server.addresses)
        print(f"wireproto serving {names} on {where}", flush=True)
        await stop.wait()
        if drain_time:
            server.drain()  # health checks fail while the load balancer moves clients away
            stop.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), drain_time)
    finally:
        await server.close(shutdown_timeout)
        for signum in handled:
            loop.remove_signal_handler(signum)
    print("wireproto stopped", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(arguments)
    # The supervisor of --workers starts each worker with the same serve options.
    args.argv = arguments[arguments.index("serve") + 1 :] if "serve" in arguments else []
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)
