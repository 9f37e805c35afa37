//! Client authentication at the token endpoint.

use base64::Engine;

use super::helpers::{code_for, code_form, count, header, outcome, tokens_access};
use crate::on_both_backends;
use crate::support::{Backend, TestApp, SECRET};

on_both_backends!(
    wrong_client_secret_is_refused_and_leaves_the_code_redeemable,
    malformed_basic_credentials_are_refused_and_leave_the_code_redeemable,
);

async fn wrong_client_secret_is_refused_and_leaves_the_code_redeemable(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let rp = sso.default_rp();
    let (request, code) = code_for(&sso.browser(), &rp, &[]).await;
    let verifier = request.verifier_secret().unwrap();
    let form = code_form(&code, &verifier);

    let basic = sso.token_request(&form, Some(("rp", "wrong-secret"))).await;
    let challenge = header(&basic, "www-authenticate");
    assert_eq!(outcome(basic).await, Err((401, "invalid_client".into())));
    assert!(
        challenge.as_deref().is_some_and(|c| c.starts_with("Basic")),
        "a failed Basic authentication names its scheme (RFC 6749 §5.2): {challenge:?}"
    );

    let mut post = form.clone();
    post.extend([("client_id", "rp"), ("client_secret", "wrong-secret")]);
    assert_eq!(
        outcome(sso.token_request(&post, None).await).await,
        Err((401, "invalid_client".into()))
    );

    let unknown = sso.token_request(&form, Some(("nobody", SECRET))).await;
    assert_eq!(outcome(unknown).await, Err((401, "invalid_client".into())));
    assert_eq!(count(&sso, "access_tokens").await, 0);

    // The code is burnt only after the client has proved who it is.
    let tokens = sso.exchange(&rp, code, Some(verifier)).await.unwrap();
    assert_eq!(sso.userinfo_status(&tokens_access(&tokens)).await, 200);
}

async fn malformed_basic_credentials_are_refused_and_leave_the_code_redeemable(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let rp = sso.default_rp();
    let (request, code) = code_for(&sso.browser(), &rp, &[]).await;
    let verifier = request.verifier_secret().unwrap();
    let form = code_form(&code, &verifier);
    let no_colon = format!("Basic {}", base64_std("rp-without-a-secret"));
    // The bare scheme is a Basic attempt too, even with nothing after it.
    for authorization in ["Basic !!!not-base64!!!", no_colon.as_str(), "Basic"] {
        let response = reqwest::Client::new()
            .post(sso.url("/api/v1/sso/token"))
            .header("authorization", authorization)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert!(
            header(&response, "www-authenticate").is_some(),
            "RFC 6749 §5.2: a client that tried the Authorization header gets a challenge \
             ({authorization:?})"
        );
        assert_eq!(
            outcome(response).await,
            Err((401, "invalid_client".into())),
            "{authorization}"
        );
    }
    // Two methods at once is ambiguous, so it is refused too.
    let mut both = form.clone();
    both.push(("client_secret", SECRET));
    let response = sso.token_request(&both, Some(("rp", SECRET))).await;
    assert_eq!(outcome(response).await, Err((401, "invalid_client".into())));

    assert_eq!(count(&sso, "access_tokens").await, 0);
    sso.exchange(&rp, code, Some(verifier)).await.unwrap();
}

fn base64_std(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}
