//! The hosted pages as askama templates (`templates/*.html`), and the one way to send them.
//!
//! Every value reaches the HTML through askama's default escaping; no template uses `|safe`.

use askama::Template;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};

/// One permission on the consent page: the scope as the protocol names it, and in plain words.
pub struct ScopeLine {
    pub name: String,
    pub description: String,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    /// The relying party that sent the user here, if the login belongs to an authorization request.
    pub client_name: Option<String>,
    /// Prefills the login field (OIDC `login_hint`, or what the user typed last time); may be empty.
    pub login_hint: String,
    /// Shown above the form. Keep it generic: it must not say whether the account exists.
    pub error: Option<String>,
    pub csrf_token: String,
    /// The pending authorization request to resume after login; may be empty.
    pub request_id: String,
}

#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentPage {
    pub client_name: String,
    pub user_name: String,
    pub user_email: String,
    pub scopes: Vec<ScopeLine>,
    pub csrf_token: String,
    pub request_id: String,
}

#[derive(Template)]
#[template(path = "logout.html")]
pub struct LogoutConfirmPage {
    pub user_name: Option<String>,
    pub client_name: Option<String>,
    pub csrf_token: String,
    pub client_id: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
}

#[derive(Template)]
#[template(path = "logged_out.html")]
pub struct LoggedOutPage {}

#[derive(Template)]
#[template(path = "signed_in.html")]
pub struct SignedInPage {
    pub user_name: String,
    pub user_email: String,
    pub csrf_token: String,
}

/// A page for failures that cannot go back to the relying party. `message` is shown as is, so it
/// must be written for the user and never carry internal detail.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub title: String,
    pub message: String,
    pub status: u16,
    /// The request's id, for a person to quote to whoever runs the service.
    pub request_id: Option<std::sync::Arc<str>>,
    /// Where to go instead, shown as a link.
    pub link: Option<String>,
}

/// The pages carry credentials and one-time tokens, so no cache may keep them; they load nothing
/// but their inline style and may not be framed (clickjacking on consent). No `form-action`:
/// browsers apply it to the redirects after a submit, and the login and consent forms end in a
/// redirect to the client's registered redirect URI, on another origin.
const PAGE_HEADERS: [(header::HeaderName, &str); 5] = [
    (header::CACHE_CONTROL, "no-store"),
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; \
         frame-ancestors 'none'; base-uri 'none'",
    ),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
];

/// Renders a page with 200 OK.
pub fn render(page: &impl Template) -> Response {
    render_status(StatusCode::OK, page)
}

/// Renders a page with the given status.
pub fn render_status(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, PAGE_HEADERS, Html(html)).into_response(),
        Err(err) => {
            // A bare text answer rather than the error page: that page is a template too and
            // could fail the same way.
            tracing::error!(error = %err, "rendering a hosted page failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                PAGE_HEADERS,
                "internal error",
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = r#""><script>alert(1)</script>"#;
    const HOSTILE_ESCAPED: &str = "&#34;&#62;&#60;script&#62;alert(1)&#60;/script&#62;";

    fn html(page: &impl Template) -> String {
        page.render().expect("page renders")
    }

    fn login_page() -> LoginPage {
        LoginPage {
            client_name: Some("Bheem Docs".into()),
            login_hint: "alice@example.com".into(),
            error: None,
            csrf_token: "csrf-123".into(),
            request_id: "req-456".into(),
        }
    }

    #[test]
    fn login_page_names_the_client_and_carries_the_hidden_fields() {
        let out = html(&login_page());
        assert!(out.contains("Bheem Docs asks you to sign in"));
        assert!(out.contains(r#"<input type="hidden" name="csrf_token" value="csrf-123">"#));
        assert!(out.contains(r#"<input type="hidden" name="req" value="req-456">"#));
        assert!(out.contains(r#"<form method="post" action="/login">"#));
        assert!(out.contains(r#"name="login" value="alice@example.com""#));
        // With the login already known, the cursor starts in the password field.
        assert!(out.contains(r#"autocomplete="current-password" required autofocus>"#));
        assert!(out.contains(r#"<label for="login">"#));
        assert!(out.contains(r#"<label for="password">"#));
        assert!(out.contains("Sign in</button>"));
        assert!(!out.contains("role=\"alert\""));
    }

    #[test]
    fn login_page_escapes_the_login_hint_and_the_error() {
        let page = LoginPage {
            login_hint: HOSTILE.into(),
            error: Some(HOSTILE.into()),
            client_name: Some(HOSTILE.into()),
            ..login_page()
        };
        let out = html(&page);
        assert!(!out.contains("<script>"));
        assert!(out.contains(&format!(r#"value="{HOSTILE_ESCAPED}""#)));
        assert!(out.contains(&format!(r#"role="alert">{HOSTILE_ESCAPED}</p>"#)));
    }

    #[test]
    fn login_page_without_a_client_or_hint_focuses_the_login_field() {
        let page = LoginPage {
            client_name: None,
            login_hint: String::new(),
            ..login_page()
        };
        let out = html(&page);
        assert!(!out.contains("asks you to sign in"));
        assert!(out.contains(r#"name="login" value="" autocomplete="username" autocapitalize="none" spellcheck="false" required autofocus>"#));
    }

    #[test]
    fn consent_page_lists_every_scope_in_plain_words() {
        let page = ConsentPage {
            client_name: "Bheem Docs".into(),
            user_name: "Alice".into(),
            user_email: "alice@example.com".into(),
            scopes: vec![
                ScopeLine {
                    name: "email".into(),
                    description: "See your email address".into(),
                },
                ScopeLine {
                    name: "profile".into(),
                    description: HOSTILE.into(),
                },
            ],
            csrf_token: "csrf-123".into(),
            request_id: "req-456".into(),
        };
        let out = html(&page);
        assert!(out.contains("See your email address"));
        assert!(out.contains(HOSTILE_ESCAPED));
        assert!(!out.contains("<script>"));
        assert!(out.contains(r#"<form method="post" action="/consent">"#));
        assert!(out.contains(r#"name="decision" value="allow""#));
        assert!(out.contains(r#"name="decision" value="deny""#));
        assert!(out.contains(r#"<input type="hidden" name="csrf_token" value="csrf-123">"#));
        assert!(out.contains(r#"<input type="hidden" name="req" value="req-456">"#));
    }

    #[test]
    fn logout_page_passes_on_only_the_parameters_it_was_given() {
        let page = LogoutConfirmPage {
            user_name: Some("Alice".into()),
            client_name: None,
            csrf_token: "csrf-123".into(),
            client_id: Some("bheem-docs".into()),
            post_logout_redirect_uri: Some("https://docs.example.com/bye?a=1&b=2".into()),
            state: None,
        };
        let out = html(&page);
        assert!(out.contains(r#"<form method="post" action="/logout">"#));
        assert!(out.contains(r#"<input type="hidden" name="csrf_token" value="csrf-123">"#));
        assert!(out.contains(r#"<input type="hidden" name="confirm" value="yes">"#));
        assert!(out.contains(r#"<input type="hidden" name="client_id" value="bheem-docs">"#));
        assert!(out.contains(
            r#"name="post_logout_redirect_uri" value="https://docs.example.com/bye?a=1&#38;b=2">"#
        ));
        assert!(!out.contains(r#"name="state""#));
        assert!(out.contains(r#"<a href="/login" class="button secondary">Cancel</a>"#));
        assert!(out.contains("Sign out</button>"));
    }

    #[test]
    fn signed_out_and_signed_in_pages_link_onwards() {
        let out = html(&LoggedOutPage {});
        assert!(out.contains("You have been signed out"));
        assert!(out.contains(r#"<a href="/login">Sign in again</a>"#));

        let out = html(&SignedInPage {
            user_name: "Alice".into(),
            user_email: "alice@example.com".into(),
            csrf_token: "csrf-123".into(),
        });
        assert!(out.contains("You are signed in as Alice (alice"));
        assert!(out.contains(r#"<form method="post" action="/logout">"#));
        assert!(out.contains(r#"<input type="hidden" name="csrf_token" value="csrf-123">"#));
        assert!(out.contains(r#"<input type="hidden" name="confirm" value="yes">"#));
    }

    #[test]
    fn error_page_shows_the_title_as_heading() {
        let out = html(&ErrorPage {
            title: "Unknown application".into(),
            message: HOSTILE.into(),
            status: 400,
            request_id: Some("0f8e2a9b".into()),
            link: None,
        });
        assert!(out.contains("<h1>Unknown application</h1>"));
        assert!(out.contains(HOSTILE_ESCAPED));
        assert!(!out.contains("<script>"));
        assert!(out.contains("Error 400 · request <code>0f8e2a9b</code>"));
    }

    #[test]
    fn every_page_is_a_complete_accessible_document() {
        let out = html(&LoggedOutPage {});
        assert!(out.starts_with("<!DOCTYPE html>"));
        assert!(out.contains(r#"<html lang="en">"#));
        assert!(
            out.contains(r#"<meta name="viewport" content="width=device-width, initial-scale=1">"#)
        );
        assert!(out.contains("<main>"));
        assert!(out.contains("Bheem Workspace"));
        assert!(!out.contains("<script"));
    }

    #[test]
    fn rendered_pages_are_not_cached_framed_or_allowed_to_post_elsewhere() {
        let response = render_status(StatusCode::NOT_FOUND, &LoggedOutPage {});
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let headers = response.headers();
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("default-src 'none'"));
        assert!(
            !csp.contains("form-action"),
            "would block the redirect to the client after login"
        );
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html"));

        assert_eq!(render(&LoggedOutPage {}).status(), StatusCode::OK);
    }
}
