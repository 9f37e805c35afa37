//! The files a share points at, read from the homes on disk as the WebDAV server keeps them,
//! and a share as `ShareAPIController::formatShare` writes it.
//!
//! Nextcloud ties a share to the file id, so a share follows its file through renames and moves
//! and goes with it when it is deleted. Here the file id is the inode, as the WebDAV server
//! reports it; the birth time is kept beside it so that a new file given a freed inode is not
//! taken for the shared one.

use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

use serde_json::{json, Value};

use super::shares::NcShare;
use super::NcState;

/// `OCP\Constants::PERMISSION_*`.
pub(super) const READ: i64 = 1;
pub(super) const UPDATE: i64 = 2;
pub(super) const CREATE: i64 = 4;
pub(super) const DELETE: i64 = 8;
pub(super) const SHARE: i64 = 16;
pub(super) const ALL: i64 = 31;

/// A file or folder of a user's home.
#[derive(Clone, Debug)]
pub(super) struct Node {
    /// From the home, with a leading slash: `/Reports/q1.pdf`; the home itself is `/`.
    pub(super) path: String,
    pub(super) file_path: PathBuf,
    pub(super) file_id: u64,
    pub(super) born: Option<SystemTime>,
    pub(super) folder: bool,
}

impl Node {
    fn at(home: &Path, path: String, file_path: PathBuf) -> Option<Self> {
        let meta = std::fs::symlink_metadata(&file_path).ok()?;
        if meta.file_type().is_symlink() || !file_path.starts_with(home) {
            return None;
        }
        Some(Self {
            path,
            file_id: meta.ino(),
            born: meta.created().ok(),
            folder: meta.is_dir(),
            file_path,
        })
    }

    pub(super) fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or_default()
    }

    /// What the owner may do with it: everything, less creating inside a file.
    pub(super) fn permissions(&self) -> i64 {
        if self.folder {
            ALL
        } else {
            ALL & !CREATE
        }
    }

    pub(super) fn mimetype(&self) -> &'static str {
        if self.folder {
            return "httpd/unix-directory";
        }
        let extension = self
            .name()
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase());
        match extension.as_deref() {
            Some("txt") => "text/plain",
            Some("md") => "text/markdown",
            Some("csv") => "text/csv",
            Some("html" | "htm") => "text/html",
            Some("pdf") => "application/pdf",
            Some("json") => "application/json",
            Some("zip") => "application/zip",
            Some("png") => "image/png",
            Some("jpg" | "jpeg") => "image/jpeg",
            Some("gif") => "image/gif",
            Some("odt") => "application/vnd.oasis.opendocument.text",
            Some("ods") => "application/vnd.oasis.opendocument.spreadsheet",
            Some("docx") => {
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            }
            Some("xlsx") => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            _ => "application/octet-stream",
        }
    }
}

/// What `$userFolder->get($path)` finds in `home`: `None` when nothing is there, or when the
/// path climbs out (`..`).
pub(super) fn node_at(home: &Path, path: &str) -> Option<Node> {
    let relative = Path::new(path.trim_start_matches('/'));
    if relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return None;
    }
    let clean: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let path = format!("/{}", clean.join("/"));
    Node::at(home, path, home.join(relative))
}

/// The node of file id `file_id` (born at `born`) in `home`, wherever it is now.
pub(super) fn node_by_id(home: &Path, file_id: u64, born: Option<SystemTime>) -> Option<Node> {
    let mut pending = vec![(home.to_path_buf(), String::new())];
    while let Some((dir, path)) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(node) = Node::at(home, format!("{path}/{name}"), entry.path()) else {
                continue;
            };
            if node.file_id == file_id && node.born == born {
                return Some(node);
            }
            if node.folder {
                pending.push((node.file_path, node.path));
            }
        }
    }
    None
}

/// Bytes of a file, or of everything in a folder.
fn size_of(file_path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(file_path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(file_path)
        .map(|entries| entries.flatten().map(|e| size_of(&e.path())).sum())
        .unwrap_or(0)
}

/// A numeric storage id per home, as `oc_storages` would give one.
fn storage_number(uid: &str) -> u64 {
    uid.bytes()
        .fold(1u64, |n, b| n.wrapping_mul(31).wrapping_add(u64::from(b)))
        % 100_000
}

/// `formatShare`, for the share's owner or its recipient. `node` is the shared file as the
/// viewer sees it: in the owner's home for the owner; the recipient sees it at its target.
pub(super) fn format_share(
    state: &NcState,
    share: &NcShare,
    node: &Node,
    viewer: &str,
    host: &str,
) -> Value {
    let display_name = |uid: &str| {
        state
            .users
            .get(uid)
            .map_or_else(|| uid.to_owned(), |u| u.display_name.clone())
    };
    let own = share.owner == viewer;
    let path = if own {
        node.path.clone()
    } else {
        share.file_target.clone()
    };
    let parent = node
        .file_path
        .parent()
        .and_then(|p| std::fs::metadata(p).ok());
    let meta = std::fs::metadata(&node.file_path).ok();
    let mut result = json!({
        "id": share.id.to_string(),
        "share_type": share.share_type,
        "uid_owner": share.owner,
        "displayname_owner": display_name(&share.owner),
        "permissions": share.permissions,
        "can_edit": own,
        "can_delete": true,
        "stime": share.stime,
        "parent": null,
        "expiration": share.expiration.as_ref().map(|day| format!("{day} 00:00:00")),
        "token": null,
        "uid_file_owner": share.owner,
        "note": "",
        "label": "",
        "displayname_file_owner": display_name(&share.owner),
        "path": path,
        "item_type": if node.folder { "folder" } else { "file" },
        "item_permissions": if own { node.permissions() } else { share.permissions },
        "is-mount-root": false,
        "mount-type": "",
        "mimetype": node.mimetype(),
        "has_preview": false,
        "storage_id": format!("home::{}", share.owner),
        "storage": storage_number(&share.owner),
        "item_source": node.file_id,
        "file_source": node.file_id,
        "file_parent": parent.map_or(0, |m| m.ino()),
        "file_target": share.file_target,
        "item_size": size_of(&node.file_path),
        "item_mtime": meta.map_or(0, |m| m.mtime()),
        "mail_send": 0,
        "hide_download": 0,
        "attributes": null,
    });
    let fields = result.as_object_mut().unwrap();
    match share.share_type {
        super::shares::TYPE_USER => {
            let with = share.share_with.clone().unwrap_or_default();
            let unique = state
                .users
                .get(&with)
                .and_then(|u| u.email.clone())
                .unwrap_or_else(|| with.clone());
            fields.insert("share_with_displayname".into(), display_name(&with).into());
            fields.insert("share_with_displayname_unique".into(), unique.into());
            fields.insert("share_with".into(), with.into());
        }
        _ => {
            // Link shares: `share_with` and `password` carry the password's hash, or null.
            let token = share.token.clone().unwrap_or_default();
            fields.insert("share_with".into(), share.password_hash.clone().into());
            fields.insert("share_with_displayname".into(), "(Shared link)".into());
            fields.insert("password".into(), share.password_hash.clone().into());
            fields.insert("send_password_by_talk".into(), false.into());
            fields.insert("url".into(), format!("http://{host}/s/{token}").into());
            fields.insert("token".into(), token.into());
        }
    }
    result
}
