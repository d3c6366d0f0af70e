"""Schemathesis hooks for `make test`'s contract run against the local stack.

`cargo lambda watch`, the local stand-in for Lambda, answers 500 by itself
for a request body that is not valid UTF-8, before any function runs (a Lambda
Function URL passes such a body base64-encoded, and every handler answers it
with 400 invalid_request: see tests/tests/e2e/contract_bodies.rs). Those bodies are
left out here so the run measures our functions, not the stand-in."""

import schemathesis


@schemathesis.hook
def filter_body(ctx, body):
    if isinstance(body, (bytes, bytearray)):
        try:
            bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True
