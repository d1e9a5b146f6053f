"""Authentication pieces without a server: JWT verification (HS256/RS256; forged, expired,
future iat, alg none, unexpected algorithm, missing userId), the API key store (hashed,
revocable, scopes) and the ``chargelog token`` / ``chargelog apikey`` commands."""

from __future__ import annotations

import base64
import json
import sqlite3
import subprocess
import sys
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from chargelog.adapters.api.apikeys import ApiKeyStore
from chargelog.adapters.api.auth import JwtAuthenticator, issue_token
from chargelog.adapters.api.caller import CoreError
from chargelog.adapters.config import Settings

SECRET = "a-test-secret-that-is-long-enough-for-hs256"


def hs_settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path, jwt_secret=SECRET)


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def claims(**extra) -> dict:
    now = int(time.time())
    return {"userId": "u1", "iat": now, "exp": now + 600, **extra}


def refused(auth: JwtAuthenticator, token: str) -> str:
    with pytest.raises(CoreError) as info:
        auth.verify(token)
    assert info.value.kind == "unauthorized"
    assert not token or token not in info.value.message
    return info.value.message


def test_hs256_token_round_trip_and_scopes(tmp_path):
    settings = hs_settings(tmp_path)
    auth = JwtAuthenticator(settings)
    caller = auth.verify(issue_token(settings, "u1", 60))
    assert caller.userId == "u1" and caller.via == "jwt"
    assert caller.scopes == {"read:stations", "write:charging"}
    admin = auth.verify(issue_token(settings, "op", 60, ["admin"]))
    assert admin.scopes == {"admin"} and admin.has("write:charging")


def test_bad_tokens_are_refused(tmp_path):
    auth = JwtAuthenticator(hs_settings(tmp_path))
    assert "expired" in refused(auth, jwt.encode(claims(exp=int(time.time()) - 60), SECRET, "HS256"))
    refused(auth, jwt.encode(claims(), "another-secret-of-sufficient-length-xx", "HS256"))  # forged
    refused(auth, jwt.encode(claims(iat=int(time.time()) + 3600), SECRET, "HS256"))  # issued in the future
    refused(auth, jwt.encode({"userId": "u1", "iat": int(time.time())}, SECRET, "HS256"))  # no exp
    refused(auth, jwt.encode({"userId": "u1", "exp": int(time.time()) + 60}, SECRET, "HS256"))  # no iat
    assert "userId" in refused(auth, jwt.encode(claims(userId=None), SECRET, "HS256"))
    refused(auth, jwt.encode(claims(), SECRET, "HS512"))  # unexpected algorithm
    refused(auth, jwt.encode(claims(scopes=["root"]), SECRET, "HS256"))  # unknown scope
    none_token = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims())}."
    refused(auth, none_token)
    refused(auth, "not-a-jwt")
    refused(auth, "")


def test_rs256_public_key_only(tmp_path):
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = tmp_path / "pub.pem"
    public.write_bytes(private.public_key().public_bytes(serialization.Encoding.PEM,
                                                         serialization.PublicFormat.SubjectPublicKeyInfo))
    settings = Settings(data_dir=tmp_path, jwt_algorithm="RS256", jwt_public_key=public)
    auth = JwtAuthenticator(settings)
    assert auth.verify(issue_token(settings, "u9", 60, private_key=pem)).userId == "u9"
    # an HS256 token "signed" with the public key text (algorithm confusion) is refused
    refused(auth, jwt.encode(claims(), SECRET, "HS256"))
    with pytest.raises(ValueError):
        issue_token(settings, "u9", 60)


def test_api_key_store_hashes_scopes_and_revokes(tmp_path):
    store = ApiKeyStore(tmp_path)
    record, secret = store.create("u1", ["read:stations"])
    assert secret.startswith("clk_") and len(secret) > 40
    caller = store.authenticate(secret)
    assert (caller.userId, caller.scopes, caller.via, caller.keyId) == ("u1", {"read:stations"}, "apikey", record.id)
    _, fixed = store.create("u2", ["read:stations", "write:charging"], key="test-mobile-key-123")
    assert fixed == "test-mobile-key-123"
    with pytest.raises(ValueError):
        store.create("u3", ["read:stations"], key="test-mobile-key-123")
    with pytest.raises(ValueError):
        store.create("u3", ["superuser"])
    # only hashes on disk
    raw = (tmp_path / "apikeys.sqlite").read_bytes() + b"".join(
        p.read_bytes() for p in tmp_path.glob("apikeys.sqlite-*"))
    assert secret.encode() not in raw and b"test-mobile-key-123" not in raw
    rows = sqlite3.connect(tmp_path / "apikeys.sqlite").execute("SELECT key_sha256 FROM apikeys").fetchall()
    assert all(len(r[0]) == 64 for r in rows)
    assert store.revoke(record.id) and not store.revoke(record.id)
    with pytest.raises(CoreError) as info:
        store.authenticate(secret)
    assert info.value.kind == "unauthorized" and info.value.message == "Invalid apiKey"
    assert [k.active for k in store.list()] == [False, True]
    store.close()


def cli(tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chargelog.adapters.cli.main", *args],
                          env={"CHARGELOG_DATA_DIR": str(tmp_path), "CHARGELOG_JWT_SECRET": SECRET, "PATH": "/usr/bin"},
                          capture_output=True, text=True, timeout=60)


def test_cli_apikey_and_token(tmp_path):
    created = cli(tmp_path, "apikey", "create", "--user", "u1", "--scopes", "read:stations,write:charging", "--json")
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)
    store = ApiKeyStore(tmp_path)
    assert store.authenticate(key["key"]).keyId == key["id"]
    listed = cli(tmp_path, "apikey", "list", "--json")
    assert key["key"] not in listed.stdout and json.loads(listed.stdout)["id"] == key["id"]
    assert cli(tmp_path, "apikey", "revoke", key["id"]).returncode == 0
    again = cli(tmp_path, "apikey", "revoke", key["id"])
    assert again.returncode == 2 and "no active key" in again.stderr
    bad = cli(tmp_path, "apikey", "create", "--user", "u1", "--scopes", "root")
    assert bad.returncode == 2 and "unknown scopes" in bad.stderr

    token = cli(tmp_path, "token", "--user", "u7", "--ttl", "15m", "--scopes", "read:stations")
    assert token.returncode == 0, token.stderr
    caller = JwtAuthenticator(Settings(data_dir=tmp_path, jwt_secret=SECRET)).verify(token.stdout.strip())
    assert caller.userId == "u7" and caller.scopes == {"read:stations"}
    decoded = jwt.decode(token.stdout.strip(), SECRET, algorithms=["HS256"])
    assert decoded["exp"] - decoded["iat"] == 900
    assert cli(tmp_path, "token", "--user", "u7", "--ttl", "soon").returncode == 2
    store.close()
