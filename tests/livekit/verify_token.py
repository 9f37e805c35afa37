#!/usr/bin/env python3
"""Verifies a LiveKit access token with LiveKit's own Python SDK (PyPI `livekit-api`).

Reads {"token", "api_key", "api_secret"} as JSON on standard input (so the secret is not on a
command line) and prints the verified claims as JSON: identity, name, metadata and the video
grant in the SDK's own field names. A token the SDK refuses: the reason on stderr, exit 1.
Used by tests/api/livekit_tokens.rs.
"""

import dataclasses
import json
import sys

from livekit.api import TokenVerifier


def main() -> int:
    request = json.load(sys.stdin)
    verifier = TokenVerifier(request["api_key"], request["api_secret"])
    try:
        claims = verifier.verify(request["token"])
    except Exception as e:  # the SDK raises PyJWT's errors and ValueError
        print(f"refused: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(
        json.dumps(
            {
                "identity": claims.identity,
                "name": claims.name,
                "metadata": claims.metadata,
                "video": dataclasses.asdict(claims.video) if claims.video else None,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
