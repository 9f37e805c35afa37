//! The sharing API, `apps/files_sharing/lib/Controller/ShareAPIController.php` with the checks
//! of `lib/private/Share20/Manager.php` (Nextcloud 31), for shares with a user (`shareType` 0)
//! and public links (3), as a user logged in by bearer token (`bearer`):
//!
//! - `POST …/shares` (`path`, `shareType`, `shareWith`, `permissions`, `publicUpload`,
//!   `password`, `expireDate`, form or JSON),
//! - `GET …/shares` (the caller's shares; `?path=` those of one file or folder;
//!   `shared_with_me=true`; `subfiles=true`),
//! - `GET …/shares/{id}` (a list of one), `DELETE …/shares/{id}`,
//!
//! under `/ocs/v1.php` and `/ocs/v2.php`. The instance's sharing settings are Nextcloud's
//! defaults: links allowed, public upload allowed, no enforced password or expiry, federation
//! on (link permissions gain SHARE), the password_policy app's minimum of 10 characters (its
//! common-password list is not checked). Other share types are answered as unknown.

use std::time::SystemTime;

use axum::extract::{Path, State};
use axum::http::header::HOST;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{middleware, Extension, Router};
use rand::seq::SliceRandom;
use serde_json::Value;

use super::bearer::{self, LoggedIn};
use super::ocs::{Ocs, Params, TypeError};
use super::share_nodes::{
    format_share, node_at, node_by_id, Node, ALL, CREATE, DELETE, READ, SHARE, UPDATE,
};
use super::{FilesBackend, NcState, Nextcloud};

pub(super) const TYPE_USER: u8 = 0;
pub(super) const TYPE_LINK: u8 = 3;

/// `ISecureRandom::CHAR_HUMAN_READABLE`, which link tokens are drawn from.
const TOKEN_CHARS: &[u8] = b"abcdefgijkmnopqrstwxyzABCDEFGHJKLMNPQRSTWXYZ23456789";
const TOKEN_LENGTH: usize = 15;
const MIN_PASSWORD_LENGTH: usize = 10;

/// A share as the fake holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NcShare {
    pub id: u64,
    /// 0: with a user; 3: a public link.
    pub share_type: u8,
    pub owner: String,
    /// The shared node's file id (its inode), which it keeps through renames and moves.
    pub file_id: u64,
    born: Option<SystemTime>,
    /// `file` or `folder`.
    pub item_type: String,
    /// The recipient of a user share.
    pub share_with: Option<String>,
    /// `OCP\Constants::PERMISSION_*` bits.
    pub permissions: i64,
    /// When it was made, Unix seconds.
    pub stime: i64,
    /// The last day, `YYYY-MM-DD`.
    pub expiration: Option<String>,
    /// A link's token: the link is `/s/{token}`.
    pub token: Option<String>,
    /// A link's password, hashed as Nextcloud stores it; never the password itself.
    pub password_hash: Option<String>,
    /// Where the recipient finds it: `/{name}`.
    pub file_target: String,
}

pub(super) fn router(nc: Nextcloud) -> Router<Nextcloud> {
    let mut router = Router::new();
    for base in ["/ocs/v1.php", "/ocs/v2.php"] {
        let shares = format!("{base}/apps/files_sharing/api/v1/shares");
        router = router
            .route(&shares, get(list).post(create))
            .route(&format!("{shares}/{{id}}"), get(get_one).delete(delete));
    }
    router.route_layer(middleware::from_fn_with_state(
        nc,
        bearer::require_user_ocs_request,
    ))
}

/// `POST …/shares`.
async fn create(
    State(nc): State<Nextcloud>,
    Extension(LoggedIn(uid)): Extension<LoggedIn>,
    ocs: Ocs,
    headers: HeaderMap,
    params: Params,
) -> Response {
    let host = host_of(&headers);
    create_with(&nc, &uid, &ocs, &host, &params).unwrap_or_else(IntoResponse::into_response)
}

fn create_with(
    nc: &Nextcloud,
    uid: &str,
    ocs: &Ocs,
    host: &str,
    params: &Params,
) -> Result<Response, TypeError> {
    let path = params.string("path")?;
    let requested = params.string("permissions")?.map(|p| php_int(&p));
    let share_type = params.string("shareType")?.map_or(-1, |t| php_int(&t));
    let share_with = params.string("shareWith")?;
    let public_upload = match params.string("publicUpload")?.as_deref() {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    };
    let password = params.string_or_empty("password")?;
    let expire_date = params.string("expireDate")?;
    let Some(home) = nc.files().map(|b| b.home(uid)) else {
        return Ok(ocs.fail(404, "Wrong path, file/folder does not exist"));
    };

    let Some(path) = path else {
        return Ok(ocs.fail(404, "Please specify a file or folder path"));
    };
    let Some(node) = node_at(&home, &path) else {
        return Ok(ocs.fail(404, "Wrong path, file/folder does not exist"));
    };
    let mut permissions = if share_type == i64::from(TYPE_LINK) {
        let permissions = link_permissions(requested, public_upload);
        if let Err((code, message)) = check_link_permissions(&node, permissions, public_upload) {
            return Ok(ocs.fail(code, message));
        }
        permissions
    } else {
        requested.unwrap_or(ALL) | READ
    };
    if !node.folder {
        permissions &= !(DELETE | CREATE);
    }
    let expiration = match expire_date.as_deref().map(|d| d.trim_matches('"')) {
        None | Some("") => None,
        Some(text) => match parse_day(text) {
            Some(day) => Some(day),
            None => return Ok(ocs.fail(404, "Invalid date. Format must be YYYY-MM-DD")),
        },
    };

    let mut state = nc.lock();
    let recipient = match share_type {
        0 => match share_with.as_deref().and_then(|w| state.find_user(w)) {
            Some(_) => share_with.clone(),
            None => return Ok(ocs.fail(404, "Please specify a valid account to share with")),
        },
        3 => None,
        _ => return Ok(ocs.fail(400, "Unknown share type")),
    };

    // Manager::generalCreateChecks: an InvalidArgumentException is a 403 with its message.
    if recipient.as_deref() == Some(uid) {
        return Ok(ocs.fail(403, "Cannot share with yourself"));
    }
    if node.path == "/" {
        return Ok(ocs.fail(403, "You cannot share your root folder"));
    }
    if !(0..=ALL).contains(&permissions) {
        return Ok(ocs.fail(403, "Valid permissions are required for sharing"));
    }
    if let Some(with) = &recipient {
        // userCreateChecks: the same share again answers with the one there is.
        let existing = state.shares.iter().find(|s| {
            s.share_type == TYPE_USER
                && s.file_id == node.file_id
                && s.born == node.born
                && s.share_with.as_deref() == Some(with)
        });
        if let Some(existing) = existing {
            let data = format_share(&state, existing, &node, uid, host);
            return Ok(ocs.ok(data));
        }
    }
    if let Some(day) = &expiration {
        if day.as_str() <= today().as_str() {
            return Ok(ocs.fail(404, "Expiration date is in the past"));
        }
    }
    let password_hash = if share_type == i64::from(TYPE_LINK) && !password.is_empty() {
        if password.len() < MIN_PASSWORD_LENGTH {
            let message =
                format!("Password needs to be at least {MIN_PASSWORD_LENGTH} characters long.");
            return Ok(ocs.fail(400, &message));
        }
        Some(hash_password(&password))
    } else {
        None
    };

    state.last_share_id += 1;
    let share = NcShare {
        id: state.last_share_id,
        share_type: if recipient.is_some() {
            TYPE_USER
        } else {
            TYPE_LINK
        },
        owner: uid.to_owned(),
        file_id: node.file_id,
        born: node.born,
        item_type: if node.folder { "folder" } else { "file" }.to_owned(),
        share_with: recipient,
        permissions,
        stime: now(),
        expiration,
        token: (share_type == i64::from(TYPE_LINK)).then(new_token),
        password_hash,
        file_target: format!("/{}", node.name()),
    };
    let data = format_share(&state, &share, &node, uid, host);
    state.shares.push(share);
    Ok(ocs.ok(data))
}

/// `getLinkSharePermissions`: read by default, the legacy `publicUpload` wins, and federation
/// on public shares adds SHARE to a readable link.
fn link_permissions(requested: Option<i64>, public_upload: Option<bool>) -> i64 {
    let mut permissions = requested.unwrap_or(READ);
    if let Some(upload) = public_upload {
        permissions = if upload {
            READ | CREATE | UPDATE | DELETE
        } else {
            READ
        };
    }
    if has(permissions, READ) {
        permissions |= SHARE;
    }
    permissions
}

/// `validateLinkSharePermissions`.
fn check_link_permissions(
    node: &Node,
    permissions: i64,
    public_upload: Option<bool>,
) -> Result<(), (u16, &'static str)> {
    if public_upload == Some(true) && !node.folder {
        return Err((
            400,
            "Public upload is only possible for publicly shared folders",
        ));
    }
    if !has(permissions, READ) && !has(permissions, CREATE) {
        return Err((400, "Share must at least have READ or CREATE permissions"));
    }
    if !has(permissions, READ) && (has(permissions, UPDATE) || has(permissions, DELETE)) {
        return Err((
            400,
            "Share must have READ permission if UPDATE or DELETE permission is set",
        ));
    }
    Ok(())
}

fn has(set: i64, wanted: i64) -> bool {
    set & wanted == wanted
}

/// `GET …/shares`.
async fn list(
    State(nc): State<Nextcloud>,
    Extension(LoggedIn(uid)): Extension<LoggedIn>,
    ocs: Ocs,
    headers: HeaderMap,
    params: Params,
) -> Response {
    let host = host_of(&headers);
    list_with(&nc, &uid, &ocs, &host, &params).unwrap_or_else(IntoResponse::into_response)
}

fn list_with(
    nc: &Nextcloud,
    uid: &str,
    ocs: &Ocs,
    host: &str,
    params: &Params,
) -> Result<Response, TypeError> {
    let path = params.string_or_empty("path")?;
    let shared_with_me = params.string("shared_with_me")?.as_deref() == Some("true");
    let subfiles = params.string("subfiles")?.as_deref() == Some("true");
    let Some(backend) = nc.files() else {
        return Ok(ocs.ok(Value::Array(Vec::new())));
    };
    let node = if path.is_empty() {
        None
    } else {
        match node_at(&backend.home(uid), &path) {
            Some(node) => Some(node),
            None => return Ok(ocs.fail(404, "Wrong path, file/folder does not exist")),
        }
    };
    if subfiles && !node.as_ref().is_some_and(|n| n.folder) {
        return Ok(ocs.fail(400, "Not a directory"));
    }
    let state = nc.lock();
    let mut listed = Vec::new();
    for share in &state.shares {
        let wanted = if shared_with_me {
            share.share_type == TYPE_USER
                && share.share_with.as_deref() == Some(uid)
                && share.owner != uid
        } else {
            share.owner == uid
        };
        if !wanted {
            continue;
        }
        // A share whose file is gone is left out, as Nextcloud skips what it cannot resolve.
        let Some(shared) = node_by_id(&backend.home(&share.owner), share.file_id, share.born)
        else {
            continue;
        };
        let in_scope = match (&node, subfiles) {
            (None, _) => true,
            (Some(folder), true) => parent_path(&shared.path) == folder.path,
            (Some(node), false) => node.file_id == shared.file_id,
        };
        if in_scope {
            listed.push(format_share(&state, share, &shared, uid, host));
        }
    }
    Ok(ocs.ok(Value::Array(listed)))
}

/// `GET …/shares/{id}`.
async fn get_one(
    State(nc): State<Nextcloud>,
    Extension(LoggedIn(uid)): Extension<LoggedIn>,
    Path(id): Path<String>,
    ocs: Ocs,
    headers: HeaderMap,
) -> Response {
    let backend = nc.files();
    let state = nc.lock();
    match accessible(backend.as_ref(), &state, &id, &uid) {
        Some((share, Some(node))) => {
            let data = format_share(&state, share, &node, &uid, &host_of(&headers));
            ocs.ok(Value::Array(vec![data]))
        }
        _ => ocs.fail(404, "Wrong share ID, share does not exist"),
    }
}

/// `DELETE …/shares/{id}`: its owner or, for a user share, its recipient ends it.
async fn delete(
    State(nc): State<Nextcloud>,
    Extension(LoggedIn(uid)): Extension<LoggedIn>,
    Path(id): Path<String>,
    ocs: Ocs,
) -> Response {
    let backend = nc.files();
    let mut state = nc.lock();
    let Some(found) = accessible(backend.as_ref(), &state, &id, &uid).map(|(share, _)| share.id)
    else {
        return ocs.fail(404, "Wrong share ID, share does not exist");
    };
    state.shares.retain(|share| share.id != found);
    ocs.ok(Value::Array(Vec::new()))
}

/// Share `id` when `uid` may see it (`canAccessShare`: its owner, or the user it is shared
/// with), with its node if that still exists.
fn accessible<'s>(
    backend: Option<&FilesBackend>,
    state: &'s NcState,
    id: &str,
    uid: &str,
) -> Option<(&'s NcShare, Option<Node>)> {
    let id: u64 = id.parse().ok()?;
    let share = state.shares.iter().find(|s| s.id == id)?;
    let allowed = share.owner == uid
        || (share.share_type == TYPE_USER && share.share_with.as_deref() == Some(uid));
    if !allowed {
        return None;
    }
    let home = backend?.home(&share.owner);
    Some((share, node_by_id(&home, share.file_id, share.born)))
}

fn parent_path(path: &str) -> String {
    match path.rsplit_once('/') {
        Some(("", _)) | None => "/".to_owned(),
        Some((parent, _)) => parent.to_owned(),
    }
}

fn host_of(headers: &HeaderMap) -> String {
    headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_owned()
}

/// PHP's `(int)` of a request string: its leading integer, else 0.
fn php_int(text: &str) -> i64 {
    let text = text.trim_start();
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text.strip_prefix('+').unwrap_or(text)),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse::<i64>().map_or(0, |n| sign * n)
}

/// The day of `YYYY-MM-DD`, alone or followed by a time; `None` for anything else.
fn parse_day(text: &str) -> Option<String> {
    let day = text.get(..10)?;
    let rest = &text[10..];
    if !(rest.is_empty() || rest.starts_with(' ') || rest.starts_with('T')) {
        return None;
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(day, &format).ok()?;
    Some(day.to_owned())
}

fn today() -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::OffsetDateTime::now_utc()
        .date()
        .format(&format)
        .unwrap()
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn new_token() -> String {
    let mut rng = rand::thread_rng();
    (0..TOKEN_LENGTH)
        .map(|_| char::from(*TOKEN_CHARS.choose(&mut rng).unwrap()))
        .collect()
}

/// Nextcloud's hasher format: version 3 (argon2id) and the PHC string.
fn hash_password(password: &str) -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::generate(&mut rand::thread_rng());
    let hash = argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .unwrap();
    format!("3|{hash}")
}
