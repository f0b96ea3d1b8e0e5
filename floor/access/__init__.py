"""Access control's pure core: who may command the engine, and how a command proves it.

The policy. Every command that changes what the engine does is an EIP-712 typed message
(floor.access.commands) signed by its sender's own key, person or service, and checked by the
engine workflow itself, in its update validators (pure, deterministic, the workflow's time):
size, kind, fields, domain (chain, executor, engine), deadline (not past, at most an hour
ahead), signature, role and nonce (no replay). A pause is the exception: open to anyone,
signed or not (an incident must never wait for a key), and rate-limited instead. Roles are
ordered VIEWER < OPERATOR < ADMIN (floor.access.roles.NEEDS, the one table): a VIEWER reads;
an OPERATOR also allocates, rebalances, harvests, resumes, runs a risk check and accepts a
reconciliation; an ADMIN also requests capital, trips and half-opens breakers, configures the
engine and its schedules, and grants and revokes roles (never the last ADMIN's). Every caller
is rate-limited per command kind, with a capped exponential backoff after repeated refusals
(floor.access.ratelimit), and every accepted or refused command is a row of a hash-chained
audit log (floor.access.audit).

Nothing here does I/O, reads a clock or imports Temporal: times are whole seconds passed in.
"""
