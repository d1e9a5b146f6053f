"""chargelog's certificate authority for charge point certificates (OCPP 1.6 Security
Whitepaper ed. 3, §4.1 "Update Charge Point certificate by request of Central System"),
with ``cryptography``.

A charge point sends a PKCS#10 CSR (PEM) in SignCertificate.req; :func:`sign_csr` checks
it and issues an X.509 certificate signed by the configured CA (``ca_cert`` / ``ca_key``
settings, PEM files), which the central system then sends in CertificateSigned.req as the
``certificateChain`` (the charge point certificate followed by the CA certificate, PEM).

Checks (whitepaper §4.1.2: the Central System SHALL verify the CSR): the CSR parses and its
self-signature verifies; its subject's commonName is the chargePointId the connection was
opened for (security profile 3 identifies a charge point by that CN, see
:func:`common_name_of_peer`). Errors raise :class:`CsrRejected` with the reason.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


class CsrRejected(ValueError):
    """The CSR cannot be signed; the message says why."""


@dataclass(frozen=True)
class CertificateAuthority:
    certificate: x509.Certificate
    private_key: Any
    validity_days: int

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()


@lru_cache(maxsize=8)
def load_ca(cert_path: Path, key_path: Path, validity_days: int = 365) -> CertificateAuthority:
    """The CA from PEM files (the key unencrypted). Raises OSError / ValueError."""
    certificate = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    key = serialization.load_pem_private_key(Path(key_path).read_bytes(), password=None)
    return CertificateAuthority(certificate, key, validity_days)


def sign_csr(ca: CertificateAuthority, csr_pem: str, charge_point_id: str) -> tuple[str, dict[str, Any]]:
    """Issue the charge point certificate for ``csr_pem``; returns (certificateChain PEM,
    ``{serialNumber (hex), subject, notBefore, notAfter}``). Raises :class:`CsrRejected`."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        valid = csr.is_signature_valid
    except Exception as exc:  # noqa: BLE001 - whatever the station sent: a refusal, never a crash
        raise CsrRejected(f"not a usable PEM certificate signing request: {type(exc).__name__}") from None
    if not valid:
        raise CsrRejected("the CSR's signature does not verify")
    names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = str(names[0].value) if names else None
    if common_name != charge_point_id:
        raise CsrRejected(f"the CSR's commonName {common_name!r} is not the chargePointId {charge_point_id!r}")
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(ca.certificate.subject)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=ca.validity_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca.private_key, hashes.SHA256())
    )
    chain = certificate.public_bytes(serialization.Encoding.PEM).decode() + ca.pem
    return chain, {"serialNumber": format(certificate.serial_number, "x"), "subject": certificate.subject.rfc4514_string(),
                   "notBefore": certificate.not_valid_before_utc.isoformat(),
                   "notAfter": certificate.not_valid_after_utc.isoformat()}


def common_name_of_peer(peer_certificate: dict[str, Any] | None) -> str | None:
    """The subject commonName of a verified TLS peer certificate (``SSLObject.getpeercert()``
    form), or None."""
    for rdn in (peer_certificate or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None
