"""TLS for the OCPP gateway: security profile 2 (server certificate, ``wss://``) and
profile 3 (mutual TLS: the charge point presents a client certificate issued by a trusted
CA), OCPP 1.6 Security Whitepaper ed. 3 §2.

Profile 3 identity rule (whitepaper §2.5: the Central System SHALL check that the
certificate belongs to the charge point): the client certificate's subject commonName must
equal the chargePointId in the URL, else the upgrade is refused with HTTP 403. A charge
point whose registry record says ``securityProfile`` 3 (it accepted to move there, §2.3:
no downgrade) is refused (403) without its certificate.
"""

from __future__ import annotations

import ssl
from typing import Any

from chargelog.adapters.config import Settings

from .certificates import common_name_of_peer


def server_context(settings: Settings) -> ssl.SSLContext | None:
    """The server TLS context (TLS ≥ 1.2), or None without ``tls_cert``. With
    ``tls_client_auth`` "optional"/"required", client certificates are verified against
    ``tls_client_ca``."""
    if settings.tls_cert is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # OCPP 1.6 security whitepaper
    context.load_cert_chain(str(settings.tls_cert), str(settings.tls_key) if settings.tls_key else None)
    if settings.tls_client_auth != "none":
        if settings.tls_client_ca is None:
            raise ValueError("tls_client_auth needs tls_client_ca (the CA bundle of charge point certificates)")
        context.load_verify_locations(cafile=str(settings.tls_client_ca))
        context.verify_mode = ssl.CERT_REQUIRED if settings.tls_client_auth == "required" else ssl.CERT_OPTIONAL
    return context


def client_certificate_name(connection: Any) -> str | None:
    """The commonName of the verified client certificate of a websockets connection, or None
    (plain TCP, or TLS without a client certificate)."""
    transport = getattr(connection, "transport", None)
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    return common_name_of_peer(ssl_object.getpeercert()) if ssl_object is not None else None


def check_profile(connection: Any, charge_point_id: str, registry: Any) -> str | None:
    """Why the handshake is refused (HTTP 403), or None: a client certificate naming another
    charge point, or none from a charge point registered at ``securityProfile`` 3."""
    certified = client_certificate_name(connection)
    if certified is not None:
        return None if certified == charge_point_id else "Client certificate is not this charge point's"
    info = registry.charge_point(charge_point_id) if registry is not None else None
    if info is not None and (info.securityProfile or 0) >= 3:
        return "Security profile 3: this charge point must connect with its client certificate"
    return None
