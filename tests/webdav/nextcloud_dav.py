"""A Nextcloud WebDAV endpoint for the tests: wsgidav (PyPI) under cheroot, laid out as
Nextcloud's `/remote.php/dav/files/{uid}/…`, authenticating as user_oidc does with
`--check-bearer=1`: the bearer token is sent to the provider's userinfo endpoint on every
request (no cache, so a revoked token is refused at once) and the user id is the claim named by
`--uid-claim`. Anything else is 401 with Nextcloud's challenges.

What Nextcloud adds to plain WebDAV is here or in `nc_files` / `nc_search`: the homes and their
confinement, `oc:fileid` / `oc:size` / `oc:permissions`, `OC-FileId` and `OC-ETag` headers,
the per-user quota (507), SEARCH by file id, Sabre's XML error bodies (`s:exception`,
`s:message`) and Sabre's handling of `Destination` (dot segments resolved, outside
`/remote.php/dav/` forbidden). Locks are wsgidav's own lock manager.

Binds 127.0.0.1 port 0 itself, then writes the port to `--port-file` and prints
`listening on 127.0.0.1:PORT` as its only line on stdout. Logs go to `--log-file`; tokens and
the userinfo answers are never logged. It exits when its standard input closes, so that a test
run killed before it could stop the server leaves none behind.
"""

import argparse
import logging
import os
import sys
from urllib.parse import quote, unquote, urlparse

from wsgidav import util
from wsgidav.error_printer import ErrorPrinter
from wsgidav.request_resolver import RequestResolver
from wsgidav.wsgidav_app import WsgiDAVApp

import nc_files
import nc_search

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.append(os.path.join(HERE, "..", "nextcloud_common"))
import nextcloud_common as common  # noqa: E402
from nextcloud_common import BASE, reason  # noqa: E402

FILES = BASE + "/files"

SABRE_EXCEPTIONS = {
    **common.SABRE_EXCEPTIONS,
    416: "RequestedRangeNotSatisfiable",
    423: "Locked",
}

log = logging.getLogger("nextcloud_dav")


class NextcloudDav:
    """The WSGI application: Nextcloud's behaviour around wsgidav."""

    def __init__(self, provider, userinfo_url, uid_claim):
        self.provider = provider
        self.bearer = common.BearerCheck(userinfo_url, uid_claim, log)
        self.dav = WsgiDAVApp(
            {
                "provider_mapping": {FILES: provider},
                "middleware_stack": [ErrorPrinter, RequestResolver],
                "lock_storage": True,
                "property_manager": True,
                "honor_mtime_header": True,
                "block_size": nc_files.BLOCK_SIZE,
                "default_charset": None,
                "http_authenticator": {"accept_basic": False, "accept_digest": False},
                "verbose": 3,
                "logging": {"enable": False},
            }
        )

    def __call__(self, environ, start_response):
        path = util.re_encode_wsgi(environ.get("PATH_INFO", ""))
        method = environ["REQUEST_METHOD"]
        if path != BASE and not path.startswith(BASE + "/"):
            return self.refuse(environ, start_response, 404, "NotFound", f"{path} not found")
        uid, problem = self.bearer.authenticate(environ)
        # wsgidav logs the environment at high verbosity: the token goes no further.
        environ.pop("HTTP_AUTHORIZATION", None)
        if uid is None:
            return self.refuse(environ, start_response, 401, "NotAuthenticated", problem)
        environ["wsgidav.auth.user_name"] = uid
        environ["wsgidav.auth.realm"] = "Nextcloud"
        # Nextcloud makes the home at the first login.
        os.makedirs(self.provider.home(uid), exist_ok=True)

        if method == "SEARCH":
            content_type = environ.get("CONTENT_TYPE", "")
            if path.rstrip("/") == BASE and "xml" in content_type:
                # The search reads the same resources wsgidav serves, which expect its keys.
                environ["wsgidav.provider"] = self.provider
                environ["wsgidav.config"] = self.dav.config
                return nc_search.handle(environ, start_response, self.provider, uid)
            message = (
                "There was no plugin in the system that was willing to handle this SEARCH method."
            )
            return self.refuse(environ, start_response, 501, "NotImplemented", message)
        if method in ("MOVE", "COPY") and "HTTP_DESTINATION" in environ:
            refusal = self.check_destination(environ)
            if refusal:
                return self.refuse(environ, start_response, *refusal)
        refusal = self.check_quota(environ, method, path, uid)
        if refusal:
            return self.refuse(environ, start_response, *refusal)
        return self.serve(environ, start_response, method, path)

    def check_destination(self, environ):
        """Sabre's `calculateUri`: the Destination's path, dot segments resolved, must be
        under the DAV base; then wsgidav is given that path alone."""
        destination = environ["HTTP_DESTINATION"]
        dest = urlparse(destination).path if "://" in destination else destination
        dest = sabre_normalize(unquote(dest))
        if dest != BASE and not dest.startswith(BASE + "/"):
            return 403, "Forbidden", f"Requested uri ({dest}) is out of base uri ({BASE}/)"
        if not dest.startswith(FILES + "/"):
            return 409, "Conflict", "The destination node is not found"
        environ["HTTP_DESTINATION"] = quote(dest, safe="/")
        return None

    def check_quota(self, environ, method, path, uid):
        """Nextcloud's QuotaPlugin: a PUT of a known length or a COPY that does not fit in
        what is left is refused before anything is written."""
        parts = [p for p in path[len(FILES) :].strip("/").split("/") if p]
        if len(parts) < 2 or parts[0] != uid:
            return None
        file_path = os.path.join(self.provider.home(uid), *parts[1:])
        if method == "PUT":
            environ["nc.put_creates"] = not os.path.exists(file_path)
        free = self.provider.free_bytes(uid)
        if free is None:
            return None
        if method == "PUT" and environ.get("CONTENT_LENGTH", "") != "":
            length = util.get_content_length(environ)
        elif method == "COPY" and os.path.exists(file_path):
            length = nc_files.tree_size(file_path)
        else:
            return None
        if length <= free:
            return None
        dav_path = "files/" + "/".join(parts)
        message = f"Insufficient space in {dav_path}, {length} required, {free} available"
        return 507, "InsufficientStorage", message

    def serve(self, environ, start_response, method, path):
        """wsgidav's answer, with Nextcloud's headers added and Sabre's error bodies."""
        captured = []

        def capture(status, headers, exc_info=None):
            captured[:] = [status, headers]
            return lambda data: None

        app_iter = self.dav(environ, capture)
        chunks = iter(app_iter)
        first = next(chunks, None)
        status, headers = captured
        code = int(status.split(" ", 1)[0])
        if code >= 400:
            close(app_iter)
            message = environ.get("nc.error_message") or default_message(code, path)
            exception = SABRE_EXCEPTIONS.get(code, "")
            return self.refuse(environ, start_response, code, exception, message)

        names = {name.lower() for name, _ in headers}
        etag = next((value for name, value in headers if name.lower() == "etag"), None)
        if etag is not None and "oc-etag" not in names:
            headers.append(("OC-ETag", etag))
        if code in (201, 204) and method in ("PUT", "MKCOL", "COPY", "MOVE"):
            headers.extend(self.created_headers(environ, method, path))
        if code == 201:
            # Nextcloud answers a creation with an empty body.
            dropped = ("content-length", "content-type")
            headers = [(n, v) for n, v in headers if n.lower() not in dropped]
            headers.append(("Content-Length", "0"))
            close(app_iter)
            start_response(status, headers)
            return [b""]
        start_response(status, headers)
        return stream(first, chunks, app_iter)

    def created_headers(self, environ, method, path):
        """`OC-FileId` of what was written, and `X-OC-MTime` when its time was taken."""
        target = path
        if method in ("COPY", "MOVE"):
            target = unquote(environ["HTTP_DESTINATION"])
        parts = [p for p in target[len(FILES) :].strip("/").split("/") if p]
        headers = []
        if parts and parts[0] == environ["wsgidav.auth.user_name"]:
            file_path = os.path.join(self.provider.home(parts[0]), *parts[1:])
            if os.path.exists(file_path):
                headers.append(("OC-FileId", oc_file_id(os.stat(file_path).st_ino)))
        if method == "PUT" and "HTTP_X_OC_MTIME" in environ:
            headers.append(("X-OC-MTime", "accepted"))
        return headers

    def refuse(self, environ, start_response, code, exception, message):
        """Sabre's error answer. Whatever the client is still sending is read first, as a
        proxy buffering the request (Nextcloud's nginx) would have received it whole."""
        drain(environ)
        return common.sabre_answer(environ, start_response, code, exception, message)


def default_message(code, path):
    below = path[len(FILES) :].strip("/")
    return {
        404: f"File with name {below} could not be located",
        423: f'"{below}" is locked',
        412: "An If-None-Match header was specified, but the ETag matched (or * was specified).",
    }.get(code, reason(code))


def sabre_normalize(path):
    """sabre/uri's normalize: `.` dropped, `..` pops (never above the root), `//` collapsed."""
    parts = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
        else:
            parts.append(part)
    return "/" + "/".join(parts)


def oc_file_id(inode):
    """`DavUtil::getDavFileId`: the id padded to 8 digits, then the instance id."""
    return f"{inode:08d}{INSTANCE_ID}"


def drain(environ):
    """Reads what is left of the request body (Content-Length or chunked) and drops it."""
    if environ.get("wsgidav.all_input_read"):
        return
    common.drain(environ, nc_files.BLOCK_SIZE)
    environ["wsgidav.all_input_read"] = 1


def close(app_iter):
    if hasattr(app_iter, "close"):
        app_iter.close()


def stream(first, chunks, app_iter):
    try:
        if first is not None:
            yield first
        yield from chunks
    finally:
        close(app_iter)


#: Nextcloud's `instanceid` config value: "oc" and ten letters and digits.
INSTANCE_ID = "ocnc0test01"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="the folder holding one home per user")
    parser.add_argument("--parts-dir", required=True, help="where overwrites are received")
    parser.add_argument("--userinfo-url", required=True)
    parser.add_argument("--uid-claim", required=True)
    parser.add_argument("--quota-bytes", type=int, default=None)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--log-file", required=True)
    args = parser.parse_args()

    common.log_to(args.log_file, ("wsgidav", "nextcloud_dav", "cheroot"))
    provider = nc_files.NcProvider(args.root, args.parts_dir, args.quota_bytes)
    app = NextcloudDav(provider, args.userinfo_url, args.uid_claim)
    common.serve(app, args.port_file, log, args.root)


if __name__ == "__main__":
    main()
