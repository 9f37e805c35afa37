//! PKCE (RFC 7636) and the code's single use.

use bheem_sso::clock::Clock;

use super::helpers::{
    code_for, count, error_at_callback, other_verifier, outcome, refresh_with, signed_in,
    tokens_access, tokens_refresh, RP2_SECRET,
};
use crate::on_both_backends;
use crate::support::{AuthRequest, Backend, TestApp, OTHER_CALLBACK, SECRET};

on_both_backends!(
    wrong_pkce_verifier_is_refused_and_issues_nothing,
    pkce_cannot_be_dropped_or_added_after_the_authorization_request,
    plain_pkce_and_a_public_client_without_pkce_get_no_code,
    refused_code_exchange_leaves_the_code_to_its_client,
    replayed_code_is_refused_and_revokes_what_the_first_use_gave,
    one_code_redeemed_twice_at_once_gives_tokens_once_and_then_revokes_them,
    expired_code_is_refused_and_issues_nothing,
);

async fn wrong_pkce_verifier_is_refused_and_issues_nothing(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let rp = sso.default_rp();
    let (_, code) = code_for(&sso.browser(), &rp, &["offline_access"]).await;
    let refused = sso.exchange(&rp, code, Some(other_verifier())).await;
    assert_eq!(refused.unwrap_err(), "invalid_grant");
    assert_eq!(count(&sso, "access_tokens").await, 0);
    assert_eq!(count(&sso, "refresh_tokens").await, 0);
}

async fn pkce_cannot_be_dropped_or_added_after_the_authorization_request(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let browser = sso.browser();
    // A challenge was sent: a public client's code without the verifier is worthless.
    let public = sso.rp("public-rp", None);
    let (_, code) = code_for(&browser, &public, &[]).await;
    assert_eq!(
        sso.exchange(&public, code, None).await.unwrap_err(),
        "invalid_grant"
    );
    // The same for a confidential client.
    let rp = sso.default_rp();
    let (_, code) = code_for(&browser, &rp, &[]).await;
    assert_eq!(
        sso.exchange(&rp, code, None).await.unwrap_err(),
        "invalid_grant"
    );

    // No challenge was sent: a verifier now is a downgrade attempt (RFC 9700 §4.8.2).
    let request = AuthRequest::build(&rp, &[], false, &[]);
    let code = request.code_from(&browser.visit(request.url.as_str()).await.callback());
    let refused = sso.exchange(&rp, code, Some(other_verifier())).await;
    assert_eq!(refused.unwrap_err(), "invalid_grant");

    assert_eq!(count(&sso, "access_tokens").await, 0);
}

async fn plain_pkce_and_a_public_client_without_pkce_get_no_code(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let (browser, _) = signed_in(&sso).await;
    let rp = sso.default_rp();
    let challenge = other_verifier();
    for method in [Some("plain"), None] {
        let mut extra = vec![("code_challenge", challenge.as_str())];
        extra.extend(method.map(|m| ("code_challenge_method", m)));
        let request = AuthRequest::build(&rp, &[], false, &extra);
        let q = error_at_callback(browser.visit(request.url.as_str()).await);
        assert_eq!(q["error"], "invalid_request", "method {method:?}");
        assert_eq!(q["state"], *request.state.secret());
    }
    let public = sso.rp("public-rp", None);
    let request = AuthRequest::build(&public, &[], false, &[]);
    let q = error_at_callback(browser.visit(request.url.as_str()).await);
    assert_eq!(q["error"], "invalid_request");

    assert_eq!(
        count(&sso, "authorization_codes").await,
        1,
        "only the sign-in's own code"
    );
}

/// A refused exchange is a refused request: it must not use the code up. Otherwise any
/// registered client, or anyone who caught the code without its verifier, can spend a user's
/// code, and the rightful client's exchange then looks like a replay.
async fn refused_code_exchange_leaves_the_code_to_its_client(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let browser = sso.browser();
    let rp = sso.default_rp();
    let rp2 = sso.rp("rp2", Some(RP2_SECRET));
    let mut used_up = Vec::new();

    let (request, code) = code_for(&browser, &rp, &[]).await;
    let refused = sso
        .exchange(&rp2, code.clone(), request.verifier_secret())
        .await;
    assert_eq!(refused.unwrap_err(), "invalid_grant");
    if let Err(e) = sso.exchange(&rp, code, request.verifier_secret()).await {
        used_up.push(format!("presented by another client, then: {e}"));
    }

    let (request, code) = code_for(&browser, &rp, &[]).await;
    let refused = sso
        .exchange(&rp, code.clone(), Some(other_verifier()))
        .await;
    assert_eq!(refused.unwrap_err(), "invalid_grant");
    if let Err(e) = sso.exchange(&rp, code, request.verifier_secret()).await {
        used_up.push(format!("presented with a wrong verifier, then: {e}"));
    }

    let (request, code) = code_for(&browser, &rp, &[]).await;
    let verifier = request.verifier_secret().unwrap();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", OTHER_CALLBACK),
        ("code_verifier", verifier.as_str()),
    ];
    let refused = sso.token_request(&form, Some(("rp", SECRET))).await;
    assert_eq!(outcome(refused).await, Err((400, "invalid_grant".into())));
    if let Err(e) = sso.exchange(&rp, code, Some(verifier)).await {
        used_up.push(format!("presented with another redirect_uri, then: {e}"));
    }

    assert!(
        used_up.is_empty(),
        "a refused exchange used up the code: {used_up:#?}"
    );
}

async fn replayed_code_is_refused_and_revokes_what_the_first_use_gave(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let rp = sso.default_rp();
    let (request, code) = code_for(&sso.browser(), &rp, &["offline_access"]).await;
    let tokens = sso
        .exchange(&rp, code.clone(), request.verifier_secret())
        .await
        .unwrap();
    let access = tokens_access(&tokens);
    let refresh = tokens_refresh(&tokens);
    assert_eq!(sso.userinfo_status(&access).await, 200);

    let replay = sso.exchange(&rp, code, request.verifier_secret()).await;
    assert_eq!(replay.unwrap_err(), "invalid_grant");
    // RFC 6749 §4.1.2: the tokens the code gave are revoked.
    assert_eq!(sso.userinfo_status(&access).await, 401);
    assert_eq!(sso.introspect(&access).await["active"], false);
    assert_eq!(sso.introspect(&refresh).await["active"], false);
    assert_eq!(
        refresh_with(&sso, ("rp", SECRET), &refresh).await,
        Err((400, "invalid_grant".into()))
    );
    assert_eq!(
        count(&sso, "access_tokens").await,
        1,
        "the replay issued nothing"
    );
}

async fn one_code_redeemed_twice_at_once_gives_tokens_once_and_then_revokes_them(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let rp = sso.default_rp();
    let browser = sso.browser();
    // A few rounds, so that the two requests meet at different points of each other.
    for round in 1..=3 {
        let (request, code) = code_for(&browser, &rp, &["offline_access"]).await;
        let (a, b) = tokio::join!(
            sso.exchange(&rp, code.clone(), request.verifier_secret()),
            sso.exchange(&rp, code, request.verifier_secret()),
        );
        let (tokens, refused) = match (a, b) {
            (Ok(tokens), Err(e)) | (Err(e), Ok(tokens)) => (tokens, e),
            (a, b) => panic!("round {round}: exactly one exchange must win: {a:?} / {b:?}"),
        };
        assert_eq!(refused, "invalid_grant");
        // Whichever came second saw a replay: the winner's tokens are revoked as well.
        let access = tokens_access(&tokens);
        assert_eq!(sso.userinfo_status(&access).await, 401, "round {round}");
        assert_eq!(
            sso.introspect(&tokens_refresh(&tokens)).await["active"],
            false
        );
        assert_eq!(
            count(&sso, "access_tokens").await,
            round,
            "the loser left no token behind"
        );
    }
}

async fn expired_code_is_refused_and_issues_nothing(backend: Backend) {
    // A clock that moves only when the test moves it.
    let clock = Clock::manual(Clock::System.now());
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .clock(clock)
        .start_sso()
        .await
    else {
        return;
    };
    let rp = sso.default_rp();
    let browser = sso.browser();
    let (request, code) = code_for(&browser, &rp, &[]).await;
    sso.h.app.state.clock.advance(61);
    let refused = sso.exchange(&rp, code, request.verifier_secret()).await;
    assert_eq!(refused.unwrap_err(), "invalid_grant");
    assert_eq!(count(&sso, "access_tokens").await, 0);

    // Within its 60 seconds a code works: the refusal above is the clock, nothing else.
    let (request, code) = code_for(&browser, &rp, &[]).await;
    sso.h.app.state.clock.advance(59);
    sso.exchange(&rp, code, request.verifier_secret())
        .await
        .unwrap();
}
