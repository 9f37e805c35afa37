#!/usr/bin/env python3
"""Recomputes the SigV4 signature of a presigned S3 GET URL with AWS's own SDK (botocore).

Reads {"url", "access_key", "secret_key", "region"} as JSON on standard input, signs the same
GET (path, X-Amz-Date, X-Amz-Expires) with botocore's S3SigV4QueryAuth, and prints
{"given", "expected"}; exits 0 when they are equal, 1 otherwise. S3 servers that tests can run
(moto, s3rver) do not check query signatures, so this is where ours is checked.
Used by tests/api/livekit/recordings.rs.
"""

import datetime
import json
import sys
from urllib.parse import parse_qs, urlsplit, urlunsplit

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def main() -> int:
    request = json.load(sys.stdin)
    url = urlsplit(request["url"])
    query = parse_qs(url.query)
    signed_at = datetime.datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ")
    # botocore signs "now"; the URL says when it was signed.
    botocore.auth.get_current_datetime = lambda *args, **kwargs: signed_at
    bare = urlunsplit((url.scheme, url.netloc, url.path, "", ""))
    aws = AWSRequest(method="GET", url=bare)
    credentials = Credentials(request["access_key"], request["secret_key"])
    botocore.auth.S3SigV4QueryAuth(
        credentials, "s3", request["region"], expires=int(query["X-Amz-Expires"][0])
    ).add_auth(aws)
    expected = parse_qs(urlsplit(aws.url).query)["X-Amz-Signature"][0]
    given = query["X-Amz-Signature"][0]
    print(json.dumps({"given": given, "expected": expected}))
    return 0 if given == expected else 1


if __name__ == "__main__":
    sys.exit(main())
