"""The files of a Nextcloud as its WebDAV sees them: each user's home under `{root}/{uid}/`,
published at `/remote.php/dav/files/{uid}/`, with Nextcloud's live properties and its quota.

Confinement follows `apps/dav/lib/Files/RootCollection.php`: the caller's own home is their
folder; another user's home is an empty collection of that name (nothing below it is found,
nothing can be created in it); a name that is nobody's home is not found. Listing the `files/`
collection itself is refused, as Nextcloud does outside debug mode.

File ids are inode numbers: a rename or a move keeps them, a copy makes new ones, and an
overwrite keeps them (the new content is copied into the same inode once it has arrived whole).
"""

import hashlib
import os
import shutil
import stat

from wsgidav import util
from wsgidav.dav_error import (
    HTTP_FORBIDDEN,
    HTTP_INSUFFICIENT_STORAGE,
    HTTP_METHOD_NOT_ALLOWED,
    DAVError,
)
from wsgidav.dav_provider import DAVCollection
from wsgidav.fs_dav_provider import FileResource, FilesystemProvider, FolderResource

OC = "{http://owncloud.org/ns}"
FILE_ID = OC + "fileid"
SIZE = OC + "size"
PERMISSIONS = OC + "permissions"
OC_PROPS = [FILE_ID, SIZE, PERMISSIONS]

#: Nextcloud's permission letters for what an owner may do with their own files and folders.
FILE_PERMISSIONS = "RGDNVW"
FOLDER_PERMISSIONS = "RGDNVCK"

#: `FileInfo::SPACE_UNLIMITED`, which Nextcloud reports as the available bytes without a quota.
SPACE_UNLIMITED = -3

#: How much of an upload is read and written at a time.
BLOCK_SIZE = 256 * 1024


def caller(environ):
    """The Nextcloud user id the request was authenticated as."""
    return environ["wsgidav.auth.user_name"]


def tree_size(path):
    """The bytes of every file below `path` (a file: its own)."""
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        return st.st_size
    total = 0
    with os.scandir(path) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                total += tree_size(entry.path)
            elif entry.is_file(follow_symlinks=False):
                total += entry.stat(follow_symlinks=False).st_size
    return total


def latest_change(path):
    """The latest change (ns) to the folder `path` or anything in it, for its etag."""
    latest = os.lstat(path).st_mtime_ns
    with os.scandir(path) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                latest = max(latest, latest_change(entry.path))
            else:
                latest = max(latest, entry.stat(follow_symlinks=False).st_mtime_ns)
    return latest


def fail(environ, status, message):
    """Raises `status`, with the message Nextcloud would put in the error's `s:message`."""
    environ["nc.error_message"] = message
    raise DAVError(status, message)


class NcProvider(FilesystemProvider):
    """Homes under `root`, one folder per user, with `quota` bytes each (`None`: unlimited)."""

    def __init__(self, root, parts_dir, quota):
        super().__init__(root, readonly=False, fs_opts={"follow_symlinks": False})
        self.parts_dir = parts_dir
        self.quota = quota

    def home(self, uid):
        return os.path.join(self.root_folder_path, uid)

    def used_bytes(self, uid):
        return tree_size(self.home(uid))

    def free_bytes(self, uid):
        """What the user may still store; `None` without a quota."""
        if self.quota is None:
            return None
        return max(0, self.quota - self.used_bytes(uid))

    def own_path(self, path, environ):
        """The file system path of `path` (`/{uid}/…`), which must be in the caller's home."""
        parts = [p for p in path.strip("/").split("/") if p]
        if not parts or parts[0] != caller(environ):
            fail(environ, HTTP_FORBIDDEN, "Access outside your own files is not allowed")
        return self._loc_to_file_path(path, environ)

    def get_resource_inst(self, path, environ):
        self._count_get_resource_inst += 1
        parts = [p for p in path.strip("/").split("/") if p]
        if not parts:
            return FilesRoot("/", environ)
        uid = parts[0]
        if uid != caller(environ):
            if not os.path.isdir(self.home(uid)):
                return None
            if len(parts) == 1:
                return ForeignHome("/" + uid, environ)
            return None
        fp = self._loc_to_file_path(path, environ)
        if not os.path.exists(fp) or os.path.islink(fp):
            return None
        if os.path.isdir(fp):
            return NcFolder(path, environ, fp)
        return NcFile(path, environ, fp)


class OcProps:
    """Nextcloud's live properties, shared by files and folders."""

    def get_property_names(self, *, is_allprop):
        return super().get_property_names(is_allprop=is_allprop) + OC_PROPS

    def get_property_value(self, name):
        if name == FILE_ID:
            return str(self.file_stat.st_ino)
        if name == SIZE:
            return str(self.oc_size())
        if name == PERMISSIONS:
            return FOLDER_PERMISSIONS if self.is_collection else FILE_PERMISSIONS
        if name == "{DAV:}getetag" and self.get_etag() is not None:
            # Nextcloud's getetag carries the quotes, as the ETag header does.
            return f'"{self.get_etag()}"'
        return super().get_property_value(name)

    def get_used_bytes(self):
        return self.oc_size() if self.is_collection else None

    def get_available_bytes(self):
        if not self.is_collection:
            return None
        free = self.provider.free_bytes(caller(self.environ))
        return SPACE_UNLIMITED if free is None else free


class NcFile(OcProps, FileResource):
    def oc_size(self):
        return self.file_stat.st_size

    def get_etag(self):
        # Every write makes a new etag in Nextcloud, even two in the same second.
        st = self.file_stat
        return hashlib.md5(f"{st.st_ino}:{st.st_mtime_ns}:{st.st_size}".encode()).hexdigest()

    def begin_write(self, *, content_type=None):
        return QuotaWriter(self)

    def end_write(self, *, with_errors):
        # A failed upload (quota, dropped connection) leaves what was there before.
        if with_errors and getattr(self, "writer", None) is not None:
            self.writer.discard()

    def copy_move_single(self, dest_path, *, is_move):
        self.provider.own_path(dest_path, self.environ)
        # Nextcloud's QuotaPlugin checks a copy (`beforeCopy`) as it checks an upload: the copy
        # must fit in what is free; a move takes no more room.
        free = self.provider.free_bytes(caller(self.environ))
        if not is_move and free is not None and self.get_content_length() > free:
            fail(
                self.environ,
                HTTP_INSUFFICIENT_STORAGE,
                "Insufficient space in "
                f"{dest_path}, {self.get_content_length()} required, {free} available",
            )
        super().copy_move_single(dest_path, is_move=is_move)

    def move_recursive(self, dest_path):
        self.provider.own_path(dest_path, self.environ)
        super().move_recursive(dest_path)


class NcFolder(OcProps, FolderResource):
    def oc_size(self):
        return tree_size(self._file_path)

    def get_etag(self):
        # Nextcloud's folder etags change whenever anything below them does.
        key = f"{self.file_stat.st_ino}:{latest_change(self._file_path)}:{self.oc_size()}"
        return hashlib.md5(key.encode()).hexdigest()

    def create_empty_resource(self, name):
        self.provider.own_path(util.join_uri(self.path, name), self.environ)
        return super().create_empty_resource(name)

    def create_collection(self, name):
        self.provider.own_path(util.join_uri(self.path, name), self.environ)
        return super().create_collection(name)

    def copy_move_single(self, dest_path, *, is_move):
        self.provider.own_path(dest_path, self.environ)
        super().copy_move_single(dest_path, is_move=is_move)

    def move_recursive(self, dest_path):
        self.provider.own_path(dest_path, self.environ)
        super().move_recursive(dest_path)

    def delete(self):
        if self.path.strip("/") == caller(self.environ):
            fail(self.environ, HTTP_FORBIDDEN, "Permission denied to delete home folder")
        super().delete()


class EmptyCollection(DAVCollection):
    """A collection with nothing in it and nothing to be made in it."""

    def get_display_name(self):
        return self.name

    def get_member_names(self):
        return []

    def get_member(self, name):
        return None

    def create_empty_resource(self, name):
        fail(self.environ, HTTP_FORBIDDEN, f"Permission denied to create file (filename {name})")

    def create_collection(self, name):
        fail(self.environ, HTTP_FORBIDDEN, f"Permission denied to create directory {name}")

    def delete(self):
        fail(self.environ, HTTP_FORBIDDEN, "Permission denied to delete node")

    def copy_move_single(self, dest_path, *, is_move):
        fail(self.environ, HTTP_FORBIDDEN, "Permission denied to copy or move node")

    def support_recursive_move(self, dest_path):
        return True

    def move_recursive(self, dest_path):
        fail(self.environ, HTTP_FORBIDDEN, "Permission denied to rename node")


class ForeignHome(EmptyCollection):
    """Another user's home, as Nextcloud shows it: an empty `SimpleCollection`."""


class FilesRoot(EmptyCollection):
    """`/remote.php/dav/files/`: its members are homes, which it does not list."""

    def get_member_names(self):
        message = "Listing members of this collection is disabled"
        fail(self.environ, HTTP_METHOD_NOT_ALLOWED, message)

    def get_member(self, name):
        return self.provider.get_resource_inst("/" + name, self.environ)


class QuotaWriter:
    """Receives a PUT body. A new file is written in place; an overwrite goes to a part file
    first and is copied into the existing inode once whole, so that its file id stays and a
    failed upload leaves the old content. Past the quota, what was written is removed, the rest
    of the body is read and dropped (as a proxy buffering the request would have received it),
    and the upload ends in 507."""

    def __init__(self, res):
        self.res = res
        self.provider = res.provider
        self.environ = res.environ
        self.target = res._file_path
        self.new_file = self.environ.get("nc.put_creates", False)
        self.free = self.provider.free_bytes(caller(self.environ))
        if self.new_file:
            self.path = self.target
        else:
            os.makedirs(self.provider.parts_dir, exist_ok=True)
            self.path = os.path.join(self.provider.parts_dir, f"{os.getpid()}-{id(self)}.part")
        self.file = open(self.path, "wb")
        self.written = 0
        res.writer = self

    def writelines(self, stream):
        for block in stream:
            self.written += len(block)
            if self.free is not None and self.written > self.free:
                self.discard()
                for _ in stream:
                    pass
                fail(
                    self.environ,
                    HTTP_INSUFFICIENT_STORAGE,
                    f"Insufficient space in files{self.res.path}, {self.free} available",
                )
            self.file.write(block)

    def close(self):
        self.file.close()
        if not self.new_file:
            with open(self.path, "rb") as source, open(self.target, "r+b") as target:
                target.truncate(0)
                shutil.copyfileobj(source, target, BLOCK_SIZE)
            os.unlink(self.path)

    def discard(self):
        if not self.file.closed:
            self.file.close()
        if os.path.exists(self.path):
            os.unlink(self.path)
