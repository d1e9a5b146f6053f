"""All of chargelog's settings in one pydantic-settings model.

Precedence: explicit keyword arguments (CLI flags) > ``CHARGELOG_*`` environment variables >
the file named by ``CHARGELOG_CONFIG`` (TOML or JSON) > defaults.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


#: Shortest HS256 secret accepted (bytes): RFC 7518 section 3.2, a key as long as the hash.
MIN_SECRET_BYTES = 32


class Settings(BaseSettings):
    """Every field is also ``CHARGELOG_<FIELD>`` (upper case) in the environment."""

    model_config = SettingsConfigDict(env_prefix="CHARGELOG_", extra="ignore")

    # -- log --------------------------------------------------------------------------
    data_dir: Path = Field(Path(".chargelog"), description="Embedded log, read models, registries.")
    log: str = Field("embedded", description="'embedded' or 'kafka://HOST:PORT[,HOST:PORT]'.")
    topic_prefix: str = Field("chargelog", description="Kafka topic = '{prefix}.{stream}'.")
    partitions: int = Field(8, ge=1, description="Partitions for new Kafka topics.")
    gateway_id: str = Field("", description="This process's gateway id (default: host:pid).")

    # -- OCPP central system ---------------------------------------------------
    ocpp_host: str = Field("127.0.0.1", description="OCPP bind address; non-loopback needs station authentication "
                                                    "and a configured jwt_secret, or ``insecure``.")
    ocpp_port: int = 9000
    ocpp_reuse_port: bool = Field(False, description="Bind the OCPP port with SO_REUSEPORT, so several gateway "
                                  "processes of this user share it (the kernel spreads connections); `serve` sets "
                                  "it for its own gateway processes.")
    ocpp_path_prefix: str = Field("/ocpp", description="Charge points connect to {prefix}/{chargePointId} and /{chargePointId}.")
    heartbeat_interval_s: int = Field(300, ge=1, description="Heartbeat interval sent in BootNotification.conf (s).")
    offline_after_heartbeats: float = Field(3.0, gt=0, description="Offline after this many heartbeat intervals without a frame.")
    registration_policy: Literal["accept", "pending", "registry"] = "accept"
    unknown_charge_points: Literal["register", "refuse"] = "register"
    id_tag_policy: Literal["accept-all", "registry"] = "accept-all"
    basic_auth: bool = Field(False, description="OCPP security profile 1: HTTP Basic auth required.")
    tls_cert: Path | None = Field(None, description="Profile 2: serve wss:// with this certificate (PEM).")
    tls_key: Path | None = None
    tls_client_ca: Path | None = Field(None, description="Profile 3: CA bundle (PEM) that charge point client certificates must chain to.")
    tls_client_auth: Literal["none", "optional", "required"] = Field(
        "none", description="Profile 3 (mutual TLS): 'required' refuses a handshake without a client certificate; with one, its commonName must be the chargePointId of the URL.")
    ca_cert: Path | None = Field(None, description="Security extensions: CA certificate (PEM) that signs charge point CSRs (SignCertificate).")
    ca_key: Path | None = Field(None, description="The CA's private key (PEM, unencrypted).")
    ca_validity_days: int = Field(365, ge=1, description="Validity of the charge point certificates the CA issues (days).")
    command_timeout_s: float = Field(30.0, gt=0, description="A CALL to a charge point times out after this (s).")
    max_frame_bytes: int = Field(65536, description=(
        "Largest OCPP frame processed (bytes); a frame up to 16x larger is recorded truncated and "
        "answered GenericError, a larger one closes the socket with 1009."))
    charge_point_pinning: bool = Field(False, description="Trust on first use: the first connection of a charge point "
                                       "without a stored password must send HTTP Basic credentials, whose password is "
                                       "then stored (registry.chargepoint.password.set); later connections need it.")
    unknown_charge_points_per_address_per_hour: int = Field(
        20, ge=0, description="Unknown chargePointIds one remote address may connect per hour (OCPP handshake refused "
                              "with 429 beyond it; recorded as ocpp.connection.refused).")
    unknown_charge_points_max: int = Field(
        1000, ge=0, description="Unknown chargePointIds connected at once across this gateway (503 beyond it).")
    durable_timeout_s: float = Field(10.0, gt=0, description="A CALL whose events are not durable within this bound (s) is not answered: the connection is closed with 1011 (OCPP 1.6 'Transaction-Related Messages': the charge point queues and resends).")

    # -- client API (issues 5, 6) ----------------------------------------------------------
    api_host: str = Field("127.0.0.1", description="Client API bind address (see ocpp_host).")
    api_port: int = 8082
    jwt_secret: str = Field("", repr=False, description="HS256 secret, at least 32 bytes. Empty: a random 256-bit "
                            "secret generated into {data_dir}/jwt-secret (mode 0600) on first use.")
    jwt_algorithm: Literal["HS256", "RS256"] = "HS256"
    jwt_public_key: Path | None = Field(None, description="RS256 public key (PEM).")
    registry_file: Path | None = Field(None, description="Sites, charge points, id tags, tariffs (TOML/JSON).")
    api_rate_per_s: float = Field(10.0, gt=0, description="Client messages per second per connection (mobile spec section 10).")
    api_rate_burst: int = Field(10, ge=1, description="Messages a connection may send at once before the rate applies.")
    api_max_message_bytes: int = Field(1_048_576, ge=1, description="Largest client message (bytes; mobile spec section 10: 1 MB).")
    api_ping_timeout_s: float = Field(60.0, gt=0, description="Close a client connection after this long without a message (s; mobile spec section 10).")
    api_outcome_timeout_s: float = Field(90.0, gt=0, description="How long a command's outcome is followed on the domain stream (s).")
    api_subscriber_queue: int = Field(10_000, ge=1, description="Live events buffered per subscriber before it falls back to reading the log.")
    # Charging WebSocket API, Communication Protocol, test guide (docs/dialects.md)
    charging_connections_per_min: int = Field(10, ge=1, description="Charging WebSocket API: connections per minute per IP.")
    charging_messages_per_min: int = Field(100, ge=1, description="Charging WebSocket API: messages per minute per user (and HTTP requests per minute per user or IP).")
    charging_auth_per_min: int = Field(5, ge=1, description="Charging WebSocket API: authentication attempts per minute per IP.")
    charging_heartbeat_interval_s: float = Field(30.0, gt=0, description="Charging WebSocket API: server heartbeat interval (s).")
    charging_session_timeout_s: float = Field(3600.0, gt=0, description="Charging WebSocket API: close after this long without a client message (s).")
    charging_start_wait_s: float = Field(30.0, gt=0, description="Start/stop requests of Charging/Communication/test-guide dialects wait this long for the charge point (s).")
    comms_max_connections: int = Field(10_000, ge=1, description="Communication Protocol: push connections before 1008 'Server at capacity'.")
    gateway_public_url: str = Field("", description="OCPP URL shown by /api/status (default ws://{ocpp_host}:{ocpp_port}).")
    cors_origins: list[str] = Field(default_factory=list, description="Browser origins allowed by CORS on the HTTP API (e.g. https://app.example); empty = no CORS headers.")

    # -- security: authentication throttling, timeouts (docs/security.md) -----------------
    insecure: bool = Field(False, description="Allow binding a non-loopback address with neither station "
                                              "authentication nor a configured jwt_secret.")
    auth_failures_per_address: int = Field(10, ge=1, description="Failed authentications one remote address may make "
                                                                 "per auth_failure_window_s, on every surface together.")
    auth_failures_per_principal: int = Field(5, ge=1, description="Failed authentications per principal (JWT userId, "
                                                                  "chargePointId) per auth_failure_window_s.")
    auth_failure_window_s: int = Field(60, ge=1, description="Moving window of the two limits above (s).")
    http_header_timeout_s: float = Field(10.0, gt=0, description="A client must send a complete HTTP request head "
                                                                 "(or OCPP handshake) within this (s).")
    http_keepalive_timeout_s: float = Field(5.0, gt=0, description="An idle keep-alive HTTP connection is closed "
                                                                   "after this (s).")

    # -- projections -------------------------------------------------------------
    readmodel_dsn: str = Field("", description="PostgreSQL DSN for read models shared by many nodes; "
                                               "empty: SQLite at data_dir/readmodels.sqlite.")
    transaction_stale_after_s: float = Field(86400.0, gt=0, description="Close a transaction as 'Stale' when its "
                                             "charge point has been offline and silent this long (s).")

    # -- process ------------------------------------------------------------------------
    roles: list[Literal["gateway", "api", "projections"]] = Field(
        default_factory=lambda: ["gateway", "api", "projections"])
    processes: int = Field(0, ge=0, description="Processes of one `chargelog serve` on the embedded engine: 1 keeps "
                           "every role in one process, 2 runs the fold (translator, projections) in a supervised child, "
                           "each one more is one more OCPP gateway process on the same port; 0 = the fold's process "
                           "plus one gateway per core (docs/deploy.md, \"Processes\").")
    simulate: int = Field(0, ge=0, description="Start this many simulated charge points.")
    shutdown_timeout_s: float = Field(15.0, gt=0, description="SIGTERM/SIGINT: the process exits within this bound (s), whatever the log's state.")
    simulate_meter_interval_s: float = Field(5.0, gt=0, description="MeterValues interval of simulated charge points (s).")
    gc_freeze: bool = Field(True, description="After start-up, move every object then alive out of the "
                            "garbage collector's generations (gc.freeze), so later collections do not scan them.")
    gc_threshold0: int = Field(50_000, ge=0, description="Allocations minus deallocations that start a young-generation "
                               "collection (Python's default 700; 0 disables automatic collection).")

    # -- operations: console, metrics, readiness, logs -------------------------------------
    console_tile_url: str = Field("https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                                  description="Leaflet tile URL template of the web console's map; empty: no map tiles (site list only).")
    console_tile_attribution: str = Field("© OpenStreetMap contributors", description="Attribution shown under the console's map tiles.")
    ops_port: int = Field(9100, ge=0, description="/metrics, /health, /ready of a process that runs no API and no gateway (e.g. projections only); 0 = any free port.")
    ready_max_lag_events: int = Field(10_000, ge=0, description="/ready fails while a consumer (projection, translator) is more than this many events behind the log's end.")
    log_format: Literal["text", "json"] = Field("text", description="Log line format of every logger (ours, uvicorn's, websockets'): text or json (one JSON object per line).")

    @field_validator("jwt_secret")
    @classmethod
    def _strong_secret(cls, value: str) -> str:
        if value and len(value.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"jwt_secret must be at least {MIN_SECRET_BYTES} bytes (256 bits); "
                             "unset it to use a generated one")
        return value

    @property
    def is_kafka(self) -> bool:
        return self.log.startswith("kafka://")

    @property
    def kafka_bootstrap(self) -> str:
        """'HOST:PORT[,…]' from ``log``; raises ValueError when the log is not Kafka."""
        if not self.is_kafka:
            raise ValueError(f"log {self.log!r} is not kafka://HOST:PORT")
        return self.log.removeprefix("kafka://").rstrip("/")


def _file_values() -> dict[str, Any]:
    path = os.environ.get("CHARGELOG_CONFIG")
    if not path:
        return {}
    text = Path(path).read_text()
    return json.loads(text) if path.endswith(".json") else tomllib.loads(text)


def load_settings(**overrides: Any) -> Settings:
    """Settings from file < environment < ``overrides`` (CLI flags; ``None`` values ignored)."""
    env_or_default = Settings()
    file_values = {k: v for k, v in _file_values().items() if f"CHARGELOG_{k.upper()}" not in os.environ}
    merged = {**env_or_default.model_dump(exclude_unset=True), **file_values}
    merged.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**merged)
