"""TLS for the tests: a test CA and server certificate, contexts, a memory-BIO client."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from wireproto._connection import Connection


def make_tls_files(directory: Path) -> dict[str, Path]:
    """PEM files: a test CA (``ca``) and a localhost certificate it signed (``cert``, ``key``)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wireproto test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.OID_SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    files = {
        "ca": (directory / "ca.pem", ca_cert.public_bytes(serialization.Encoding.PEM)),
        "cert": (directory / "cert.pem", cert.public_bytes(serialization.Encoding.PEM)),
        "key": (
            directory / "key.pem",
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        ),
    }
    for path, data in files.values():
        path.write_bytes(data)
    return {name: path for name, (path, _data) in files.items()}


def server_context(tls_files: dict[str, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls_files["cert"], tls_files["key"])
    context.set_alpn_protocols(["wireproto-test", "redis"])
    return context


def client_context(tls_files: dict[str, Path], alpn: list[str] | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(tls_files["ca"]))
    if alpn:
        context.set_alpn_protocols(alpn)
    return context


class MemoryTlsClient:
    """A TLS client over memory BIOs, talking to a sans-I/O Connection."""

    def __init__(self, context: ssl.SSLContext, server_hostname: str | None = "localhost") -> None:
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.ssl = context.wrap_bio(self.incoming, self.outgoing, server_hostname=server_hostname)

    def handshake(self, conn: Connection, piece: int | None = None) -> None:
        """Run the handshake; ``piece``: deliver the client's bytes in pieces of that size."""
        for _ in range(20):
            try:
                self.ssl.do_handshake()
                done = True
            except ssl.SSLWantReadError:
                done = False
            self.deliver(conn, piece)
            if done:
                return
        raise AssertionError("the handshake did not finish")

    def deliver(self, conn: Connection, piece: int | None = None) -> None:
        data = self.outgoing.read()
        step = piece or max(len(data), 1)
        for offset in range(0, len(data), step):
            conn.receive_data(data[offset : offset + step])
        self.incoming.write(conn.data_to_send())

    def request(self, conn: Connection, data: bytes) -> bytes:
        self.ssl.write(data)
        self.deliver(conn)
        replies = b""
        with contextlib.suppress(ssl.SSLWantReadError):
            while chunk := self.ssl.read(65536):
                replies += chunk
        return replies
