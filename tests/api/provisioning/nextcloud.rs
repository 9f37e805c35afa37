//! Nextcloud: back-channel logout to user_oidc, groups per company (never Nextcloud's own admin
//! group unless configured), and accounts that are not the hub's left alone.

use serde_json::Value;

use super::{
    add_user_with_role, api_login, claims_of, ended_job, eventually, is_nextcloud_admin_group,
    set_role, Downstream,
};
use crate::on_both_backends;
use crate::support::{jwt_payload, AuthRequest, Backend, ClientSpec, TestApp, ACME, GLOBEX};

on_both_backends!(
    logout_reaches_nextclouds_back_channel_endpoint_with_a_token_it_accepts,
    a_companys_admins_get_a_company_group_and_never_nextclouds_admin_group,
    instance_admin_roles_make_only_the_listed_companys_role_nextcloud_admins,
    a_nextcloud_account_of_another_company_is_neither_taken_nor_disabled,
);

async fn logout_reaches_nextclouds_back_channel_endpoint_with_a_token_it_accepts(backend: Backend) {
    let down = Downstream::start().await;
    let docs = ClientSpec::new("bheem-docs")
        .secret("docs-secret-0123456789")
        .redirect_uri("https://rp.example/callback")
        .backchannel_logout_uri(format!(
            "{}/index.php/apps/user_oidc/backchannel-logout/bheem",
            down.nc.url()
        ))
        .auth_method("client_secret_post")
        .skip_consent();
    down.nc.add_oidc_provider("bheem", "bheem-docs");
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .config(|c| down.configure(c))
        .client(docs)
        .start_sso()
        .await
    else {
        return;
    };
    let rp = sso
        .rp("bheem-docs", Some("docs-secret-0123456789"))
        .set_auth_type(openidconnect::AuthType::RequestBody);
    let browser = sso.browser();
    let id_token = sso.sign_in(&browser, &rp, &[]).await.id_token();
    // The logout starts at another client of the same session.
    let other = sso.default_rp();
    let request = AuthRequest::new(&other, &[]);
    let callback = browser.visit(request.url.as_str()).await.callback();
    let other_tokens = sso
        .exchange(
            &other,
            request.code_from(&callback),
            request.verifier_secret(),
        )
        .await
        .unwrap();
    let other_hint = {
        use openidconnect::TokenResponse as _;
        other_tokens.id_token().unwrap().to_string()
    };
    let mut logout = url::Url::parse(&sso.url("/api/v1/sso/logout")).unwrap();
    logout
        .query_pairs_mut()
        .append_pair("id_token_hint", &other_hint);
    browser.visit(logout.as_str()).await;
    eventually("Nextcloud got a logout token", || {
        !down.nc.backchannel_tokens().is_empty()
    })
    .await;
    let (provider, token) = down.nc.backchannel_tokens()[0].clone();
    assert_eq!(provider, "bheem");
    let claims: Value = crate::backchannel::accepted_claims(&sso, &token, "bheem-docs").await;
    assert_eq!(claims["sid"], jwt_payload(&id_token)["sid"]);
}

async fn a_companys_admins_get_a_company_group_and_never_nextclouds_admin_group(backend: Backend) {
    let down = Downstream::start().await;
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .config(|c| down.configure(c))
        .start_sso()
        .await
    else {
        return;
    };
    set_role(&sso, sso.alice.id, "admin").await;
    add_user_with_role(&sso, "bob@globex.example", "bob", GLOBEX, "Admin").await;
    assert_eq!(api_login(&sso, "alice").await, 200);
    assert_eq!(api_login(&sso, "bob").await, 200);
    eventually("alice and bob in Nextcloud", || {
        let users = down.nc.users();
        users.contains_key("alice") && users.contains_key("bob")
    })
    .await;
    let alice = down.nc.users()["alice"].groups.clone();
    let bob = down.nc.users()["bob"].groups.clone();
    assert_eq!(
        alice,
        [format!("company-{ACME}"), format!("company-{ACME}-admin")]
    );
    assert!(!bob.iter().any(|g| is_nextcloud_admin_group(g)), "{bob:?}");
    assert!(
        !alice.iter().any(|g| bob.contains(g)),
        "two companies share no group: {alice:?} {bob:?}"
    );
    // user_oidc maps the same groups from the claim.
    let [id, info] = claims_of(&sso, &sso.default_rp(), "alice", &["company"]).await;
    assert_eq!(id["groups"], serde_json::json!(alice));
    assert_eq!(info["groups"], serde_json::json!(alice));
    assert_eq!(info["role"], "admin", "the role claim itself is unchanged");
}

async fn instance_admin_roles_make_only_the_listed_companys_role_nextcloud_admins(
    backend: Backend,
) {
    let down = Downstream::start().await;
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .config(|c| down.configure(c))
        .set(
            &format!("provisioning.nextcloud.instance_admin_roles.{ACME}"),
            vec!["Admin"],
        )
        .start_sso()
        .await
    else {
        return;
    };
    set_role(&sso, sso.alice.id, "admin").await;
    add_user_with_role(&sso, "bob@globex.example", "bob", GLOBEX, "admin").await;
    add_user_with_role(&sso, "carol@acme.example", "carol", ACME, "employee").await;
    for login in ["alice", "bob", "carol"] {
        assert_eq!(api_login(&sso, login).await, 200);
    }
    eventually("all three in Nextcloud", || down.nc_user_count() == 3).await;
    let users = down.nc.users();
    assert!(users["alice"].groups.contains(&"admin".to_owned()));
    assert!(!users["bob"]
        .groups
        .iter()
        .any(|g| is_nextcloud_admin_group(g)));
    assert!(!users["carol"]
        .groups
        .iter()
        .any(|g| is_nextcloud_admin_group(g)));
    let [id, _] = claims_of(&sso, &sso.default_rp(), "alice", &["company"]).await;
    assert_eq!(id["groups"], serde_json::json!(users["alice"].groups));
    let [id, _] = claims_of(&sso, &sso.default_rp(), "bob", &["company"]).await;
    assert!(!id["groups"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| is_nextcloud_admin_group(g.as_str().unwrap())));
}

/// Nextcloud answers "user exists" (102) for a uid that another company's user already has (an
/// ERP need not keep usernames unique across companies) or that someone made by hand: that
/// account is not this user's to be given, nor to be disabled.
async fn a_nextcloud_account_of_another_company_is_neither_taken_nor_disabled(backend: Backend) {
    let down = Downstream::start().await;
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .config(|c| down.configure(c))
        .start_sso()
        .await
    else {
        return;
    };
    let mut globex_john = crate::fakes::nextcloud::NcUser::new("john", "Database");
    globex_john.groups = vec![format!("company-{GLOBEX}")];
    globex_john.email = Some("john@globex.example".into());
    down.nc.put_user(globex_john.clone());
    let mut by_hand = crate::fakes::nextcloud::NcUser::new("mary", "Database");
    by_hand.groups = vec!["staff".into()];
    down.nc.put_user(by_hand.clone());

    let john = add_user_with_role(&sso, "john@acme.com", "john", ACME, "employee").await;
    let mary = add_user_with_role(&sso, "mary@acme.com", "mary", ACME, "employee").await;
    for (user, uid) in [(john, "john"), (mary, "mary")] {
        assert_eq!(api_login(&sso, uid).await, 200);
        let job = ended_job(&sso, &format!("nextcloud:create:{user}")).await;
        assert_eq!(job.state, "failed", "{job:?}");
        let error = job.last_error.unwrap();
        assert!(
            error.contains(&format!(
                "Nextcloud user {uid} exists but is not in group company-{ACME}"
            )),
            "{error}"
        );
    }
    assert_eq!(down.nc.user("john"), Some(globex_john.clone()));
    assert_eq!(down.nc.user("mary"), Some(by_hand.clone()));

    // Disabling ACME's john leaves Globex's john as he was.
    let state = &sso.h.app.state;
    state
        .db
        .set_user_active(&john.to_string(), false, state.clock.now())
        .await
        .unwrap();
    assert_eq!(api_login(&sso, "john").await, 401);
    let job = ended_job(&sso, &format!("nextcloud:disable:{john}")).await;
    assert_eq!(job.state, "done", "{job:?}");
    assert_eq!(down.nc.user("john"), Some(globex_john));
}
