//! Why a sign-in form found no state: its browser session expired or was used up, or the
//! browser never sent the session cookie. The two look the same to the session layer (an empty
//! session), but not to the person: "expired, start again" does not help someone whose browser
//! will drop the cookie again. Whether the cookie came at all is in the request's `Cookie`
//! header; the commonest reason it did not is a page opened over http:// while the issuer is
//! https://, where the cookie is `Secure` and `__Host-` (see [`cookie_name`]).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};

use crate::http::client_addr::forwarded_https;
use crate::http::error::PageError;
use crate::http::session::cookie_name;
use crate::http::AppState;
use crate::oidc::paths;

/// What a request says about the browser's session cookie.
pub(super) struct CookieCheck {
    sent: bool,
    /// The issuer's login page, when the issuer is https and this request came over plain http.
    https_instead: Option<String>,
}

impl FromRequestParts<AppState> for CookieCheck {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let issuer = &state.config.issuer;
        let https_instead = issuer.is_https().then(|| {
            let peer = parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(peer)| peer.ip());
            let over_https = peer.is_some_and(|peer| {
                forwarded_https(
                    peer,
                    &parts.headers,
                    &state.config.trusted_proxies,
                    state.config.forwarded_header,
                )
            });
            (!over_https).then(|| issuer.endpoint(paths::LOGIN_PAGE))
        });
        Ok(Self {
            sent: has_cookie(&parts.headers, cookie_name(issuer.is_https())),
            https_instead: https_instead.flatten(),
        })
    }
}

impl CookieCheck {
    /// The answer when a form's state is not in the browser session: `expired` (what it says
    /// today) when the cookie came back, else why the browser did not send it. `what` names the
    /// state missing in the log line, which says which case this was.
    pub(super) fn state_missing(&self, what: &'static str, expired: PageError) -> PageError {
        if self.sent {
            tracing::info!(
                reason = "expired",
                missing = what,
                "sign-in state not found"
            );
            return expired;
        }
        match &self.https_instead {
            Some(login_page) => {
                tracing::info!(
                    reason = "cookie_not_sent_over_http",
                    missing = what,
                    "sign-in state not found: no session cookie on a plain http request to an https issuer"
                );
                let issuer = login_page
                    .strip_suffix(paths::LOGIN_PAGE)
                    .unwrap_or(login_page);
                PageError::CookieNotSent {
                    message: format!(
                        "Your browser did not send the sign-in cookie because this page was \
                         opened over http:// while the sign-in service is at {issuer}: the \
                         cookie is only ever sent over https. Sign in at the https:// address \
                         below, or go back to the application and start again; if the \
                         application sent you to an http:// address, tell whoever runs it."
                    ),
                    link: Some(login_page.clone()),
                }
            }
            None => {
                tracing::info!(
                    reason = "cookie_not_sent",
                    missing = what,
                    "sign-in state not found: no session cookie on the request"
                );
                PageError::CookieNotSent {
                    message: "Your browser did not send the sign-in cookie this service set, so \
                              the sign-in cannot go on. Cookies may be blocked for this site, or \
                              were cleared during the sign-in. Allow cookies for this site, then \
                              go back to the application and start again."
                        .into(),
                    link: None,
                }
            }
        }
    }
}

/// Whether `headers` carry a cookie called `name` (RFC 6265 §5.4: `name=value` pairs split by
/// `; `, possibly over several `Cookie` lines).
fn has_cookie(headers: &HeaderMap, name: &str) -> bool {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .any(|pair| pair.split_once('=').is_some_and(|(n, _)| n.trim() == name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others_and_only_by_its_whole_name() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            "theme=dark; __Host-bheem_device=abc".parse().unwrap(),
        );
        assert!(!has_cookie(&headers, "__Host-bheem_sso"));
        assert!(!has_cookie(&headers, "bheem_device"));
        headers.append(header::COOKIE, "__Host-bheem_sso=xyz".parse().unwrap());
        assert!(has_cookie(&headers, "__Host-bheem_sso"));
        assert!(!has_cookie(&HeaderMap::new(), "bheem_sso"));
    }
}
