"""Simulated OCPP 1.6-J charge points: :class:`Fleet` of :class:`SimulatedStation`,
with the meter model in :mod:`.meter`."""

from __future__ import annotations

from .fleet import Fleet
from .meter import ChargingSession, MeterSample
from .station import SimulatedStation, SimulationProfile, StationConnectError, StationOffline

__all__ = ["ChargingSession", "Fleet", "MeterSample", "SimulatedStation", "SimulationProfile",
           "StationConnectError", "StationOffline"]
