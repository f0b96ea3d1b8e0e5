"""Deployment of the executor per network: deterministic addresses (CREATE2), the registry of
what was deployed where, verification against the chain and the code, staged promotion and
rollback through the owner Safe."""
