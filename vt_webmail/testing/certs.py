"""Throwaway PKI for tests: a CA, a server certificate signed by it, and a stranger CA.

Everything is generated at test time with ``cryptography`` (an Odoo dependency), so a test can
verify a TLS connection for real: trusted with :attr:`TestPKI.ca_path`, refused with
:attr:`TestPKI.unknown_ca_path`, refused for a host name the certificate does not carry.
"""

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class TestPKI:
    """Paths of the PEM files written by :func:`make_test_pki`."""

    __test__ = False  # not a pytest test class

    ca_path: Path
    cert_path: Path
    key_path: Path
    unknown_ca_path: Path
    hostnames: tuple


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _self_signed_ca(common_name, now):
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _san_entry(name):
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def make_test_pki(directory, hostnames=("localhost",)):
    """Write a CA, a server key and certificate for ``hostnames`` and an unrelated CA.

    :param directory: existing directory that receives the PEM files
    :param hostnames: names (or IP addresses) the server certificate is valid for; by default
        only ``localhost``, so connecting to ``127.0.0.1`` with verification is a host name
        mismatch
    :returns: :class:`TestPKI`
    """
    directory = Path(directory)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, ca_cert = _self_signed_ca("vt_webmail test CA", now)
    _unknown_key, unknown_cert = _self_signed_ca("vt_webmail stranger CA", now)

    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hostnames[0]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([_san_entry(h) for h in hostnames]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    pem = serialization.Encoding.PEM
    paths = TestPKI(
        ca_path=directory / "ca.pem",
        cert_path=directory / "server.pem",
        key_path=directory / "server.key",
        unknown_ca_path=directory / "unknown-ca.pem",
        hostnames=tuple(hostnames),
    )
    paths.ca_path.write_bytes(ca_cert.public_bytes(pem))
    paths.unknown_ca_path.write_bytes(unknown_cert.public_bytes(pem))
    paths.cert_path.write_bytes(cert.public_bytes(pem))
    paths.key_path.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    paths.key_path.chmod(0o600)
    return paths
