"""What the tests' Nextcloud DAV servers share (`tests/webdav/nextcloud_dav.py`, wsgidav, and
`tests/caldav/nextcloud_caldav.py`, Radicale): user_oidc's bearer check at the provider's
userinfo endpoint, Sabre's error answers, the log file, and the start-up both follow (bind
127.0.0.1 port 0, write the port to the port file, print `listening on 127.0.0.1:PORT` as the
only line on stdout, exit when standard input closes).

Each server puts this folder on `sys.path` itself, so that both stay runnable as
`python3 tests/<x>/<server>.py …`.
"""

import json
import logging
import os
import sys
import threading
import urllib.error
import urllib.request
from http import HTTPStatus

from cheroot import wsgi

BASE = "/remote.php/dav"
USERINFO_TIMEOUT = 10
MAX_USERINFO_BYTES = 1024 * 1024

#: Sabre's exception class for each status both servers answer with.
SABRE_EXCEPTIONS = {
    400: "BadRequest",
    401: "NotAuthenticated",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    412: "PreconditionFailed",
    415: "UnsupportedMediaType",
    501: "NotImplemented",
    507: "InsufficientStorage",
}


class BearerCheck:
    """user_oidc with `--check-bearer=1`: the bearer token is sent to the provider's userinfo
    endpoint on every request (no cache, so a revoked token is refused at once) and the user id
    is the claim named `uid_claim`. Tokens and userinfo answers are never logged."""

    def __init__(self, userinfo_url, uid_claim, log):
        self.userinfo_url = userinfo_url
        self.uid_claim = uid_claim
        self.log = log
        # No proxy from the environment between this server and the provider on 127.0.0.1.
        self.http = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def authenticate(self, environ):
        """The user id the bearer token stands for, or None and why not."""
        scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None, (
                "No 'Authorization: Bearer' header found. Either the client didn't send one, "
                "or the server is mis-configured"
            )
        request = urllib.request.Request(
            self.userinfo_url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )
        try:
            with self.http.open(request, timeout=USERINFO_TIMEOUT) as response:
                claims = json.loads(response.read(MAX_USERINFO_BYTES))
        except (urllib.error.URLError, OSError, ValueError) as e:
            self.log.info("bearer token refused by the userinfo endpoint: %s", type(e).__name__)
            return None, "Bearer token was incorrect"
        uid = claims.get(self.uid_claim) if isinstance(claims, dict) else None
        if not isinstance(uid, str) or uid in ("", ".", "..") or "/" in uid or "\0" in uid:
            self.log.info("userinfo has no usable %r claim", self.uid_claim)
            return None, "Bearer token was incorrect"
        return uid, None


def sabre_answer(environ, start_response, code, exception, message):
    """Sabre's error answer (no body to a HEAD), with Nextcloud's challenges on a 401. The
    caller has read what is left of the request body."""
    body = b"" if environ["REQUEST_METHOD"] == "HEAD" else sabre_error(exception, message)
    headers = [
        ("Content-Type", "application/xml; charset=utf-8"),
        ("Content-Length", str(len(body))),
    ]
    if code == 401:
        headers.append(("WWW-Authenticate", 'Basic realm="Nextcloud", charset="UTF-8"'))
        headers.append(("WWW-Authenticate", 'Bearer realm="Nextcloud"'))
    start_response(f"{code} {reason(code)}", headers)
    return [body]


def sabre_error(exception, message):
    exception_class = "Sabre\\DAV\\Exception"
    if exception:
        exception_class += f"\\{exception}"
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<d:error xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns">\n'
        f"  <s:exception>{xml_escape(exception_class)}</s:exception>\n"
        f"  <s:message>{xml_escape(message)}</s:message>\n"
        "</d:error>\n"
    ).encode()


def reason(code):
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Error"


def xml_escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def drain(environ, block_size=64 * 1024):
    """Reads what is left of the request body and drops it."""
    stream_in = environ["wsgi.input"]
    while stream_in.read(block_size):
        pass


def log_to(path, logger_names):
    """Sends standard error and the named loggers (not propagating) to the file at `path`."""
    log_file = open(path, "a", buffering=1)
    sys.stderr = log_file
    handler = logging.StreamHandler(log_file)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    for name in logger_names:
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def serve(app, port_file, log, what):
    """Serves `app` on 127.0.0.1 port 0 under cheroot until standard input closes, having
    written the port to `port_file` and `listening on 127.0.0.1:PORT` to stdout."""
    # Uploads may pause while the hub waits on its client: a minute of silence is allowed.
    server = wsgi.Server(("127.0.0.1", 0), app, numthreads=16, request_queue_size=64, timeout=60)
    server.prepare()
    port = server.bind_addr[1]
    temp = port_file + ".tmp"
    with open(temp, "w") as f:
        f.write(f"{port}\n")
    os.replace(temp, port_file)
    print(f"listening on 127.0.0.1:{port}", flush=True)
    sys.stdout = open(os.devnull, "w")
    log.info("serving %s on 127.0.0.1:%d", what, port)
    threading.Thread(target=exit_with_parent, args=(log,), daemon=True).start()
    server.serve()


def exit_with_parent(log):
    """Ends the process once the parent's end of standard input is closed."""
    sys.stdin.buffer.read()
    log.info("standard input closed: exiting")
    os._exit(0)
