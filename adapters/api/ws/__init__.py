"""The WebSocket session engine every client dialect (:mod:`..dialects`) runs on: the
connection limits and what a dialect is (:mod:`.base`), one connection's session
(:mod:`.session`), the app-wide connection registry (:mod:`.state`), safe JSON parsing
(:mod:`.wire`), the timestamp form (:mod:`.timefmt`) and the AsyncAPI fragment built from a
dialect's models (:mod:`.contract`). Nothing here knows a dialect's messages."""
