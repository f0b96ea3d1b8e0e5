"""The admin API: a door to the engine over HTTP, standing on the client package.

- Reads (`/status`, `/positions`, `/risk`, `/breakers`, `/transactions`, `/alerts`, `/audit`)
  need a session: Sign-In with Ethereum (EIP-4361) by an address the engine's role book holds
  (VIEWER and up). They are served from a cache the engine, chains and store refresh at most
  once a second (api.cache_s; chain and store reads api.chain_cache_s).
- Commands (`POST /commands/{kind}`) need no session: the signed command is the authority. It
  goes to the engine unchanged (client.commands.send) and the engine decides; a refusal is a
  403 with the engine's one-line reason, recorded in the audit log.
- Every error is `{"error": {"code", "message"}}`; rate limits answer 429 with Retry-After.
"""
