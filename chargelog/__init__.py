"""chargelog: an event-sourced backend for EV charging.

The code lives in three layers that the design card names (../shared/DESIGN.md):
``chargelog.domain`` (pure rules and event schemas, source dir ``domain/``),
``chargelog.projections`` (read models folded from the log, ``projections/``) and
``chargelog.adapters`` (OCPP, client API, log engines, stores, CLI, ``adapters/``).
"""

__version__ = "0.1.0"

# In a source checkout the layers sit beside this package (the installed wheel nests them
# inside it): let ``chargelog.domain`` & co. resolve when the repo root is on sys.path.
from pathlib import Path as _Path

_root = _Path(__file__).resolve().parent.parent
if (_root / "domain" / "envelope.py").is_file() and str(_root) not in __path__:
    __path__.append(str(_root))
