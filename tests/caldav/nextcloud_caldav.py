"""A Nextcloud CalDAV endpoint for the tests: Radicale (PyPI) under cheroot, laid out as
Nextcloud's calendar homes `/remote.php/dav/calendars/{uid}/{calendar}/`, authenticating as
user_oidc does with `--check-bearer=1`: the bearer token is sent to the provider's userinfo
endpoint on every request (no cache, so a revoked token is refused at once) and the user id is
the claim named by `--uid-claim`. Anything else is 401 with Nextcloud's challenges.

Radicale serves the calendars (PROPFIND, REPORT calendar-query and calendar-multiget with
time ranges and `expand`, PUT with `If-Match` / `If-None-Match: *`, GET, DELETE, MKCALENDAR,
PROPPATCH). What Nextcloud adds or does differently is here:
- the user is handed to Radicale as REMOTE_USER (its `remote_user` auth), set only by this
  wrapper, with Radicale's `owner_only` rights;
- another user's home and everything in it answers 404 "Node with name '…' could not be
  found", as Nextcloud's DavAclPlugin turns a missing privilege into NotFound rather than
  Sabre's 403;
- on a user's first request their `personal` calendar exists (display name "Personal",
  Nextcloud's blue as `x1:calendar-color`), as Nextcloud makes it at the first login;
- errors carry Sabre's XML bodies (`s:exception`, `s:message`), and a PUT of data that is not
  valid iCalendar is 415 Unsupported Media Type, Sabre's answer, where Radicale says 400.

Binds 127.0.0.1 port 0 itself, then writes the port to `--port-file` and prints
`listening on 127.0.0.1:PORT` as its only line on stdout. Logs go to `--log-file`; tokens, the
userinfo answers and request bodies are never logged. It exits when its standard input closes,
so that a test run killed before it could stop the server leaves none behind.
"""

import argparse
import json
import logging
import os
import posixpath
import sys

from radicale import config as radicale_config
from radicale import log as radicale_log
from radicale.app import Application

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.append(os.path.join(HERE, "..", "nextcloud_common"))
import nextcloud_common as common  # noqa: E402
from nextcloud_common import BASE, drain, reason  # noqa: E402

CALENDARS = BASE + "/calendars"

#: The calendar Nextcloud's CalDAV backend makes for every user at the first login.
PERSONAL = "personal"
PERSONAL_NAME = "Personal"
#: Nextcloud's default theming colour, which the personal calendar takes.
PERSONAL_COLOR = "#0082c9"

SABRE_EXCEPTIONS = {**common.SABRE_EXCEPTIONS, 413: "TooLarge"}

BODY_HEADERS = ("content-length", "content-type", "content-encoding")

log = logging.getLogger("nextcloud_caldav")


def radicale_app(root):
    """Radicale storing under `root`, trusting REMOTE_USER, each user confined to their home."""
    configuration = radicale_config.load()
    configuration.update(
        {
            "server": {"delay_on_error": "0", "max_content_length": str(10 * 1024 * 1024)},
            # The wrapper authenticates; Radicale reads the user it set.
            "auth": {"type": "remote_user", "delay": "0"},
            "rights": {"type": "owner_only"},
            "storage": {
                "filesystem_folder": root,
                "predefined_collections": json.dumps(
                    {
                        PERSONAL: {
                            "tag": "VCALENDAR",
                            "D:displayname": PERSONAL_NAME,
                            "ICAL:calendar-color": PERSONAL_COLOR,
                            "C:supported-calendar-component-set": "VEVENT,VTODO",
                        }
                    }
                ),
            },
            "web": {"type": "none"},
            # Request and response headers and bodies are logged only at debug.
            "logging": {"level": "info", "mask_passwords": "True"},
        },
        "nextcloud_caldav",
    )
    return Application(configuration)


class NextcloudCalDav:
    """The WSGI application: Nextcloud's behaviour around Radicale."""

    def __init__(self, root, userinfo_url, uid_claim):
        self.root = root
        self.bearer = common.BearerCheck(userinfo_url, uid_claim, log)
        self.radicale = radicale_app(root)

    def __call__(self, environ, start_response):
        # WSGI's PATH_INFO is decoded bytes as latin-1; dot segments go as Radicale drops them.
        raw = environ.get("PATH_INFO", "")
        path = posixpath.normpath(raw.encode("latin-1").decode("utf-8", "replace") or "/")
        if path != BASE and not path.startswith(BASE + "/"):
            return self.refuse(environ, start_response, 404, f"{path} not found")
        uid, problem = self.bearer.authenticate(environ)
        # Nothing past this point sees the token, nor a user name a client sent itself.
        for key in ("HTTP_AUTHORIZATION", "HTTP_X_REMOTE_USER", "HTTP_X_SCRIPT_NAME"):
            environ.pop(key, None)
        if uid is None:
            return self.refuse(environ, start_response, 401, problem)
        if path != CALENDARS and not path.startswith(CALENDARS + "/"):
            # The principals, files and other trees of Nextcloud's DAV are not served here.
            return self.refuse(environ, start_response, 404, f"{path} not found")
        below = [p for p in path[len(CALENDARS) :].split("/") if p]
        if below and below[0] != uid:
            # DavAclPlugin::checkPrivileges: a node the user may not read is "not found".
            return self.refuse(
                environ, start_response, 404, f"Node with name '{below[-1]}' could not be found"
            )
        # Sabre tells a replaced object (204) from a new one (201); Radicale says 201 to both.
        stored = os.path.join(self.root, "collection-root", *below)
        environ["nc.replaces"] = environ["REQUEST_METHOD"] == "PUT" and os.path.isfile(stored)
        environ["REMOTE_USER"] = uid
        environ["SCRIPT_NAME"] = CALENDARS
        inside = path[len(CALENDARS) :] + ("/" if raw.endswith("/") else "")
        environ["PATH_INFO"] = inside.replace("//", "/").encode("utf-8").decode("latin-1") or "/"
        return self.serve(environ, start_response)

    def serve(self, environ, start_response):
        """Radicale's answer, its errors in Sabre's words. Radicale answers from memory (a list
        of byte strings), so holding it whole costs nothing."""
        captured = []

        def capture(status, headers, exc_info=None):
            captured[:] = [status, headers]
            return lambda data: None

        body = b"".join(self.radicale(environ, capture))
        status, headers = captured
        code = int(status.split(" ", 1)[0])
        if code == 400 and environ["REQUEST_METHOD"] == "PUT":
            # Sabre's CalDAV plugin refuses data that does not parse as iCalendar with 415.
            return self.refuse(
                environ,
                start_response,
                415,
                "This resource only supports valid iCalendar 2.0 data.",
            )
        if code == 412:
            return self.refuse(environ, start_response, code, precondition_message(environ))
        if code >= 400:
            return self.refuse(environ, start_response, code, reason(code))
        if environ["REQUEST_METHOD"] == "DELETE" or (code == 201 and environ["nc.replaces"]):
            # Sabre answers a deletion and a replacement with 204 and no body; Radicale says
            # 200 with a multistatus, and 201.
            headers = [(n, v) for n, v in headers if n.lower() not in BODY_HEADERS]
            start_response("204 No Content", headers)
            return [b""]
        start_response(status, headers)
        return [body]

    def refuse(self, environ, start_response, code, message):
        """Sabre's error answer. Whatever the client is still sending is read first, as a
        proxy buffering the request (Nextcloud's nginx) would have received it whole."""
        drain(environ)
        exception = SABRE_EXCEPTIONS.get(code, "")
        return common.sabre_answer(environ, start_response, code, exception, message)


def precondition_message(environ):
    """Sabre's words for the header that failed."""
    if environ.get("HTTP_IF_NONE_MATCH"):
        return "An If-None-Match header was specified, but the ETag matched (or * was specified)."
    return "An If-Match header was specified, but none of the specified ETags matched."


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="where Radicale keeps the calendars")
    parser.add_argument("--userinfo-url", required=True)
    parser.add_argument("--uid-claim", required=True)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--log-file", required=True)
    args = parser.parse_args()

    # Radicale's handler writes to the request's wsgi.errors (cheroot's is sys.stderr, the log
    # file from here on) and to sys.stderr outside requests.
    common.log_to(args.log_file, ("nextcloud_caldav", "cheroot"))
    radicale_log.setup()
    app = NextcloudCalDav(args.root, args.userinfo_url, args.uid_claim)
    common.serve(app, args.port_file, log, args.root)


if __name__ == "__main__":
    main()
