//! user_oidc's provisioning endpoint (`OcsApiController::createUser`) and its back-channel
//! logout endpoint (`LoginController::backChannelLogout`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use super::ocs::{internal_server_error, Ocs, Params, TypeError};
use super::provisioning::normalize_quota;
use super::{NcUser, Nextcloud};

const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// `POST /ocs/v2.php/apps/user_oidc/api/v1/user` with `providerId, userId, displayName, email,
/// quota`: creates the user if missing, then sets whichever of the three attributes is given.
/// Answers `{"user_id": …}` either way.
pub(super) async fn create_user(State(nc): State<Nextcloud>, ocs: Ocs, params: Params) -> Response {
    match create_user_with(&nc, &ocs, &params) {
        Ok(response) => response,
        Err(type_error) => type_error.into_response(),
    }
}

fn create_user_with(nc: &Nextcloud, ocs: &Ocs, params: &Params) -> Result<Response, TypeError> {
    // `int $providerId` and `string $userId` are required; the dispatcher casts the first
    // with settype, so any string passes (as 0 if not a number).
    params.string("providerId")?.ok_or(TypeError)?;
    let user_id = params.string("userId")?.ok_or(TypeError)?;
    let display_name = params.string_or_empty("displayName")?;
    let email = params.string_or_empty("email")?;
    let quota = params.string_or_empty("quota")?;

    let mut state = nc.lock();
    if state.find_user(&user_id).is_none() {
        state
            .users
            .insert(user_id.clone(), NcUser::new(&user_id, "user_oidc"));
    }
    let user = state.find_user(&user_id).unwrap();
    // PHP truthiness: "" and "0" leave the attribute alone.
    let given = |value: &str| !value.is_empty() && value != "0";
    if given(&display_name) {
        user.display_name = display_name;
    }
    if given(&email) {
        user.email = Some(email);
    }
    if given(&quota) {
        // IUser::setQuota throws on a size it cannot read; nothing catches it.
        match normalize_quota(&quota) {
            Some(quota) => user.quota = quota,
            None => return Ok(internal_server_error()),
        }
    }
    Ok(ocs.ok(json!({ "user_id": user.id })))
}

/// `POST /index.php/apps/user_oidc/backchannel-logout/{provider}` with `logout_token`.
///
/// Runs user_oidc's claim checks on the token (without verifying its signature), records it
/// and answers 200 `[]`; a failed check answers 400 with user_oidc's `error` and
/// `error_description`. Unlike user_oidc, an unmatched session is not an error here: the fake
/// keeps no sessions.
pub(super) async fn backchannel_logout(
    State(nc): State<Nextcloud>,
    Path(provider): Path<String>,
    params: Params,
) -> Response {
    let token = match params.string("logout_token") {
        Ok(Some(token)) if !token.is_empty() => token,
        Ok(_) => return logout_error("invalid_request", "The logout_token parameter is missing"),
        Err(type_error) => return type_error.into_response(),
    };
    let client_id = {
        let state = nc.lock();
        if state.oidc_providers.is_empty() {
            None
        } else {
            match state.oidc_providers.get(&provider) {
                Some(client_id) => Some(client_id.clone()),
                None => {
                    return logout_error(
                        "provider not found",
                        "The provider was not found in Nextcloud",
                    )
                }
            }
        }
    };
    let Some(claims) = jwt_claims(&token) else {
        return logout_error("invalid_request", "The logout_token is not a JWT");
    };
    if let Some(client_id) = client_id {
        let audience_matches = match &claims["aud"] {
            Value::String(aud) => *aud == client_id,
            Value::Array(auds) => auds.iter().any(|aud| *aud == client_id.as_str()),
            _ => false,
        };
        if !audience_matches {
            return logout_error(
                "invalid audience",
                "The audience of the logout token does not match the provider",
            );
        }
    }
    if claims["events"][BACKCHANNEL_LOGOUT_EVENT].is_null() {
        return logout_error(
            "invalid event",
            "The backchannel-logout event was not found in the logout token",
        );
    }
    if !claims["nonce"].is_null() {
        return logout_error(
            "invalid nonce",
            "The logout token should not contain a nonce attribute",
        );
    }
    if claims["iss"].is_null() {
        return logout_error(
            "invalid iss",
            "The logout token should contain an iss attribute",
        );
    }
    if claims["sid"].is_null() && claims["sub"].is_null() {
        return logout_error(
            "invalid sid+sub",
            "The logout token should contain sid or sub or both",
        );
    }
    nc.lock().backchannel_tokens.push((provider, token));
    (StatusCode::OK, Json(json!([]))).into_response()
}

/// The payload of a compact JWS, unverified.
fn jwt_claims(token: &str) -> Option<Value> {
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let payload = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    match serde_json::from_slice(&payload).ok()? {
        claims @ Value::Object(_) => Some(claims),
        _ => None,
    }
}

fn logout_error(error: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}
