//! A user disabled in the directory loses everything at once: userinfo, introspection, the
//! refresh grant, a code issued before, and the SSO session.

use crate::on_both_backends;
use crate::support::{query, AuthRequest, Backend, TestApp, PASSWORD};

on_both_backends!(a_disabled_user_loses_userinfo_refresh_a_pending_code_and_sso);

async fn a_disabled_user_loses_userinfo_refresh_a_pending_code_and_sso(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let rp = sso.default_rp();
    let browser = sso.browser();
    let sign_in = sso.sign_in(&browser, &rp, &["offline_access"]).await;
    let state = &sso.h.app.state;
    // Seen once while the user is active, so the token's signature is remembered and the
    // user's row comes from the same look-up as the token's: neither may hide the change.
    assert_eq!(sso.userinfo_status(&sign_in.access_token()).await, 200);
    assert_eq!(
        sso.introspect(&sign_in.access_token()).await["active"],
        true
    );
    // A code issued while the user is active, through the SSO session, redeemed after.
    let pending = AuthRequest::new(&rp, &[]);
    let pending_code = pending.code_from(&browser.visit(pending.url.as_str()).await.callback());
    state
        .db
        .set_user_active(&sso.alice.id.to_string(), false, state.clock.now())
        .await
        .unwrap();
    assert_eq!(sso.userinfo_status(&sign_in.access_token()).await, 401);
    assert_eq!(
        sso.introspect(&sign_in.access_token()).await["active"],
        false
    );
    assert_eq!(
        sso.introspect(&sign_in.refresh_token().unwrap()).await["active"],
        false
    );
    assert!(sso
        .refresh(&rp, &sign_in.refresh_token().unwrap())
        .await
        .is_err());
    assert_eq!(
        sso.exchange(&rp, pending_code, pending.verifier_secret())
            .await
            .unwrap_err(),
        "invalid_grant"
    );
    let request = AuthRequest::build(&rp, &[], true, &[("prompt", "none")]);
    assert_eq!(
        query(&browser.visit(request.url.as_str()).await.callback())["error"],
        "login_required"
    );
    let fresh = AuthRequest::new(&rp, &[]);
    let landing = browser.visit(fresh.url.as_str()).await;
    let again = browser
        .submit_login(landing.page(), "alice", PASSWORD)
        .await;
    assert_eq!(again.status(), 401);
}
