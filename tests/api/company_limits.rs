//! A client limited to some companies: users of the others get `access_denied`, never a code.

use crate::on_both_backends;
use crate::support::{query, AuthRequest, Backend, TestApp, PASSWORD, SECRET};

on_both_backends!(a_client_limited_to_other_companies_gets_access_denied);

async fn a_client_limited_to_other_companies_gets_access_denied(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let rp = sso.rp("globex-rp", Some(SECRET));
    let browser = sso.browser();
    let request = AuthRequest::new(&rp, &[]);
    let landing = browser.visit(request.url.as_str()).await;
    let q = query(
        &browser
            .submit_login(landing.page(), "alice", PASSWORD)
            .await
            .callback(),
    );
    assert_eq!(q["error"], "access_denied");
    assert!(!q.contains_key("code"));
}
