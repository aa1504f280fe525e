"""A local certificate authority and server certificates for the local profile (cryptography):
the inventory API, the warehouse endpoint and the Airflow api-server (UI and REST) serve HTTPS with them.

`make up` writes ``ca.crt``/``ca.key`` and one certificate per service that serves HTTPS into
RETAIL_TLS_DIR when they are missing (each service's prepare step). Clients verify against ``ca.crt``: nothing in the
platform turns verification off. In other profiles, put certificates from your own CA in the same
file names."""

from __future__ import annotations

import ipaddress
import os
import ssl
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
CERT_DAYS = 825


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def make_ca(directory: Path, name: str = "Retail platform local CA") -> tuple[Path, Path]:
    """A self-signed CA (ca.crt, ca.key) in ``directory``; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )  # key_cert_sign, crl_sign
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    crt_path, key_path = directory / "ca.crt", directory / "ca.key"
    _write_key(key_path, key)
    crt_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return crt_path, key_path


def make_server_cert(directory: Path, name: str, hosts: list[str]) -> tuple[Path, Path]:
    """``<name>.crt``/``<name>.key`` signed by the CA in ``directory``, valid for ``hosts``."""
    ca_key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate((directory / "ca.crt").read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=CERT_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    crt_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    _write_key(key_path, key)
    crt_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return crt_path, key_path


def client_context(directory: Path) -> ssl.SSLContext:
    """What every client of a platform service verifies with: the platform's CA only (``ca.crt``)."""
    return ssl.create_default_context(cafile=str(directory / "ca.crt"))


def ensure_local(directory: Path, name: str, host: str) -> tuple[Path, Path, Path]:
    """(ca.crt, name.crt, name.key), made if missing: the local profile's certificates."""
    if not (directory / "ca.crt").exists():
        make_ca(directory)
    crt, key = directory / f"{name}.crt", directory / f"{name}.key"
    if not crt.exists() or not key.exists():
        hosts = list(dict.fromkeys([host, "localhost", "127.0.0.1"]))
        crt, key = make_server_cert(directory, name, hosts)
    return directory / "ca.crt", crt, key
