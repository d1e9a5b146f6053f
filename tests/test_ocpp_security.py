"""OCPP 1.6 security profiles over real sockets: profile 1 (HTTP Basic auth, per-charge-point
password stored as an scrypt hash), profile 2 (TLS, wss:// with a self-signed certificate
made here with ``cryptography``), and the unknown-charge-point policy. Both engines."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import ssl

import pytest
import websockets
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.exceptions import InvalidStatus

from chargelog.domain.registry import hash_password, verify_password
from chargelog.adapters.ocpp.ports import MemoryRegistry

from test_ocpp_support import exchange, running_gateway, source_events, url


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_password_hashes_are_salted_scrypt():
    stored = hash_password("s3cret")
    assert stored.startswith("scrypt$") and "s3cret" not in stored
    assert stored != hash_password("s3cret")
    assert verify_password("s3cret", stored) and not verify_password("S3cret", stored)
    assert not verify_password("s3cret", "plain-text")


async def test_profile1_basic_auth(log, settings):
    registry = MemoryRegistry()
    registry.set_password("CP-SEC", "s3cret")
    registry.set_password("CP-OTHER", "other")
    async with running_gateway(log, settings, registry, basic_auth=True) as gateway:
        for headers in ({}, basic("CP-SEC", "wrong"), basic("CP-OTHER", "other"), basic("CP-NEW", "x")):
            with pytest.raises(InvalidStatus) as refused:
                async with websockets.connect(url(gateway, "CP-SEC"), subprotocols=["ocpp1.6"],
                                              additional_headers=headers):
                    pass
            assert refused.value.response.status_code == 401
        async with websockets.connect(url(gateway, "CP-SEC"), subprotocols=["ocpp1.6"],
                                      additional_headers=basic("CP-SEC", "s3cret")) as ws:
            assert (await exchange(ws, [2, "1", "Heartbeat", {}]))[0] == 3
    events = await source_events(log, "CP-SEC")
    refused = [e for e in events if e.type == "ocpp.connection.refused"]
    assert [e.payload["status"] for e in refused] == [401] * 4
    events = [e for e in events if e not in refused]
    assert events[0].type == "ocpp.connection.opened" and events[0].payload["auth"] == "basic-ok"
    assert len([e for e in events if e.type == "ocpp.connection.opened"]) == 1


async def test_unknown_charge_points_refused(log, settings):
    registry = MemoryRegistry(charge_points={"CP-KNOWN"})
    async with running_gateway(log, settings, registry, unknown_charge_points="refuse") as gateway:
        with pytest.raises(InvalidStatus) as refused:
            async with websockets.connect(url(gateway, "CP-STRANGE"), subprotocols=["ocpp1.6"]):
                pass
        assert refused.value.response.status_code == 404
        async with websockets.connect(url(gateway, "CP-KNOWN"), subprotocols=["ocpp1.6"]) as ws:
            assert (await exchange(ws, [2, "1", "Heartbeat", {}]))[0] == 3
    assert [(e.type, e.payload["status"]) for e in await source_events(log, "CP-STRANGE")] == [
        ("ocpp.connection.refused", 404)]


def self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


async def test_profile2_tls(log, settings, tmp_path):
    cert, key = self_signed(tmp_path)
    client_tls = ssl.create_default_context(cafile=str(cert))
    async with running_gateway(log, settings, tls_cert=cert, tls_key=key) as gateway:
        async with websockets.connect(url(gateway, "CP-TLS", scheme="wss"), subprotocols=["ocpp1.6"],
                                      ssl=client_tls) as ws:
            assert (await exchange(ws, [2, "1", "Heartbeat", {}]))[0] == 3
        with pytest.raises((OSError, websockets.InvalidHandshake, websockets.ConnectionClosed)):
            async with websockets.connect(url(gateway, "CP-PLAIN"), subprotocols=["ocpp1.6"], open_timeout=5):
                pass
    events = await source_events(log, "CP-TLS")
    assert events[0].payload["auth"] == "tls"
