//! Mailcow: one mailbox per user, refused where another company's user or a person by hand has
//! it, made at the first login through Mailcow, and given to the Mailcow client as `email`.

use super::{
    add_user_with_role, api_login, claims_of, ended_job, mail_client, mail_rp, Downstream,
};
use crate::on_both_backends;
use crate::support::{Backend, TestApp, ACME, GLOBEX};

on_both_backends!(
    the_same_local_part_in_two_companies_on_one_domain_is_refused_and_the_first_untouched,
    a_mailbox_nobody_recorded_costs_the_mailcow_client_no_calls_to_mailcow,
    a_first_login_through_mailcow_gets_its_mailbox_as_email_before_the_outbox_runs,
    with_a_domain_per_company_each_gets_their_own_mailbox_and_mailcow_gets_its_address,
    a_mailbox_not_made_by_the_hub_is_refused,
    a_retried_job_whose_earlier_attempt_made_the_mailbox_is_done,
);

async fn the_same_local_part_in_two_companies_on_one_domain_is_refused_and_the_first_untouched(
    backend: Backend,
) {
    let down = Downstream::start().await;
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .config(|c| down.configure(c))
        .client(mail_client())
        .start_sso()
        .await
    else {
        return;
    };
    let first = add_user_with_role(&sso, "john@acme.com", "john1", ACME, "employee").await;
    let second = add_user_with_role(&sso, "john@other.com", "john2", GLOBEX, "employee").await;
    assert_eq!(api_login(&sso, "john1").await, 200);
    let job = ended_job(&sso, &format!("mailcow:create:{first}")).await;
    assert_eq!(job.state, "done", "{job:?}");
    let before = down
        .mc
        .mailbox("john@acme.example")
        .expect("john1's mailbox");
    assert_eq!(down.mc.add_calls(), 1);

    assert_eq!(api_login(&sso, "john2").await, 200);
    let job = ended_job(&sso, &format!("mailcow:create:{second}")).await;
    assert_eq!(job.state, "failed", "{job:?}");
    let error = job.last_error.unwrap();
    assert!(
        error.contains("john@acme.example") && error.contains("belongs to"),
        "{error}"
    );
    assert_eq!(down.mc.add_calls(), 1, "refused before asking Mailcow");
    assert_eq!(down.mc.mailbox("john@acme.example"), Some(before.clone()));
    // Mailcow would open the mailbox named by `email`: john2 gets none.
    let [id, info] = claims_of(&sso, &mail_rp(&sso), "john2", &["email"]).await;
    assert!(
        id.get("email").is_none() && info.get("email").is_none(),
        "{info}"
    );
    let [_, info] = claims_of(&sso, &mail_rp(&sso), "john1", &["email"]).await;
    assert_eq!(info["email"], "john@acme.example");

    // Disabling john2 disables nothing of john1's.
    let state = &sso.h.app.state;
    state
        .db
        .set_user_active(&second.to_string(), false, state.clock.now())
        .await
        .unwrap();
    assert_eq!(api_login(&sso, "john2").await, 401);
    let job = ended_job(&sso, &format!("mailcow:disable:{second}")).await;
    assert_eq!(job.state, "done", "{job:?}");
    assert_eq!(down.mc.mailbox("john@acme.example"), Some(before));
}

/// A mailbox made before the hub recorded owners (its job done, no row) gives its user no
/// `email` until the operator records it, and the Mailcow client's every userinfo call does not
/// turn into a round of requests to Mailcow.
async fn a_mailbox_nobody_recorded_costs_the_mailcow_client_no_calls_to_mailcow(backend: Backend) {
    let down = Downstream::start().await;
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .config(|c| down.configure(c))
        .client(mail_client())
        .start_sso()
        .await
    else {
        return;
    };
    let john = add_user_with_role(&sso, "john@acme.com", "john1", ACME, "employee").await;
    assert_eq!(api_login(&sso, "john1").await, 200);
    let job = ended_job(&sso, &format!("mailcow:create:{john}")).await;
    assert_eq!(job.state, "done", "{job:?}");
    sqlx::query("DELETE FROM mailboxes")
        .execute(sso.h.app.state.db.pool())
        .await
        .unwrap();
    let calls = down.mc.requests().len();
    let [id, info] = claims_of(&sso, &mail_rp(&sso), "john1", &["email"]).await;
    assert!(
        id.get("email").is_none() && info.get("email").is_none(),
        "{info}"
    );
    assert_eq!(down.mc.requests().len(), calls, "{:?}", down.mc.requests());
}

/// Mailcow asks for userinfo within a second of the login, before the outbox has made the
/// mailbox: it is made then and there, so the first login through Mailcow works.
async fn a_first_login_through_mailcow_gets_its_mailbox_as_email_before_the_outbox_runs(
    backend: Backend,
) {
    let down = Downstream::start().await;
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .config(|c| down.configure(c))
        .set("outbox.poll_interval_ms", 3_600_000)
        .client(mail_client())
        .start_sso()
        .await
    else {
        return;
    };
    add_user_with_role(&sso, "john@acme.com", "john1", ACME, "employee").await;
    let [id, info] = claims_of(&sso, &mail_rp(&sso), "john1", &["email"]).await;
    assert_eq!(id["email"], "john@acme.example");
    assert_eq!(info["email"], "john@acme.example");
    let mailbox = down
        .mc
        .mailbox("john@acme.example")
        .expect("made at the login");
    assert_eq!(mailbox.authsource, "generic-oidc");
    assert_eq!(down.mc.add_calls(), 1, "made once, and then known as made");
}

async fn with_a_domain_per_company_each_gets_their_own_mailbox_and_mailcow_gets_its_address(
    backend: Backend,
) {
    let down = Downstream::start().await;
    down.mc.set_domain_limits(
        "globex.example",
        crate::fakes::mailcow::DomainLimits::default(),
    );
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .config(|c| down.configure(c))
        .set(
            &format!("provisioning.mailcow.company_domains.{GLOBEX}"),
            "Globex.Example",
        )
        .client(mail_client())
        .start_sso()
        .await
    else {
        return;
    };
    let first = add_user_with_role(&sso, "john@acme.com", "john1", ACME, "employee").await;
    let second = add_user_with_role(&sso, "john@other.com", "john2", GLOBEX, "employee").await;
    assert_eq!(api_login(&sso, "john1").await, 200);
    assert_eq!(api_login(&sso, "john2").await, 200);
    for user in [first, second] {
        let job = ended_job(&sso, &format!("mailcow:create:{user}")).await;
        assert_eq!(job.state, "done", "{job:?}");
    }
    assert_eq!(
        down.mc.mailbox("john@acme.example").unwrap().name,
        "Name of john@acme.com"
    );
    assert_eq!(
        down.mc.mailbox("john@globex.example").unwrap().name,
        "Name of john@other.com"
    );
    let [id, info] = claims_of(&sso, &mail_rp(&sso), "john2", &["email", "profile"]).await;
    assert_eq!(id["email"], "john@globex.example");
    assert_eq!(info["email"], "john@globex.example");
    // Other clients still get the directory's address.
    let [_, info] = claims_of(&sso, &sso.default_rp(), "john2", &["email"]).await;
    assert_eq!(info["email"], "john@other.com");
}

async fn a_mailbox_not_made_by_the_hub_is_refused(backend: Backend) {
    let down = Downstream::start().await;
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .config(|c| down.configure(c))
        .client(mail_client())
        .start_sso()
        .await
    else {
        return;
    };
    let by_hand = crate::fakes::mailcow::Mailbox {
        username: "alice@acme.example".into(),
        local_part: "alice".into(),
        domain: "acme.example".into(),
        name: "Someone else".into(),
        quota_mib: 1024,
        active: true,
        authsource: "generic-oidc".into(),
        password: None,
        tags: Vec::new(),
    };
    down.mc.put_mailbox(by_hand.clone());
    assert_eq!(api_login(&sso, "alice").await, 200);
    let job = ended_job(&sso, &format!("mailcow:create:{}", sso.alice.id)).await;
    assert_eq!(job.state, "failed", "{job:?}");
    let error = job.last_error.unwrap();
    assert!(
        error.contains("alice@acme.example") && error.contains("did not make it"),
        "{error}"
    );
    assert_eq!(down.mc.mailbox("alice@acme.example"), Some(by_hand));
    let [_, info] = claims_of(&sso, &mail_rp(&sso), "alice", &["email"]).await;
    assert!(info.get("email").is_none(), "{info}");
}

/// The crash between Mailcow's success and the job's record: the claim and the mailbox are
/// there, the job is not done; its retry must end as done.
async fn a_retried_job_whose_earlier_attempt_made_the_mailbox_is_done(backend: Backend) {
    let down = Downstream::start().await;
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .config(|c| down.configure(c))
        .client(mail_client())
        .start_sso()
        .await
    else {
        return;
    };
    let alice = sso.alice.id.to_string();
    let state = &sso.h.app.state;
    state
        .db
        .claim_mailbox("alice@acme.example", &alice, ACME, state.clock.now())
        .await
        .unwrap();
    down.mc.put_mailbox(crate::fakes::mailcow::Mailbox {
        username: "alice@acme.example".into(),
        local_part: "alice".into(),
        domain: "acme.example".into(),
        name: "Name of alice@acme.example".into(),
        quota_mib: 2048,
        active: true,
        authsource: "generic-oidc".into(),
        password: None,
        tags: vec![format!("bheem-sso:{alice}")],
    });
    assert_eq!(api_login(&sso, "alice").await, 200);
    let job = ended_job(&sso, &format!("mailcow:create:{alice}")).await;
    assert_eq!(job.state, "done", "{job:?}");
    let [_, info] = claims_of(&sso, &mail_rp(&sso), "alice", &["email"]).await;
    assert_eq!(info["email"], "alice@acme.example");
}
