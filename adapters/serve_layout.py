"""How many processes one ``chargelog serve`` on the embedded engine runs, and what each
runs (docs/deploy.md, "Processes").

* ``serve`` itself: the client API, an OCPP gateway, the registry file and simulated fleet;
* the fold: translator + read-model projections (:mod:`.fold_process`);
* more OCPP gateways: the same port bound with ``SO_REUSEPORT`` by every gateway process, so
  the kernel spreads the charge points' connections over them; each has its own gateway id
  and appends to the same ``source`` file.

``processes`` (``--processes`` / ``CHARGELOG_PROCESSES``): 1 keeps everything in one
process; 2 moves the fold out; every process beyond two is one more gateway. 0 (automatic)
gives the fold its process and one gateway process per core (at most
:data:`MAX_AUTO_GATEWAYS`): on 2 cores three processes, measured in docs/benchmarks.md
("Every core: gateways sharing the port"). On Kafka the roles are separate deployments
(docs/deploy.md): one process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from chargelog.adapters.config import Settings

#: Most gateway processes the automatic layout runs (one per core up to this).
MAX_AUTO_GATEWAYS = 8


@dataclass(frozen=True)
class Layout:
    """``fold``: the projections role runs in a child; ``gateways``: OCPP gateway processes
    sharing the port (1: only ``serve``'s own, 0: no gateway role)."""

    fold: bool = False
    gateways: int = 1

    @property
    def processes(self) -> int:
        """Processes in all, ``serve`` included."""
        return 1 + int(self.fold) + max(0, self.gateways - 1)


def layout(settings: Settings, cores: int | None = None) -> Layout:
    """The layout for ``settings`` on a machine with ``cores`` cores (default: this one's)."""
    roles = set(settings.roles)
    gateway = "gateway" in roles
    if settings.is_kafka:
        return Layout(gateways=int(gateway))
    cores = cores if cores is not None else os.cpu_count() or 1
    can_fold = "projections" in roles and len(roles) >= 2
    processes = settings.processes or (1 if cores < 2 else int(can_fold) + min(cores, MAX_AUTO_GATEWAYS))
    fold = can_fold and processes >= 2
    if not gateway:
        return Layout(fold=fold, gateways=0)
    return Layout(fold=fold, gateways=max(1, processes - int(fold)))


def gateway_settings(settings: Settings, port: int, number: int) -> Settings:
    """Settings of gateway process ``number`` (2, 3, …): the gateway role alone on the port
    ``serve``'s own gateway bound (``port``), with ``SO_REUSEPORT``; a configured gateway id
    gets ``-{number}`` appended (else each process's default ``host:pid``)."""
    return settings.model_copy(update={
        "roles": ["gateway"], "registry_file": None, "simulate": 0, "ocpp_port": port, "ocpp_reuse_port": True,
        "gateway_id": f"{settings.gateway_id}-{number}" if settings.gateway_id else ""})
