//! The users' files over WebDAV: every request under `/remote.php/dav/` goes, as it came, to
//! the WebDAV server of [`FilesBackend`] (a [`DavServer`](crate::support::DavServer), which
//! is Nextcloud's DAV as far as the files go), and its answer comes back as it was sent. Bodies
//! stream both ways, so a transfer of any size passes without being held here. The fake's
//! fault switch stands in front, so "Nextcloud" can fail or hang here like anywhere else.

use std::path::PathBuf;

use axum::body::{Body, HttpBody as _};
use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;

use super::Nextcloud;

/// Where the files live: the WebDAV server the fake passes requests to, the folder its homes
/// are in (`{root}/{uid}/`), and how a bearer token becomes a user id, as that server does it.
#[derive(Clone, Debug)]
pub struct FilesBackend {
    /// `http://127.0.0.1:PORT` of the WebDAV server.
    pub dav_url: String,
    pub root: PathBuf,
    /// The provider's userinfo endpoint, where the sharing API checks bearer tokens.
    pub userinfo_url: String,
    /// The userinfo claim that is the Nextcloud user id.
    pub uid_claim: String,
}

impl FilesBackend {
    /// `uid`'s home on disk.
    pub fn home(&self, uid: &str) -> PathBuf {
        self.root.join(uid)
    }
}

pub(super) fn router() -> Router<Nextcloud> {
    Router::new()
        .route("/remote.php/dav", any(pass_to_dav))
        .route("/remote.php/dav/", any(pass_to_dav))
        .route("/remote.php/dav/{*rest}", any(pass_to_dav))
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) are the connection's own and go no further; `expect`
/// is answered by whoever reads the body, which here is the fake.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

async fn pass_to_dav(State(nc): State<Nextcloud>, request: Request) -> Response {
    let Some(backend) = nc.files() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "no files backend: call FakeNextcloud::serve_files first",
        )
            .into_response();
    };
    let (parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut headers = forwarded(&parts.headers);
    headers.remove(header::HOST);
    headers.remove(header::EXPECT);
    if let Some(destination) = parts.headers.get("destination") {
        headers.insert("destination", rewrite_origin(destination, &backend.dav_url));
    }
    let mut upstream = nc
        .http
        .request(parts.method, format!("{}{path}", backend.dav_url))
        .headers(headers);
    // A body of known length keeps its Content-Length (passed above): WebDAV servers read
    // PROPFIND and LOCK bodies by it. Anything else is streamed as it arrives.
    if body.size_hint().exact() != Some(0) {
        upstream = upstream.body(reqwest::Body::wrap_stream(body.into_data_stream()));
    }
    match upstream.send().await {
        Ok(answer) => {
            let status = answer.status();
            let headers = forwarded(answer.headers());
            let mut response = Response::new(Body::from_stream(answer.bytes_stream()));
            *response.status_mut() = status;
            *response.headers_mut() = headers;
            response
        }
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            format!("the WebDAV server did not answer: {}", e.without_url()),
        )
            .into_response(),
    }
}

fn forwarded(headers: &HeaderMap) -> HeaderMap {
    let mut kept = headers.clone();
    for name in &HOP_BY_HOP {
        kept.remove(name);
    }
    kept
}

/// The Destination of a MOVE or COPY names this fake; the WebDAV server expects its own origin
/// (a reverse proxy's usual rewrite). A bare path stays as it is.
fn rewrite_origin(destination: &HeaderValue, dav_url: &str) -> HeaderValue {
    let Ok(text) = destination.to_str() else {
        return destination.clone();
    };
    let Some(after_scheme) = text.find("://").map(|i| &text[i + 3..]) else {
        return destination.clone();
    };
    let path = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
    HeaderValue::from_str(&format!("{dav_url}{path}")).unwrap_or_else(|_| destination.clone())
}
