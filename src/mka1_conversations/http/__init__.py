"""The HTTP face: bytes in, bytes out. Routes, query parameters, auth, errors, OpenAPI."""
