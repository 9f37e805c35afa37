"""WebDAV SEARCH (RFC 5323 basicsearch) on `/remote.php/dav/`, as Nextcloud answers it with
the SearchDAV library and `apps/dav/lib/Files/FileSearchBackend.php`: one scope, which must be
a folder of the caller's own files (`/files/{uid}[/…]`, else 400 "Invalid search scope"), a
`where` made of comparisons on the properties Nextcloud indexes, the selected properties in a
207 multistatus with hrefs under `/remote.php/dav/files/{uid}/`, folders with a trailing slash.
Nothing found is an empty multistatus.

Supported in `where`: `eq`, `lt`, `lte`, `gt`, `gte`, `like` (SQL wildcards, case-insensitive
on names as Nextcloud's `ILIKE`), `and`, `or`, `not`, `is-collection`, on `oc:fileid`,
`oc:size`, `d:getcontentlength`, `d:displayname`, `d:getcontenttype` (folders are
`httpd/unix-directory`) and `d:getlastmodified` (a Unix time or an HTTP date). `limit/nresults`
caps the answer.
"""

import os
import re
import xml.etree.ElementTree as ET
from urllib.parse import unquote

from nc_files import tree_size
from wsgidav import util, xml_tools

DAV = "{DAV:}"
OC = "{http://owncloud.org/ns}"
FOLDER_MIME = "httpd/unix-directory"
MAX_BODY = 1024 * 1024


class BadSearch(Exception):
    """A request SearchDAV refuses with 400 and this text as its body."""


def handle(environ, start_response, provider, uid):
    try:
        query = parse(read_body(environ))
        scope_dir, scope_path, depth = scope_of(query, provider, uid)
        matches = list(walk(scope_dir, scope_path, depth, query["where"]))
    except BadSearch as e:
        body = str(e).encode()
        start_response(
            "400 Bad Request",
            [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
        )
        return [body]
    matches.sort(key=lambda m: m[0])
    if query["limit"] is not None:
        matches = matches[: query["limit"]]
    multistatus = xml_tools.make_multistatus_el()
    for path, _ in matches:
        res = provider.get_resource_inst(path, environ)
        if res is None:
            continue
        props = res.get_properties("named", name_list=query["select"])
        util.add_property_response(multistatus, res.get_href(), props)
    return util.send_multi_status_response(environ, start_response, multistatus)


def read_body(environ):
    """The request body, by its Content-Length or, sent chunked, up to its end."""
    if environ.get("CONTENT_LENGTH", "") != "":
        length = util.get_content_length(environ)
        if length > MAX_BODY:
            raise BadSearch("Search request too large")
        body = environ["wsgi.input"].read(length)
    else:
        body = b""
        while len(body) <= MAX_BODY:
            block = environ["wsgi.input"].read(64 * 1024)
            if not block:
                break
            body += block
        if len(body) > MAX_BODY:
            raise BadSearch("Search request too large")
    environ["wsgidav.all_input_read"] = 1
    return body


def parse(body):
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise BadSearch("Failed to parse xml") from None
    search = root.find(DAV + "basicsearch") if root.tag == DAV + "searchrequest" else None
    if search is None:
        raise BadSearch("Unexpected xml body")
    select = search.find(DAV + "select/" + DAV + "prop")
    scopes = search.findall(DAV + "from/" + DAV + "scope")
    if len(scopes) != 1:
        raise BadSearch("Searching more than one folder is not supported")
    where = search.find(DAV + "where")
    limit = search.findtext(DAV + "limit/" + DAV + "nresults")
    return {
        "select": [p.tag for p in select] if select is not None else [],
        "href": (scopes[0].findtext(DAV + "href") or "").strip(),
        "depth": (scopes[0].findtext(DAV + "depth") or "infinity").strip().lower(),
        "where": where[0] if where is not None and len(where) else None,
        "limit": int(limit) if limit and limit.strip().isdigit() else None,
    }


def scope_of(query, provider, uid):
    """The folder searched: the caller's own, named relative to the arbiter (`/files/alice`)
    or from the server root (`/remote.php/dav/files/alice`)."""
    href = unquote(query["href"])
    for prefix in ("/remote.php/dav/", "remote.php/dav/"):
        if href.startswith(prefix):
            href = href[len(prefix) :]
    parts = [p for p in href.strip("/").split("/") if p]
    if len(parts) < 2 or parts[0] != "files" or parts[1] != uid or ".." in parts:
        raise BadSearch("Invalid search scope")
    directory = os.path.join(provider.home(uid), *parts[2:])
    if not os.path.isdir(directory) or os.path.islink(directory):
        raise BadSearch("Invalid search scope")
    if query["depth"] not in ("0", "1", "infinity"):
        raise BadSearch("Invalid search scope")
    return directory, "/" + "/".join(parts[1:]), query["depth"]


def walk(directory, path, depth, where):
    """Every file and folder below `directory` (not itself) that matches `where`, as
    (resource path, stat)."""
    if depth == "0":
        return
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.is_symlink():
                continue
            entry_path = f"{path}/{entry.name}"
            st = entry.stat(follow_symlinks=False)
            if where is None or matches(where, entry.name, entry.path, st):
                yield entry_path, st
            if entry.is_dir() and depth == "infinity":
                yield from walk(entry.path, entry_path, depth, where)


def matches(op, name, file_path, st):
    tag = op.tag
    if tag == DAV + "and":
        return all(matches(o, name, file_path, st) for o in op)
    if tag == DAV + "or":
        return any(matches(o, name, file_path, st) for o in op)
    if tag == DAV + "not":
        return not all(matches(o, name, file_path, st) for o in op)
    if tag == DAV + "is-collection":
        return os.path.isdir(file_path)
    prop = op.find(DAV + "prop")
    if prop is None or len(prop) != 1:
        raise BadSearch("Invalid search condition")
    literal = (op.findtext(DAV + "literal") or "").strip()
    actual, wanted = values(prop[0].tag, literal, name, file_path, st)
    if tag == DAV + "like":
        pattern = "".join(
            ".*" if c == "%" else "." if c == "_" else re.escape(c) for c in str(wanted)
        )
        return re.fullmatch(pattern, str(actual), re.IGNORECASE | re.DOTALL) is not None
    compare = {
        DAV + "eq": lambda a, b: a == b,
        DAV + "lt": lambda a, b: a < b,
        DAV + "lte": lambda a, b: a <= b,
        DAV + "gt": lambda a, b: a > b,
        DAV + "gte": lambda a, b: a >= b,
    }.get(tag)
    if compare is None:
        raise BadSearch(f"Unsupported operation {tag}")
    return compare(actual, wanted)


def values(prop, literal, name, file_path, st):
    """The property's value on this entry and the literal, as Nextcloud compares them."""
    folder = os.path.isdir(file_path)
    if prop == OC + "fileid":
        return st.st_ino, php_int(literal)
    if prop in (OC + "size", DAV + "getcontentlength"):
        return (tree_size(file_path) if folder else st.st_size), php_int(literal)
    if prop == DAV + "displayname":
        return name, literal
    if prop == DAV + "getcontenttype":
        mime = FOLDER_MIME if folder else util.guess_mime_type(name)
        return mime, literal
    if prop == DAV + "getlastmodified":
        if literal.lstrip("-").isdigit():
            return int(st.st_mtime), php_int(literal)
        return int(st.st_mtime), util.parse_time_string(literal) or 0
    raise BadSearch(f"Unsupported property for search or order: {prop}")


def php_int(text):
    """PHP's `(int)` of a string: its leading integer, else 0."""
    m = re.match(r"\s*[+-]?\d+", text)
    return int(m.group()) if m else 0
