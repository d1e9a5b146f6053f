"""The OCPP 1.6-J central system: a gateway that holds charge points' WebSocket
connections, records every frame both ways as an event on the ``source`` stream, answers
every charge-point-initiated message after its event is durable, and executes commands
(``command.requested`` events) on the charge points it holds.

Modules: ``gateway`` (server, connections, command dispatch), ``connection`` (one charge
point: frames, durable acknowledgement, CALLs to it), ``handlers`` (the answers to the ten
charge-point-initiated 1.6 messages), ``frames`` (parsing and frame events), ``validation``
(JSON schemas → 1.6 CALLERROR codes), ``txids`` (transactionId allocation), ``presence``
(who holds which charge point), ``commands`` (``request_command`` and outcomes),
``ports`` (registry protocols; password hashing is ``chargelog.domain.registry``'s), ``operator_api``,
``run`` (a stand-alone gateway process).
"""
