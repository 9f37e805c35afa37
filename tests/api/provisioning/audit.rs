//! The worker's and the sweep's events in the audit trail: each job done or failed for good,
//! with its target and user, and a disabled user found by the sweep.

use super::{ended_job, eventually, Downstream};
use crate::audit::{of_kind, the, trail};
use crate::fakes::Fault;
use crate::on_both_backends;
use crate::support::{Backend, TestApp, ACME};

on_both_backends!(
    jobs_done_and_a_disabled_user_found_by_the_sweep_are_recorded_by_the_system,
    a_job_that_fails_for_good_is_recorded_with_its_error,
);

async fn jobs_done_and_a_disabled_user_found_by_the_sweep_are_recorded_by_the_system(
    backend: Backend,
) {
    let down = Downstream::start().await;
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .config(|c| down.configure(c))
        .set("provisioning.sweep_interval_seconds", 1)
        .start_sso()
        .await
    else {
        return;
    };
    let alice = sso.alice.id.to_string();
    sso.sign_in(&sso.browser(), &sso.default_rp(), &[]).await;
    ended_job(&sso, &format!("nextcloud:create:{alice}")).await;
    ended_job(&sso, &format!("mailcow:create:{alice}")).await;
    let state = &sso.h.app.state;
    state
        .db
        .set_user_active(&alice, false, state.clock.now())
        .await
        .unwrap();
    ended_job(&sso, &format!("nextcloud:disable:{alice}")).await;
    ended_job(&sso, &format!("mailcow:disable:{alice}")).await;
    eventually("Nextcloud user disabled", || {
        !down.nc.users()["alice"].enabled
    })
    .await;

    let events = trail(&sso.h, &[]).await;
    let done = of_kind(&events, "provisioning_done");
    let mut jobs: Vec<(&str, &str)> = done
        .iter()
        .map(|e| {
            assert_eq!(e["actor"], "system");
            assert_eq!(e["user_id"], alice.as_str());
            (
                e["detail"]["job_kind"].as_str().unwrap(),
                e["detail"]["target"].as_str().unwrap(),
            )
        })
        .collect();
    jobs.sort();
    assert_eq!(
        jobs,
        [
            ("disable_mailcow", "mailcow"),
            ("disable_nextcloud", "nextcloud"),
            ("provision_mailcow", "mailcow"),
            ("provision_nextcloud", "nextcloud"),
        ]
    );
    // The sweep runs every second: the user is found disabled once, not at every round.
    let disabled = the(&events, "user_disabled");
    assert_eq!(disabled["actor"], "system");
    assert_eq!(disabled["user_id"], alice.as_str());
    assert_eq!(disabled["company_id"], ACME);
    assert_eq!(disabled["detail"]["noticed_by"], "sweep");
    assert_eq!(
        disabled["detail"]["jobs"],
        serde_json::json!(["disable_nextcloud", "disable_mailcow"])
    );
}

async fn a_job_that_fails_for_good_is_recorded_with_its_error(backend: Backend) {
    let down = Downstream::start().await;
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .config(|c| {
            down.configure(c);
            c.set("outbox.max_attempts", 1);
        })
        .start_sso()
        .await
    else {
        return;
    };
    down.set_fault(Fault::ServerError);
    let alice = sso.alice.id.to_string();
    sso.sign_in(&sso.browser(), &sso.default_rp(), &[]).await;
    let job = ended_job(&sso, &format!("nextcloud:create:{alice}")).await;
    assert_eq!(job.state, "failed");
    ended_job(&sso, &format!("mailcow:create:{alice}")).await;

    let events = trail(&sso.h, &["--kind", "provisioning_failed"]).await;
    assert_eq!(events.len(), 2, "{events:#?}");
    let nextcloud = events
        .iter()
        .find(|e| e["detail"]["target"] == "nextcloud")
        .unwrap();
    assert_eq!(nextcloud["actor"], "system");
    assert_eq!(nextcloud["user_id"], alice.as_str());
    assert_eq!(nextcloud["detail"]["job"], job.id.as_str());
    assert_eq!(nextcloud["detail"]["attempts"], 1);
    assert_eq!(
        nextcloud["detail"]["error"].as_str(),
        job.last_error.as_deref()
    );
}
