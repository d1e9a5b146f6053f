"""The client API: one core (queries, commands, subscriptions over the log and the read
models) and the WebSocket/REST dialects that speak it (issues 5 and 6)."""
