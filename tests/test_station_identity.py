"""What the map and the API show about a charge point's identity and its meter: the vendor,
model and firmware of an Accepted BootNotification (OCPP 1.6 §4.2) become ``station.booted``
and the station map's fields; a Pending or Rejected one derives nothing; kWh registers come
out without float noise (Wh to 3 decimals in the domain; whole Wh, kW to 2 decimals in the
dialects). The over-the-wire check is tests/test_readme.py (the demo's map)."""

from __future__ import annotations

from chargelog.adapters.api.dialects.charging_codec import meter_values_update
from chargelog.domain.model import TranslatorState
from chargelog.domain.trace import Trace
from chargelog.domain.translate import translate_all
from chargelog.projections.stations import StationsProjection


def boot(t: Trace, status: str) -> list:
    return t.call_in("BootNotification", {"chargePointVendor": "ACME", "chargePointModel": "Wallbox-22",
                                          "firmwareVersion": "4.2.1", "chargePointSerialNumber": "SN-1"},
                     {"status": status, "currentTime": t.now(), "interval": 300})


def test_accepted_boot_notification_puts_vendor_model_firmware_on_the_map():
    t = Trace("CP1")
    events = translate_all(TranslatorState(), t.opened() + boot(t, "Pending") + boot(t, "Accepted"))
    booted = [e.payload for e in events if e.type == "station.booted"]
    assert booted == [{"chargePointId": "CP1", "vendor": "ACME", "model": "Wallbox-22", "firmwareVersion": "4.2.1",
                       "serialNumber": "SN-1"}]
    projection = StationsProjection()
    for event in events:
        projection.apply(event)
    row = projection.rows["CP1"]
    assert (row["vendor"], row["model"], row["firmwareVersion"]) == ("ACME", "Wallbox-22", "4.2.1")


def test_kwh_registers_have_no_float_noise():
    t = Trace("CP1")
    meter = t.call_in("MeterValues", {"connectorId": 1, "transactionId": 7, "meterValue": [{
        "timestamp": t.now(), "sampledValue": [
            {"value": "15.3266", "measurand": "Energy.Active.Import.Register", "unit": "kWh"},
            {"value": "7.40123", "measurand": "Power.Active.Import", "unit": "kW"}]}]})
    events = translate_all(TranslatorState(), t.opened() + t.start(1, "TAG", 15234, 7) + meter)
    update = next(e.payload for e in events if e.type == "meter.update")
    assert update["energyWh"] == 92.6 and update["powerW"] == 7401.23
    pushed = meter_values_update(update)["data"]["meterValue"]
    assert pushed["energyImportKWh"] == 0.093 and pushed["powerKw"] == 7.4
