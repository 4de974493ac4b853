"""The lab CA: one CA certificate, one certificate per host naming its loopback address."""
from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "xapisim lab"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class LabCA:
    def __init__(self, directory: Path):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        now = datetime.datetime.now(datetime.timezone.utc)
        self._not_before, self._not_after = now - datetime.timedelta(days=1), now + datetime.timedelta(days=30)
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._cert = (x509.CertificateBuilder().subject_name(_name("xapisim lab CA")).issuer_name(_name("xapisim lab CA"))
                      .public_key(self._key.public_key()).serial_number(x509.random_serial_number())
                      .not_valid_before(self._not_before).not_valid_after(self._not_after)
                      .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                      .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                                   content_commitment=False, key_encipherment=False, data_encipherment=False,
                                                   key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
                      .sign(self._key, hashes.SHA256()))
        # one key for every host certificate keeps a 64-host lab's start fast
        self._host_key = ec.generate_private_key(ec.SECP256R1())
        self.bundle = self.dir / "ca.pem"
        self.bundle.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))
        self._key_file = self.dir / "host-key.pem"
        fd = os.open(self._key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(self._host_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))

    def server_context(self, name: str, address: str) -> ssl.SSLContext:
        cert = (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(self._cert.subject)
                .public_key(self._host_key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(self._not_before).not_valid_after(self._not_after)
                .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address)),
                                                            x509.DNSName(name)]), critical=False)
                .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .sign(self._key, hashes.SHA256()))
        cert_file = self.dir / f"{name}.pem"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(cert_file, self._key_file)
        return ctx
