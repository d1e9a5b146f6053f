"""Auditors' and analysts' tools over the log: hash-chain verification and signed
checkpoints, the audit timeline, exports (docs/audit.md, docs/analytics.md)."""
