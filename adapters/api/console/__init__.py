"""The operators' web console, served by the client API at ``/console``.

Server-rendered shell (``static/index.html``) plus one small vanilla-JavaScript file and
Leaflet, vendored from npm into ``static/vendor/leaflet`` (served from here, never a CDN): no
build step, nothing to install beside the Python package, and the browser only ever loads
what this process serves (the map tiles excepted: ``Settings.console_tile_url``, empty for
none). Why not a bundled single-page framework: the console is a few tables and one map whose
rows change one at a time; a virtualised list updated in place per push is a few dozen lines
of DOM code, while a framework would add a build toolchain to a Python project.

Routes (JSON unless said; every ``/console/api/…`` route and the socket need the ``admin``
(operator) or ``audit`` (auditor) scope, with the existing JWTs or API keys as
``Authorization: Bearer …``; 401 without valid credentials, 403 without the scope):

* ``GET /console`` — the HTML shell (public: it holds no data); ``/console/static/…`` files.
* ``GET /console/api/me`` → ``{"userId", "scopes", "role": "operator"|"auditor", "tileUrl",
  "tileAttribution"}``.
* ``GET /console/api/stations`` → ``{"sites", "stations", "position"}``: the station map
  (docs/contracts.md views) and the resume position it is complete up to.
* ``GET /console/api/sessions`` → ``{"sessions": [SessionView…]}`` (active; energy Wh, power W).
* ``GET /console/api/chargepoints/{chargePointId}`` → ``{"station", "sessions", "frames",
  "connections", "anomalies"}`` (:mod:`.history`); 404 for an unknown charge point.
* ``GET /console/api/transactions/{transactionId}`` → ``{"session", "timeline"}``: the session
  view and the audit timeline's entries (:mod:`chargelog.adapters.audit.timeline`, as
  ``GET /api/audit/transactions/{transactionId}`` gives them); 404 for an unknown transaction.
* ``WS /console/ws`` — the live push stream: first message ``{"credential": str, "after":
  position | null}``; then ``{"kind": "ready", "position"}`` and one ``{"kind": "event",
  "position", …item}`` per domain event after ``after`` (catch-up, then live, no gap —
  :func:`chargelog.adapters.api.hub.follow`). Close codes: 4401 bad credentials, 4403 scope,
  4410 position no longer in the log (reload the snapshot), 1011 the API is stopping.

Operator commands go through ``POST /api/operator/commands`` (admin); their outcomes arrive as
``command.accepted/rejected/failed/timed_out`` domain events on the push stream.
"""

from __future__ import annotations

from .routes import console_routes

__all__ = ["console_routes"]
