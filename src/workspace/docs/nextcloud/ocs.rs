//! Nextcloud's sharing API (`apps/files_sharing`, OCS v2), as the user: shares with another
//! user (`shareType` 0) and public links (3). Answers come in the OCS envelope
//! `{"ocs": {"meta": {"statuscode", "message"}, "data": …}}`, and with OCS v2 the HTTP status
//! is the status code.

use axum::http::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::{read_limited, NcError, Session};
use crate::workspace::docs::paths::{encode_name, UserPath};

const SHARES: &str = "/ocs/v2.php/apps/files_sharing/api/v1/shares";
/// A user's shares of one path, or all of them: a few hundred at most in practice.
const MAX_OCS_BYTES: usize = 8 * 1024 * 1024;

/// Nextcloud's permission bits (`OCP\Constants::PERMISSION_*`).
const READ: u32 = 1;
const UPDATE: u32 = 2;
const CREATE: u32 = 4;
const DELETE: u32 = 8;

/// Who a share is for.
pub enum ShareTarget<'a> {
    /// Another Nextcloud user (by their uid); `write` lets them change it (a folder: also add
    /// and delete in it).
    User { uid: &'a str, write: bool },
    /// A public link, read-only, ending at the end of `expire_date` (`YYYY-MM-DD`).
    Link {
        expire_date: String,
        password: Option<&'a SecretString>,
    },
}

/// A share as the API shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Share {
    /// Nextcloud's share id.
    pub id: String,
    /// `user` or `link`.
    #[serde(rename = "type")]
    #[schema(example = "link")]
    pub kind: &'static str,
    /// What is shared, from the owner's root.
    pub path: String,
    /// `file` or `folder`.
    pub item_type: String,
    /// `read` or `write`.
    pub permissions: &'static str,
    /// The user it is shared with (their Nextcloud user id), for `user` shares.
    pub share_with: Option<String>,
    pub share_with_name: Option<String>,
    /// The public link, for `link` shares.
    pub url: Option<String>,
    pub token: Option<String>,
    /// The last day a link works, `YYYY-MM-DD`.
    pub expires: Option<String>,
    /// Whether a link asks for a password.
    pub password_protected: bool,
}

#[derive(Deserialize)]
struct Envelope {
    ocs: Ocs,
}

#[derive(Deserialize)]
struct Ocs {
    meta: Meta,
    #[serde(default)]
    data: Value,
}

#[derive(Deserialize)]
struct Meta {
    #[serde(default)]
    message: Option<String>,
}

impl Session<'_> {
    fn ocs(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.request(method, &format!("{}{path}", self.nc.base))
            .query(&[("format", "json")])
            .header("OCS-APIRequest", "true")
            .header("Accept", "application/json")
            .timeout(self.nc.timeout)
    }

    /// Shares `path` (a `folder` or a file) with `target`.
    pub async fn create_share(
        &self,
        path: &UserPath,
        folder: bool,
        target: ShareTarget<'_>,
    ) -> Result<Share, NcError> {
        let mut form: Vec<(&str, String)> = vec![("path", path.to_string())];
        match target {
            ShareTarget::User { uid, write } => {
                let permissions = match (write, folder) {
                    (false, _) => READ,
                    (true, false) => READ | UPDATE,
                    (true, true) => READ | UPDATE | CREATE | DELETE,
                };
                form.push(("shareType", "0".into()));
                form.push(("shareWith", uid.to_owned()));
                form.push(("permissions", permissions.to_string()));
            }
            ShareTarget::Link {
                expire_date,
                password,
            } => {
                form.push(("shareType", "3".into()));
                form.push(("permissions", READ.to_string()));
                form.push(("expireDate", expire_date));
                if let Some(password) = password {
                    form.push(("password", password.expose_secret().to_owned()));
                }
            }
        }
        let data = self
            .send(self.ocs(Method::POST, SHARES).form(&form))
            .await?;
        share(&data).ok_or_else(|| NcError::Unusable("a share without its fields".into()))
    }

    /// The user's shares of `path`, or all of them.
    pub async fn shares(&self, path: Option<&UserPath>) -> Result<Vec<Share>, NcError> {
        let mut request = self.ocs(Method::GET, SHARES);
        if let Some(path) = path {
            request = request.query(&[("path", path.to_string())]);
        }
        let data = self.send(request).await?;
        let list = data
            .as_array()
            .ok_or_else(|| NcError::Unusable("shares are not a list".into()))?;
        Ok(list.iter().filter_map(share).collect())
    }

    /// Ends share `id`, which must be the user's.
    pub async fn delete_share(&self, id: &str) -> Result<(), NcError> {
        let path = format!("{SHARES}/{}", encode_name(id));
        self.send(self.ocs(Method::DELETE, &path)).await.map(drop)
    }

    /// The envelope's data on success; its status and message otherwise.
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, NcError> {
        let response = super::counted(request.send().await)?;
        let status = response.status();
        let body = read_limited(response, MAX_OCS_BYTES).await?;
        let envelope: Option<Envelope> = serde_json::from_slice(&body).ok();
        if status.is_success() {
            return envelope
                .map(|e| e.ocs.data)
                .ok_or_else(|| NcError::Unusable("not an OCS envelope".into()));
        }
        let message = envelope
            .and_then(|e| e.ocs.meta.message)
            .unwrap_or_default();
        Err(NcError::Status {
            status: if status == StatusCode::OK {
                StatusCode::BAD_GATEWAY
            } else {
                status
            },
            message,
        })
    }
}

/// One share of Nextcloud's answer; `None` for a kind this API does not manage (group,
/// e-mail, federated shares are listed by Nextcloud too, and left out here).
fn share(v: &Value) -> Option<Share> {
    let kind = match v.get("share_type")?.as_i64()? {
        0 => "user",
        3 => "link",
        _ => return None,
    };
    let text = |key: &str| {
        v.get(key).and_then(|x| match x {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
    };
    let permissions = v.get("permissions").and_then(Value::as_u64).unwrap_or(0);
    Some(Share {
        id: text("id")?,
        kind,
        path: text("path").or_else(|| text("file_target"))?,
        item_type: text("item_type").unwrap_or_else(|| "file".into()),
        permissions: if permissions & u64::from(UPDATE | CREATE | DELETE) != 0 {
            "write"
        } else {
            "read"
        },
        share_with: (kind == "user").then(|| text("share_with")).flatten(),
        share_with_name: (kind == "user")
            .then(|| text("share_with_displayname"))
            .flatten(),
        url: text("url"),
        token: text("token"),
        // "2025-12-10 00:00:00": the day is what matters.
        expires: text("expiration").map(|e| e.chars().take(10).collect()),
        password_protected: kind == "link"
            && (text("password").is_some()
                || v.get("password_protected") == Some(&Value::Bool(true))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nextclouds_share_objects_are_read() {
        let link = json!({"id": "17", "share_type": 3, "permissions": 1, "path": "/Reports/q1.pdf",
            "item_type": "file", "token": "AbCd1234", "url": "https://nc.example.org/s/AbCd1234",
            "expiration": "2025-12-10 00:00:00", "share_with": null, "password": "$2y$10$hash"});
        let link = share(&link).unwrap();
        assert_eq!(link.id, "17");
        assert_eq!(link.kind, "link");
        assert_eq!(link.permissions, "read");
        assert_eq!(link.expires.as_deref(), Some("2025-12-10"));
        assert!(link.password_protected);
        assert_eq!(link.share_with, None);

        let user = json!({"id": 18, "share_type": 0, "permissions": 15, "path": "/Team",
            "item_type": "folder", "share_with": "bob", "share_with_displayname": "Bob B",
            "expiration": null, "token": null});
        let user = share(&user).unwrap();
        assert_eq!(user.id, "18");
        assert_eq!(user.permissions, "write");
        assert_eq!(user.share_with.as_deref(), Some("bob"));
        assert!(!user.password_protected);

        assert!(
            share_of_kind(1).is_none(),
            "group shares are not this API's"
        );
    }

    fn share_of_kind(kind: i64) -> Option<Share> {
        share(&json!({"id": "1", "share_type": kind, "path": "/x"}))
    }
}
