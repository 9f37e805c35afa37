//! Each endpoint takes only the kind of token meant for it: the workspace API only the
//! workspace's access tokens, `id_token_hint` only ID tokens.

use bheem_sso::provisioning::backchannel::logout_token;
use bheem_sso::store::outbox::BackchannelLogout;
use serde_json::Value;
use url::Url;

use super::helpers::{authorize_url, error_at_callback, error_page, signed_in};
use crate::on_both_backends;
use crate::support::{
    jwt_payload, query, AuthRequest, Backend, Sso, TestApp, LOGOUT_RETURN, PASSWORD,
};

on_both_backends!(
    the_workspace_api_refuses_a_relying_partys_access_token,
    a_logout_token_or_access_token_is_no_id_token_hint_at_authorize_or_logout,
);

async fn the_workspace_api_refuses_a_relying_partys_access_token(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let (_, sign_in) = signed_in(&sso).await;
    let http = reqwest::Client::new();
    let me = |token: String| {
        http.get(sso.url("/api/v1/auth/me"))
            .bearer_auth(token)
            .send()
    };
    let refused = me(sign_in.access_token()).await.unwrap();
    assert_eq!(refused.status(), 401);
    let challenge = refused.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token");
    // The relying party's token still works where it belongs.
    assert_eq!(sso.userinfo_status(&sign_in.access_token()).await, 200);

    let login: Value = http
        .post(sso.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let workspace_token = login["access_token"].as_str().unwrap().to_owned();
    let me_response = me(workspace_token).await.unwrap();
    assert_eq!(me_response.status(), 200);
    let me_body: Value = me_response.json().await.unwrap();
    assert_eq!(me_body["id"], sso.alice.id.to_string());
}

/// A logout token for the browser's own session, as the back-channel would send it to `rp`.
fn logout_token_for(sso: &Sso, id_token: &str) -> String {
    let claims = jwt_payload(id_token);
    logout_token(
        &sso.h.app.state.provisioning,
        &BackchannelLogout {
            client_id: "rp".into(),
            uri: "https://rp.example/backchannel".into(),
            sid: claims["sid"].as_str().unwrap().to_owned(),
            sub: claims["sub"].as_str().unwrap().to_owned(),
        },
    )
    .unwrap()
}

async fn a_logout_token_or_access_token_is_no_id_token_hint_at_authorize_or_logout(
    backend: Backend,
) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let (browser, sign_in) = signed_in(&sso).await;
    let logout_token = logout_token_for(&sso, &sign_in.id_token());
    let access_token = sign_in.access_token();

    for (kind, hint) in [
        ("logout token", &logout_token),
        ("access token", &access_token),
    ] {
        // At authorize the client is known, so the refusal goes back to it.
        let url = authorize_url(
            &sso,
            &[
                ("client_id", "rp"),
                ("state", "s"),
                ("prompt", "none"),
                ("id_token_hint", hint),
            ],
        );
        let q = error_at_callback(browser.visit(&url).await);
        assert_eq!(q["error"], "invalid_request", "{kind}");
        assert_eq!(q["state"], "s", "{kind}");

        // At logout it would end the session without asking and send the browser on.
        let mut url = Url::parse(&sso.url("/api/v1/sso/logout")).unwrap();
        url.query_pairs_mut()
            .append_pair("id_token_hint", hint)
            .append_pair("post_logout_redirect_uri", LOGOUT_RETURN);
        let response = browser.http.get(url.as_str()).send().await.unwrap();
        let page = error_page(response, 400).await;
        assert!(page.contains("not issued here"), "{kind}: {page}");
    }

    // Nothing was ended: the session still signs in silently and its tokens still work.
    let request = AuthRequest::build(&sso.default_rp(), &[], true, &[("prompt", "none")]);
    let callback = browser.visit(request.url.as_str()).await.callback();
    assert!(query(&callback).contains_key("code"), "{callback}");
    assert_eq!(sso.userinfo_status(&access_token).await, 200);
    // The real ID token is still taken as a hint.
    let url = authorize_url(
        &sso,
        &[
            ("client_id", "rp"),
            ("state", "s"),
            ("prompt", "none"),
            ("id_token_hint", &sign_in.id_token()),
        ],
    );
    let callback = browser.visit(&url).await.callback();
    assert!(query(&callback).contains_key("code"), "{callback}");
}
