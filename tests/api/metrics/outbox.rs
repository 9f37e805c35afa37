//! The outbox gauges' query, on both backends.

use bheem_sso::config::{DatabaseUrl, ProvisionTarget};
use bheem_sso::store::outbox::{BackchannelLogout, Job};
use bheem_sso::store::Db;

use crate::on_both_backends;
use crate::support::{Backend, TestDb};

/// The outbox gauges' query: the jobs not done by kind and state, and for each kind how long
/// its oldest due job has waited; done jobs and jobs not yet due are left out.
async fn the_outbox_load_counts_the_jobs_not_done_and_the_oldest_due(backend: Backend) {
    let Some(test_db) = TestDb::new(backend).await else {
        return;
    };
    let db = Db::connect(&DatabaseUrl::parse(&test_db.url).unwrap())
        .await
        .unwrap();
    db.migrate().await.unwrap();
    let now = 1_800_000_000;
    let claim_one = |job: Job, at: i64| {
        let db = db.clone();
        async move {
            db.enqueue_jobs(&[job], at).await.unwrap();
            let claimed = db.claim_jobs(at, 1000, 16).await.unwrap();
            assert_eq!(claimed.len(), 1);
            claimed[0].id.clone()
        }
    };
    let done = claim_one(
        Job::disable_account(ProvisionTarget::Mailcow, "u9"),
        now - 300,
    )
    .await;
    db.complete_job(&done, now - 299).await.unwrap();
    let failed = claim_one(
        Job::create_account(ProvisionTarget::Mailcow, "u3"),
        now - 200,
    )
    .await;
    db.fail_job(&failed, "refused", None, now - 199)
        .await
        .unwrap();
    claim_one(
        Job::create_account(ProvisionTarget::Nextcloud, "u1"),
        now - 100,
    )
    .await;
    let pending = [
        (
            Job::create_account(ProvisionTarget::Nextcloud, "u2"),
            now - 60,
        ),
        (
            Job::BackchannelLogout(BackchannelLogout {
                client_id: "rp".into(),
                sid: "s1".into(),
                sub: "u1".into(),
                uri: "https://rp.example/backchannel".into(),
            }),
            now - 30,
        ),
        // Not due for another 50 seconds.
        (
            Job::disable_account(ProvisionTarget::Nextcloud, "u1"),
            now + 50,
        ),
    ];
    for (job, at) in pending {
        db.enqueue_jobs(&[job], at).await.unwrap();
    }

    let mut load = db.outbox_load(now).await.unwrap();
    load.jobs.sort();
    load.oldest_due.sort();
    let row = |kind: &str, state: &str| (kind.to_owned(), state.to_owned(), 1);
    assert_eq!(
        load.jobs,
        [
            row("backchannel_logout", "pending"),
            row("disable_nextcloud", "pending"),
            row("provision_mailcow", "failed"),
            row("provision_nextcloud", "pending"),
            row("provision_nextcloud", "running"),
        ]
    );
    assert_eq!(
        load.oldest_due,
        [
            ("backchannel_logout".to_owned(), 30),
            ("provision_nextcloud".to_owned(), 60)
        ]
    );
    db.close().await;
}

on_both_backends!(the_outbox_load_counts_the_jobs_not_done_and_the_oldest_due);
