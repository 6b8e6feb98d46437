"""The HTTP face: bytes in, bytes out, over the domain's service.

``routes`` (the operations: parse, call the service, encode), ``params`` and ``body`` (query and
body parsing), ``auth`` and ``keyring`` (the caller), ``services`` (what the lifespan opened),
the middleware ``observe`` (request id, metrics, log line), ``errors`` (every error → the
envelope) and ``head_limit`` (431), ``operational`` (health, readiness, metrics) and ``openapi``
(the document and /docs)."""
