"""Registries: sites, charge points, id tags and tariffs, folded from ``registry.*`` source
events (docs/contracts.md, "Source events"). Pure: no I/O.

* A **site** is a physical station grouping charge points, with a name, an address and a
  location (specs/websocket-communication-protocol.md, "Station structure" and the
  ``location`` object of ``charger_list_update``).
* An **id tag** maps an OCPP idTag to the owning user, with a status and an expiry
  (OCPP 1.6 §7.15 ``IdTagInfo``, §7.2 ``AuthorizationStatus``).
* A **tariff** prices a session per kWh and per minute in one currency; a charge point's
  tariff is its own, else its site's, else the tariff with id ``"default"``, else
  :data:`BUILTIN_TARIFF` (free).
* A charge point's **password** (OCPP 1.6 security whitepaper, profile 1: HTTP Basic
  authentication) is only ever stored as an scrypt hash (:func:`hash_password`).

Event types and payloads (all on ``chargePointId`` ``"-"``, so that every registry change
is on one partition and totally ordered):

=====================================  ==================================================
``registry.site.upserted``             a :class:`Site` record (JSON)
``registry.chargepoint.upserted``      a :class:`ChargePointInfo` record without
                                       ``passwordHash`` (an upsert keeps the password)
``registry.idtag.upserted``            an :class:`IdTag` record
``registry.tariff.upserted``           a :class:`Tariff` record
``registry.chargepoint.password.set``  ``{"chargePointId", "passwordHash"}``
``registry.*.deleted``                 the record's key only: ``siteId``,
                                       ``chargePointId``, ``idTag`` or ``tariffId``
``registry.chargepoint.password.deleted``  ``{"chargePointId"}``
=====================================  ==================================================
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from .envelope import Event, Principal, Source

SITE_UPSERTED = "registry.site.upserted"
SITE_DELETED = "registry.site.deleted"
CHARGEPOINT_UPSERTED = "registry.chargepoint.upserted"
CHARGEPOINT_DELETED = "registry.chargepoint.deleted"
IDTAG_UPSERTED = "registry.idtag.upserted"
IDTAG_DELETED = "registry.idtag.deleted"
TARIFF_UPSERTED = "registry.tariff.upserted"
TARIFF_DELETED = "registry.tariff.deleted"
PASSWORD_SET = "registry.chargepoint.password.set"
PASSWORD_DELETED = "registry.chargepoint.password.deleted"

#: Every event type the registry folds (for ``read(..., types=REGISTRY_TYPES)``).
REGISTRY_TYPES: tuple[str, ...] = (
    SITE_UPSERTED, SITE_DELETED, CHARGEPOINT_UPSERTED, CHARGEPOINT_DELETED, IDTAG_UPSERTED,
    IDTAG_DELETED, TARIFF_UPSERTED, TARIFF_DELETED, PASSWORD_SET, PASSWORD_DELETED,
)

#: The registry's partition key: all registry events share it.
REGISTRY_KEY = "-"

#: Id of the tariff that applies where no charge point or site tariff is assigned.
DEFAULT_TARIFF_ID = "default"

#: OCPP 1.6 §7.2 AuthorizationStatus values an id tag may be stored with.
IdTagStatus = Literal["Accepted", "Blocked", "Expired", "Invalid"]
#: What :meth:`Registry.authorize` answers (OCPP 1.6 §7.2; ``ConcurrentTx`` is the
#: gateway's to decide, it needs the active transactions).
AuthorizationStatus = Literal["Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx"]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Site(_Record):
    """A physical station (a parking lot, a mall) grouping charge points. ``latitude`` and
    ``longitude`` in decimal degrees (WGS 84). ``chargePointIds`` as configured; a charge
    point may also name its site itself (:attr:`ChargePointInfo.siteId`)."""

    siteId: str = Field(min_length=1)
    name: str = ""
    address: str | None = None
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    chargePointIds: tuple[str, ...] = ()
    tariffId: str | None = None


class ChargePointInfo(_Record):
    """A registered charge point. ``connectors``: how many connectors (≥ 1) it has, when
    known before it reports them. ``maintenance``: the operator took it out of service
    (shown red, "unavailable", on the map). ``passwordHash``: see :func:`hash_password`;
    only ``registry.chargepoint.password.*`` events change it. ``securityProfile``: the
    OCPP 1.6 security profile (Security Whitepaper ed. 3 §2) the charge point accepted to
    use; from 3 on it must connect with its client certificate (no downgrade, §2.3)."""

    chargePointId: str = Field(min_length=1)
    siteId: str | None = None
    name: str = ""
    passwordHash: str | None = None
    connectors: int | None = Field(None, ge=1)
    maintenance: bool = False
    tariffId: str | None = None
    securityProfile: int | None = Field(None, ge=0, le=3)


class IdTag(_Record):
    """An OCPP idTag (≤ 20 characters, OCPP 1.6 §7.23 ``IdToken``) owned by ``userId``.
    ``expiryDate``: an aware datetime after which the tag answers ``Expired``."""

    idTag: str = Field(min_length=1, max_length=20)
    userId: str = Field(min_length=1)
    status: IdTagStatus = "Accepted"
    expiryDate: AwareDatetime | None = None
    parentIdTag: str | None = Field(None, max_length=20)


class Tariff(_Record):
    """Prices in ``currency`` (ISO 4217 code): ``pricePerKwh`` per kWh delivered and
    ``pricePerMinute`` per minute of session duration."""

    tariffId: str = Field(min_length=1)
    pricePerKwh: float = Field(0.0, ge=0)
    pricePerMinute: float = Field(0.0, ge=0)
    currency: str = Field("EUR", min_length=3, max_length=3)

    def cost(self, energy_wh: float, duration_s: float) -> float:
        """The price of a session that delivered ``energy_wh`` (Wh) over ``duration_s`` (s):
        ``energy_wh / 1000 × pricePerKwh + duration_s / 60 × pricePerMinute``, rounded half
        up to cents. Negative inputs count as zero."""
        energy_kwh = Decimal(str(max(energy_wh, 0.0))) / 1000
        minutes = Decimal(str(max(duration_s, 0.0))) / 60
        total = energy_kwh * Decimal(str(self.pricePerKwh)) + minutes * Decimal(str(self.pricePerMinute))
        return float(total.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


#: The tariff when the registry names none: free, in euro.
BUILTIN_TARIFF = Tariff(tariffId=DEFAULT_TARIFF_ID)


# -- passwords (OCPP 1.6 security profile 1) ---------------------------------------------

#: scrypt cost parameters (RFC 7914): N, r, p; 16 MiB of memory per hash.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_SCRYPT_DKLEN = 32


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hash_password(password: str, salt: bytes | None = None) -> str:
    """An scrypt hash of ``password`` (RFC 7914), as ``"scrypt$N$r$p$<salt b64>$<key b64>"``.
    ``salt`` defaults to 16 random bytes; pass :func:`password_salt` of an existing hash to
    test whether a password is unchanged. Raises ``ValueError`` for an empty password."""
    if not password:
        raise ValueError("a charge point password must not be empty")
    salt = secrets.token_bytes(16) if salt is None else salt
    key = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                         dklen=_SCRYPT_DKLEN)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"


def _parse_hash(password_hash: str) -> tuple[int, int, int, bytes, bytes]:
    try:
        scheme, n, r, p, salt, key = password_hash.split("$")
        if scheme != "scrypt":
            raise ValueError(scheme)
        return int(n), int(r), int(p), base64.b64decode(salt), base64.b64decode(key)
    except (ValueError, TypeError) as exc:
        raise ValueError("not a chargelog password hash (scrypt$N$r$p$salt$key)") from exc


def password_salt(password_hash: str) -> bytes:
    """The salt inside a :func:`hash_password` result. Raises ``ValueError`` if malformed."""
    return _parse_hash(password_hash)[3]


def verify_password(password: str, password_hash: str) -> bool:
    """True when ``password`` hashes to ``password_hash`` (constant-time comparison).
    A malformed hash verifies nothing."""
    try:
        n, r, p, salt, key = _parse_hash(password_hash)
    except ValueError:
        return False
    candidate = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=len(key))
    return hmac.compare_digest(candidate, key)


# -- events ------------------------------------------------------------------------------

_OPERATOR = Principal(kind="operator", id="registry")


def registry_event(type_: str, payload: dict[str, Any], principal: Principal | None = None) -> Event:
    """A ``registry.*`` source event on the registry partition (``chargePointId`` "-")."""
    return Event(type=type_, chargePointId=REGISTRY_KEY, source=Source.OPERATOR,
                 principal=principal or _OPERATOR, payload=payload)


def site_upserted(site: Site) -> Event:
    return registry_event(SITE_UPSERTED, site.model_dump(mode="json"))


def charge_point_upserted(info: ChargePointInfo) -> Event:
    return registry_event(CHARGEPOINT_UPSERTED, info.model_dump(mode="json", exclude={"passwordHash"}))


def id_tag_upserted(tag: IdTag) -> Event:
    return registry_event(IDTAG_UPSERTED, tag.model_dump(mode="json"))


def tariff_upserted(tariff: Tariff) -> Event:
    return registry_event(TARIFF_UPSERTED, tariff.model_dump(mode="json"))


def password_set(charge_point_id: str, password_hash: str) -> Event:
    """Carries only the hash (:func:`hash_password`), never the password."""
    _parse_hash(password_hash)
    return registry_event(PASSWORD_SET, {"chargePointId": charge_point_id, "passwordHash": password_hash})


# -- the fold ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Registry:
    """The registries' current state. Treat as immutable: :meth:`apply` returns a new
    registry and never changes the mappings of this one. Equality is by content."""

    sites: dict[str, Site] = field(default_factory=dict)
    charge_points: dict[str, ChargePointInfo] = field(default_factory=dict)
    id_tags: dict[str, IdTag] = field(default_factory=dict)
    tariffs: dict[str, Tariff] = field(default_factory=dict)

    # folding ------------------------------------------------------------------------

    def apply(self, event: Event) -> Registry:
        """This registry with ``event`` folded in. Events that are not ``registry.*`` leave
        it unchanged (the same object). Raises ``pydantic.ValidationError`` for a registry
        event whose payload is not a valid record."""
        return self.apply_all((event,))

    def apply_all(self, events: Iterable[Event]) -> Registry:
        """Fold many events, copying each mapping at most once."""
        copies: dict[str, dict[str, Any]] = {}

        def table(name: str) -> dict[str, Any]:
            if name not in copies:
                copies[name] = dict(getattr(self, name))
            return copies[name]

        for event in events:
            _FOLDS.get(event.type, _ignore)(table, event.payload)
        return replace(self, **copies) if copies else self

    # lookups ------------------------------------------------------------------------

    def charge_point(self, charge_point_id: str) -> ChargePointInfo | None:
        return self.charge_points.get(charge_point_id)

    def site(self, site_id: str) -> Site | None:
        return self.sites.get(site_id)

    def site_of(self, charge_point_id: str) -> Site | None:
        """The charge point's own ``siteId`` if that site exists, else the first site (by
        id) that lists it in ``chargePointIds``, else None."""
        info = self.charge_points.get(charge_point_id)
        if info is not None and info.siteId in self.sites:
            return self.sites[info.siteId]
        for site_id in sorted(self.sites):
            if charge_point_id in self.sites[site_id].chargePointIds:
                return self.sites[site_id]
        return None

    def charge_points_at(self, site_id: str) -> list[str]:
        """chargePointIds of a site: those it lists, then those naming it, without repeats."""
        site = self.sites.get(site_id)
        listed = list(site.chargePointIds) if site else []
        naming = sorted(cp for cp, info in self.charge_points.items() if info.siteId == site_id)
        return list(dict.fromkeys(listed + naming))

    def id_tag(self, id_tag: str) -> IdTag | None:
        return self.id_tags.get(id_tag)

    def id_tags_of(self, user_id: str) -> list[IdTag]:
        """The user's id tags, sorted by idTag."""
        return sorted((t for t in self.id_tags.values() if t.userId == user_id), key=lambda t: t.idTag)

    def authorize(self, id_tag: str, now: datetime) -> AuthorizationStatus:
        """OCPP 1.6 §4.2/§7.2: unknown → ``Invalid``; a stored ``Blocked``/``Expired``/
        ``Invalid`` status → that status; ``expiryDate`` ≤ ``now`` (aware) → ``Expired``;
        else ``Accepted``."""
        tag = self.id_tags.get(id_tag)
        if tag is None:
            return "Invalid"
        if tag.status != "Accepted":
            return tag.status
        if tag.expiryDate is not None and tag.expiryDate <= now:
            return "Expired"
        return "Accepted"

    def id_tag_info(self, id_tag: str, now: datetime) -> dict[str, Any]:
        """An OCPP 1.6 §7.15 ``IdTagInfo`` dict: ``status``, and ``expiryDate`` (ISO 8601)
        and ``parentIdTag`` when the tag has them."""
        info: dict[str, Any] = {"status": self.authorize(id_tag, now)}
        tag = self.id_tags.get(id_tag)
        if tag is not None and tag.expiryDate is not None:
            info["expiryDate"] = tag.expiryDate.isoformat()
        if tag is not None and tag.parentIdTag:
            info["parentIdTag"] = tag.parentIdTag
        return info

    def tariff(self, tariff_id: str) -> Tariff | None:
        return self.tariffs.get(tariff_id)

    def default_tariff(self) -> Tariff:
        """The tariff with id ``"default"``, else :data:`BUILTIN_TARIFF`."""
        return self.tariffs.get(DEFAULT_TARIFF_ID, BUILTIN_TARIFF)

    def tariff_for(self, charge_point_id: str) -> Tariff:
        """The charge point's tariff, else its site's, else :meth:`default_tariff`.
        An assigned ``tariffId`` that does not exist falls through to the next."""
        info = self.charge_points.get(charge_point_id)
        site = self.site_of(charge_point_id)
        for tariff_id in (info.tariffId if info else None, site.tariffId if site else None):
            if tariff_id is not None and tariff_id in self.tariffs:
                return self.tariffs[tariff_id]
        return self.default_tariff()

    def verify_password(self, charge_point_id: str, password: str) -> bool | None:
        """OCPP 1.6 security profile 1: True/False when the charge point has a password,
        None when it has none (unknown charge point, or no password set)."""
        info = self.charge_points.get(charge_point_id)
        if info is None or info.passwordHash is None:
            return None
        return verify_password(password, info.passwordHash)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dump, keys sorted; password hashes are replaced by ``"set"``."""
        def dump(records: dict[str, _Record]) -> list[dict[str, Any]]:
            return [records[k].model_dump(mode="json") for k in sorted(records)]

        cps = [{**cp, "passwordHash": "set" if cp["passwordHash"] else None} for cp in dump(self.charge_points)]
        return {"sites": dump(self.sites), "chargePoints": cps, "idTags": dump(self.id_tags),
                "tariffs": dump(self.tariffs)}

    def events(self) -> list[Event]:
        """Upsert events that rebuild this registry from empty (passwords included)."""
        out = [tariff_upserted(t) for t in self.tariffs.values()]
        out += [site_upserted(s) for s in self.sites.values()]
        for cp in self.charge_points.values():
            out.append(charge_point_upserted(cp))
            if cp.passwordHash:
                out.append(password_set(cp.chargePointId, cp.passwordHash))
        out += [id_tag_upserted(t) for t in self.id_tags.values()]
        return out


# The fold functions: (table accessor, payload) -> None, mutating the copied table.
_Table = Any


def _ignore(table: _Table, payload: dict[str, Any]) -> None:
    return None


def _upsert_site(table: _Table, payload: dict[str, Any]) -> None:
    site = Site.model_validate(payload)
    table("sites")[site.siteId] = site


def _upsert_charge_point(table: _Table, payload: dict[str, Any]) -> None:
    fields = {k: v for k, v in payload.items() if k != "passwordHash"}
    info = ChargePointInfo.model_validate(fields)
    old = table("charge_points").get(info.chargePointId)
    if old is not None and old.passwordHash:
        info = info.model_copy(update={"passwordHash": old.passwordHash})
    table("charge_points")[info.chargePointId] = info


def _upsert_id_tag(table: _Table, payload: dict[str, Any]) -> None:
    tag = IdTag.model_validate(payload)
    table("id_tags")[tag.idTag] = tag


def _upsert_tariff(table: _Table, payload: dict[str, Any]) -> None:
    tariff = Tariff.model_validate(payload)
    table("tariffs")[tariff.tariffId] = tariff


def _set_password(table: _Table, payload: dict[str, Any]) -> None:
    cp_id, password_hash = str(payload["chargePointId"]), payload.get("passwordHash")
    charge_points = table("charge_points")
    old = charge_points.get(cp_id) or ChargePointInfo(chargePointId=cp_id)
    charge_points[cp_id] = old.model_copy(update={"passwordHash": password_hash})


def _delete_password(table: _Table, payload: dict[str, Any]) -> None:
    cp_id = str(payload["chargePointId"])
    if cp_id in table("charge_points"):
        _set_password(table, {"chargePointId": cp_id})


def _deleter(name: str, key: str) -> Any:
    def delete(table: _Table, payload: dict[str, Any]) -> None:
        table(name).pop(str(payload[key]), None)
    return delete


_FOLDS = {
    SITE_UPSERTED: _upsert_site,
    SITE_DELETED: _deleter("sites", "siteId"),
    CHARGEPOINT_UPSERTED: _upsert_charge_point,
    CHARGEPOINT_DELETED: _deleter("charge_points", "chargePointId"),
    IDTAG_UPSERTED: _upsert_id_tag,
    IDTAG_DELETED: _deleter("id_tags", "idTag"),
    TARIFF_UPSERTED: _upsert_tariff,
    TARIFF_DELETED: _deleter("tariffs", "tariffId"),
    PASSWORD_SET: _set_password,
    PASSWORD_DELETED: _delete_password,
}
