"""The simulated charge point's answers to the central system's operations beyond Core:
Firmware Management, Local Auth List Management, Reservation, Smart Charging (OCPP 1.6 §5)
and the Security Extensions (Security Whitepaper ed. 3 §4–5), as ``@on`` handlers mixed
into the station's link (nested payload fields arrive in snake_case, the ``ocpp`` package's
conversion). The station keeps what they change (``ManagementState``) so its
answers stay consistent (a cleared profile is Unknown next time, a list version sticks).

What it answers:

* UpdateFirmware / GetDiagnostics / GetLog / SignedUpdateFirmware: accepted (``fileName``
  ``diagnostics.log`` / ``security.log``); no file is transferred;
* SendLocalList: ``Accepted`` (Full replaces, Differential updates), ``VersionMismatch``
  for a Differential whose listVersion is not above the current one; GetLocalListVersion:
  the current version (0 = none);
* ReserveNow: ``Accepted`` on an available connector (or connectorId 0), ``Occupied`` on a
  busy one, ``Rejected`` for an unknown connector; CancelReservation: ``Accepted`` for a
  known reservationId, else ``Rejected``;
* SetChargingProfile: ``Accepted`` (kept per chargingProfileId); ClearChargingProfile:
  ``Accepted`` when something matched, else ``Unknown``; GetCompositeSchedule: the
  connector's lowest installed limit as one period, else ``Rejected``;
* certificates: InstallCertificate ``Accepted``, GetInstalledCertificateIds the installed
  hashes or ``NotFound``, DeleteCertificate ``Accepted`` / ``NotFound``, CertificateSigned
  ``Accepted``; ExtendedTriggerMessage ``NotImplemented`` (the simulator sends no
  triggered security messages and generates no CSR).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action


@dataclass
class ManagementState:
    list_version: int = 0
    local_list: dict[str, Any] = field(default_factory=dict)
    reservations: dict[int, int] = field(default_factory=dict)  # reservationId → connectorId
    profiles: dict[int, tuple[int, dict[str, Any]]] = field(default_factory=dict)  # id → (connectorId, profile)
    certificates: dict[str, list[dict[str, str]]] = field(default_factory=dict)  # certificateType → hashes


def certificate_hash(certificate: str) -> dict[str, str]:
    """A CertificateHashDataType for a PEM text (SHA256 of the text: a stand-in)."""
    digest = hashlib.sha256(certificate.encode()).hexdigest()
    return {"hash_algorithm": "SHA256", "issuer_name_hash": digest[:32], "issuer_key_hash": digest[32:],
            "serial_number": digest[:16]}


class ManagementAnswers:
    """Mixin for the station's ``ChargePoint`` link (needs ``station`` with ``connectors``
    and ``management``)."""

    station: Any

    @property
    def _state(self) -> ManagementState:
        return self.station.management  # type: ignore[no-any-return]

    @on(Action.update_firmware)
    def on_update_firmware(self, location: str, retrieve_date: str, **_: Any) -> Any:
        return call_result.UpdateFirmware()

    @on(Action.get_diagnostics)
    def on_get_diagnostics(self, location: str, **_: Any) -> Any:
        return call_result.GetDiagnostics(file_name="diagnostics.log")

    @on(Action.send_local_list)
    def on_send_local_list(self, list_version: int, update_type: str, local_authorization_list: Any = None,
                           **_: Any) -> Any:
        state = self._state
        if update_type == "Differential" and list_version <= state.list_version:
            return call_result.SendLocalList(status="VersionMismatch")
        if update_type == "Full":
            state.local_list = {}
        for item in local_authorization_list or []:
            if item.get("id_tag_info") is None:
                state.local_list.pop(item.get("id_tag"), None)
            else:
                state.local_list[item.get("id_tag")] = item["id_tag_info"]
        state.list_version = list_version
        return call_result.SendLocalList(status="Accepted")

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self) -> Any:
        return call_result.GetLocalListVersion(list_version=self._state.list_version)

    @on(Action.reserve_now)
    def on_reserve_now(self, connector_id: int, reservation_id: int, **_: Any) -> Any:
        conn = self.station.connectors.get(connector_id)
        if connector_id != 0 and conn is None:
            return call_result.ReserveNow(status="Rejected")
        if conn is not None and not conn.available:
            return call_result.ReserveNow(status="Occupied")
        self._state.reservations[reservation_id] = connector_id
        return call_result.ReserveNow(status="Accepted")

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id: int) -> Any:
        known = self._state.reservations.pop(reservation_id, None) is not None
        return call_result.CancelReservation(status="Accepted" if known else "Rejected")

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, connector_id: int, cs_charging_profiles: dict[str, Any]) -> Any:
        profile_id = cs_charging_profiles.get("charging_profile_id")
        if not isinstance(profile_id, int):
            return call_result.SetChargingProfile(status="Rejected")
        self._state.profiles[profile_id] = (connector_id, cs_charging_profiles)
        return call_result.SetChargingProfile(status="Accepted")

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, id: int | None = None, connector_id: int | None = None,  # noqa: A002
                                  charging_profile_purpose: str | None = None, stack_level: int | None = None) -> Any:
        def matches(pid: int, connector: int, profile: dict[str, Any]) -> bool:
            if id is not None:
                return pid == id
            return all((connector_id is None or connector == connector_id,
                        charging_profile_purpose is None or profile.get("charging_profile_purpose") == charging_profile_purpose,
                        stack_level is None or profile.get("stack_level") == stack_level))
        gone = [pid for pid, (connector, profile) in self._state.profiles.items() if matches(pid, connector, profile)]
        for pid in gone:
            del self._state.profiles[pid]
        return call_result.ClearChargingProfile(status="Accepted" if gone else "Unknown")

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(self, connector_id: int, duration: int, charging_rate_unit: str | None = None) -> Any:
        limits = [period.get("limit") for connector, profile in self._state.profiles.values()
                  if connector in (0, connector_id)
                  for period in profile.get("charging_schedule", {}).get("charging_schedule_period", [])]
        limits = [limit for limit in limits if isinstance(limit, (int, float))]
        if not limits:
            return call_result.GetCompositeSchedule(status="Rejected")
        unit = next((p.get("charging_schedule", {}).get("charging_rate_unit") for c, p in self._state.profiles.values()),
                    "W")
        start = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        return call_result.GetCompositeSchedule(
            status="Accepted", connector_id=connector_id, schedule_start=start,
            charging_schedule={"duration": duration, "chargingRateUnit": unit,
                               "chargingSchedulePeriod": [{"startPeriod": 0, "limit": min(limits)}]})

    @on(Action.install_certificate)
    def on_install_certificate(self, certificate_type: str, certificate: str) -> Any:
        self._state.certificates.setdefault(certificate_type, []).append(certificate_hash(certificate))
        return call_result.InstallCertificate(status="Accepted")

    @on(Action.get_installed_certificate_ids)
    def on_get_installed_certificate_ids(self, certificate_type: str) -> Any:
        hashes = self._state.certificates.get(certificate_type)
        if not hashes:
            return call_result.GetInstalledCertificateIds(status="NotFound")
        return call_result.GetInstalledCertificateIds(status="Accepted", certificate_hash_data=hashes)

    @on(Action.delete_certificate)
    def on_delete_certificate(self, certificate_hash_data: dict[str, str]) -> Any:
        serial = certificate_hash_data.get("serial_number")
        for hashes in self._state.certificates.values():
            for entry in hashes:
                if entry["serial_number"] == serial:
                    hashes.remove(entry)
                    return call_result.DeleteCertificate(status="Accepted")
        return call_result.DeleteCertificate(status="NotFound")

    @on(Action.certificate_signed)
    def on_certificate_signed(self, certificate_chain: str) -> Any:
        return call_result.CertificateSigned(status="Accepted")

    @on(Action.get_log)
    def on_get_log(self, log_type: str, request_id: int, log: dict[str, Any], **_: Any) -> Any:
        return call_result.GetLog(status="Accepted", filename="security.log" if log_type == "SecurityLog"
                                  else "diagnostics.log")

    @on(Action.signed_update_firmware)
    def on_signed_update_firmware(self, request_id: int, firmware: dict[str, Any], **_: Any) -> Any:
        return call_result.SignedUpdateFirmware(status="Accepted")

    @on(Action.extended_trigger_message)
    def on_extended_trigger_message(self, requested_message: str, connector_id: int | None = None) -> Any:
        return call_result.ExtendedTriggerMessage(status="NotImplemented")
