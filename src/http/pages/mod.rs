//! The hosted pages: login, consent, logout.

mod cookie_check;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use secrecy::SecretString;
use serde::Deserialize;

use self::cookie_check::CookieCheck;
use super::client_addr::ClientAddr;
use super::device_cookie;
use super::error::PageError;
use super::flow::{current_login, proceed, proceed_as, redirect_error};
use super::session::BrowserSession;
use super::views::{render, render_status, ConsentPage, LoginPage, ScopeLine, SignedInPage};
use crate::audit::{Event, Kind};
use crate::http::AppState;
use crate::login::{LoginFrom, PasswordLogin};
use crate::oidc::error::ErrorCode;
use crate::oidc::paths;
use crate::oidc::scope::describe;
use crate::telemetry::LoginVia;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(paths::LOGIN_PAGE, get(login_page).post(login))
        .route(paths::CONSENT_PAGE, get(consent_page).post(consent))
}

const BAD_CREDENTIALS: &str = "The email, username or password is not right.";
const BUSY: &str = "Too many people are signing in right now. Try again in a moment.";
const EXPIRED_FORM: &str = "This form has expired. Go back to the application and start again.";
/// What a form found missing from the browser session, for the log line that says so.
const FORM_TOKEN: &str = "csrf_token";
const REQUEST: &str = "authorization_request";
const EXPIRED_REQUEST: &str = "This sign-in request has expired or was already used. Go back to the application and start again.";

#[derive(Deserialize)]
struct RequestRef {
    #[serde(default)]
    req: String,
}

async fn login_page(
    State(state): State<AppState>,
    browser: BrowserSession,
    cookie: CookieCheck,
    Query(q): Query<RequestRef>,
) -> Result<Response, PageError> {
    let csrf_token = browser.csrf_token().await?;
    if q.req.is_empty() {
        if let Some((_, user)) = current_login(&state, &browser).await? {
            return Ok(render(&SignedInPage {
                user_name: user.name,
                user_email: user.email,
                csrf_token,
            }));
        }
        return Ok(render(&LoginPage {
            client_name: None,
            login_hint: String::new(),
            error: None,
            csrf_token,
            request_id: String::new(),
        }));
    }
    let request = browser
        .parked(&q.req)
        .await?
        .ok_or_else(|| cookie.state_missing(REQUEST, PageError::bad_request(EXPIRED_REQUEST)))?;
    Ok(render(&LoginPage {
        client_name: state
            .clients
            .get(&request.client_id)
            .map(|c| c.name.clone()),
        login_hint: request.login_hint.unwrap_or_default(),
        error: None,
        csrf_token,
        request_id: q.req,
    }))
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    req: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
}

async fn login(
    State(state): State<AppState>,
    browser: BrowserSession,
    cookie: CookieCheck,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    if !browser.csrf_matches(&form.csrf_token).await? {
        return Err(cookie.state_missing(FORM_TOKEN, PageError::Forbidden(EXPIRED_FORM.into())));
    }
    let request = match form.req.as_str() {
        "" => None,
        id => Some(browser.parked(id).await?.ok_or_else(|| {
            cookie.state_missing(REQUEST, PageError::bad_request(EXPIRED_REQUEST))
        })?),
    };
    let page = |status: StatusCode, error: String, csrf_token: String| {
        render_status(
            status,
            &LoginPage {
                client_name: request
                    .as_ref()
                    .and_then(|r| state.clients.get(&r.client_id))
                    .map(|c| c.name.clone()),
                login_hint: form.login.clone(),
                error: Some(error),
                csrf_token,
                request_id: form.req.clone(),
            },
        )
    };
    let device = device_cookie::presented(&state, &headers);
    let from = LoginFrom {
        ip,
        device: device.as_ref().map(device_cookie::Device::known),
        via: LoginVia::Page,
    };
    let client = request
        .as_ref()
        .and_then(|r| state.clients.get(&r.client_id));
    let previous = browser.sso_session_id().await?;
    let outcome = state
        .logins
        .with_password(
            &from,
            &form.login,
            &SecretString::from(form.password.clone()),
            client.as_deref(),
            previous.as_deref(),
        )
        .await?;
    let (user, session, credential) = match outcome {
        PasswordLogin::LoggedIn {
            user,
            session,
            credential,
        } => (user, session, credential),
        PasswordLogin::Limited(limited) => {
            let wait = limited.retry_after.as_secs().max(1);
            let mut response = page(
                StatusCode::TOO_MANY_REQUESTS,
                format!("Too many sign-in attempts. Wait {wait} seconds and try again."),
                browser.csrf_token().await?,
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait));
            return Ok(response);
        }
        PasswordLogin::Busy => {
            let mut response = page(
                StatusCode::SERVICE_UNAVAILABLE,
                BUSY.into(),
                browser.csrf_token().await?,
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return Ok(response);
        }
        PasswordLogin::Refused(_) => {
            return Ok(page(
                StatusCode::UNAUTHORIZED,
                BAD_CREDENTIALS.into(),
                browser.csrf_token().await?,
            ));
        }
    };
    browser.log_in(&session.id).await?;
    // This browser now knows the account: other people's failures no longer hold it back.
    let device = device_cookie::issue(&state, &user.id, &credential)?;
    let mut response = match request {
        None => Redirect::to(paths::LOGIN_PAGE).into_response(),
        Some(mut request) => {
            browser.unpark(&form.req).await?;
            // The login asked for has happened: nothing below may ask for it again.
            request.prompt.login = false;
            request.prompt.select_account = false;
            request.max_age = None;
            request.hint_sub = None;
            // The session and the user just made and checked: not read back from the database.
            proceed_as(&state, &browser, request, false, Some((session, user))).await?
        }
    };
    response.headers_mut().append(header::SET_COOKIE, device);
    Ok(response)
}

async fn consent_page(
    State(state): State<AppState>,
    browser: BrowserSession,
    cookie: CookieCheck,
    Query(q): Query<RequestRef>,
) -> Result<Response, PageError> {
    let request = browser
        .parked(&q.req)
        .await?
        .ok_or_else(|| cookie.state_missing(REQUEST, PageError::bad_request(EXPIRED_REQUEST)))?;
    let Some((_, user)) = current_login(&state, &browser).await? else {
        return proceed(&state, &browser, request, false).await;
    };
    let client = state
        .clients
        .get(&request.client_id)
        .ok_or_else(|| PageError::bad_request(EXPIRED_REQUEST))?;
    let scopes = request
        .scope()
        .iter()
        .filter_map(|s| {
            describe(s).map(|d| ScopeLine {
                name: s.to_owned(),
                description: d.to_owned(),
            })
        })
        .collect();
    Ok(render(&ConsentPage {
        client_name: client.name.clone(),
        user_name: user.name,
        user_email: user.email,
        scopes,
        csrf_token: browser.csrf_token().await?,
        request_id: q.req,
    }))
}

#[derive(Deserialize)]
struct ConsentForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    req: String,
    #[serde(default)]
    decision: String,
}

async fn consent(
    State(state): State<AppState>,
    browser: BrowserSession,
    cookie: CookieCheck,
    Form(form): Form<ConsentForm>,
) -> Result<Response, PageError> {
    if !browser.csrf_matches(&form.csrf_token).await? {
        return Err(cookie.state_missing(FORM_TOKEN, PageError::Forbidden(EXPIRED_FORM.into())));
    }
    let request = browser
        .parked(&form.req)
        .await?
        .ok_or_else(|| cookie.state_missing(REQUEST, PageError::bad_request(EXPIRED_REQUEST)))?;
    let Some((_, user)) = current_login(&state, &browser).await? else {
        return proceed(&state, &browser, request, false).await;
    };
    browser.unpark(&form.req).await?;
    match form.decision.as_str() {
        "allow" => {
            state
                .db
                .save_consent(
                    &user.id,
                    &request.client_id,
                    &request.scope,
                    state.clock.now(),
                )
                .await?;
            state.audit.record(
                Event::new(Kind::ConsentGranted, user.id.as_str())
                    .user(user.id.as_str())
                    .company(user.company_id)
                    .client(request.client_id.as_str())
                    .detail("scope", request.scope.as_str()),
            );
            proceed(&state, &browser, request, true).await
        }
        "deny" => Ok(redirect_error(
            &state,
            &request,
            ErrorCode::AccessDenied,
            "the user denied the request",
        )),
        _ => Err(PageError::bad_request("Choose to allow or deny.")),
    }
}
