"""chargelog: an event-sourced backend for EV charging.

The code lives in three layers that the design card names (../shared/DESIGN.md):
``chargelog.domain`` (pure rules and event schemas, source dir ``domain/``),
``chargelog.projections`` (read models folded from the log, ``projections/``) and
``chargelog.adapters`` (OCPP, client API, log engines, stores, CLI, ``adapters/``).
"""

__version__ = "0.1.0"
