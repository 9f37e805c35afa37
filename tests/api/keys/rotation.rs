//! Two-stage rotation: a new key is published at once and signs only once relying parties'
//! cached JWKS (max-age 300 s) hold it; the old one stays published for the grace period after
//! that. Scheduled rotation does the same when the newest key is `key_rotation_days` old. The
//! app's clock is the test's, so minutes and days pass at once.

use std::time::{Duration, Instant};

use bheem_sso::clock::Clock;
use bheem_sso::keys::{two_stage_signs_from, JWKS_MAX_AGE_SECONDS};

use super::{access_token_kid, published_kids, stored_keys, wait_for_jwks};
use crate::on_both_backends;
use crate::support::{standard_clients, Backend, TestApp, TestDb};

on_both_backends!(
    a_rotated_key_is_published_at_once_and_signs_once_cached_jwks_have_expired,
    keys_rotate_now_signs_at_once,
    the_scheduler_rotates_an_old_key_once_across_nodes,
);

async fn a_rotated_key_is_published_at_once_and_signs_once_cached_jwks_have_expired(
    backend: Backend,
) {
    // In the past, so that tokens signed after the clock moves are not from the future.
    let clock = Clock::manual(Clock::System.now() - 1_000);
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .clock(clock.clone())
        .set("key_grace_seconds", 3_600)
        .start_sso()
        .await
    else {
        return;
    };
    let app = &sso.h.app;
    let rp = sso.default_rp();
    let old = app.signing_kid();
    let rotated_at = clock.now();
    let new = app.rotate_keys(false).await;
    assert_eq!(published_kids(app).await, [new.clone(), old.clone()]);
    let signs_from = two_stage_signs_from(rotated_at);
    assert!(signs_from - rotated_at > JWKS_MAX_AGE_SECONDS as i64);
    let id_token_kid = |sign_in: crate::support::SignIn| {
        jsonwebtoken::decode_header(&sign_in.id_token())
            .unwrap()
            .kid
            .unwrap()
    };

    // Until signs_from, new ID and access tokens are signed with the old key.
    clock.advance(signs_from - rotated_at - 1);
    assert_eq!(access_token_kid(app).await, old);
    let before = sso.sign_in(&sso.browser(), &rp, &[]).await;
    assert_eq!(id_token_kid(before), old);

    // From signs_from on, with the new one; both stay published.
    clock.advance(1);
    assert_eq!(access_token_kid(app).await, new);
    let after = sso.sign_in(&sso.browser(), &rp, &[]).await;
    assert_eq!(id_token_kid(after), new);
    assert_eq!(published_kids(app).await, [new.clone(), old.clone()]);

    // The old key is dropped from the JWKS once the grace period after signs_from is over.
    clock.advance(3_600 - 1);
    assert_eq!(published_kids(app).await, [new.clone(), old]);
    clock.advance(1);
    assert_eq!(published_kids(app).await, [new]);
}

async fn keys_rotate_now_signs_at_once(backend: Backend) {
    let Some(h) = TestApp::builder()
        .backend(backend)
        .clients(standard_clients())
        .start()
        .await
    else {
        return;
    };
    let old = h.app.signing_kid();
    let new = h.app.rotate_keys(true).await;
    assert_eq!(access_token_kid(&h.app).await, new);
    assert_eq!(published_kids(&h.app).await, [new, old]);
}

async fn the_scheduler_rotates_an_old_key_once_across_nodes(backend: Backend) {
    // One clock for both nodes, as for nodes whose clocks agree.
    let clock = Clock::manual(Clock::System.now() - 3 * 24 * 3600);
    let node = TestApp::builder()
        .backend(backend)
        .clients(standard_clients())
        .clock(clock.clone())
        .set("key_refresh_seconds", 1)
        .set("key_rotation_days", 1);
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let keys = tempfile::tempdir().unwrap();
    let a = node.start_on(&db.url, keys.path()).await;
    let b = node.start_on(&db.url, keys.path()).await;
    let old = a.signing_kid();
    assert_eq!(stored_keys(&a).await, 1);

    // A day on: the newest key is a day old, and both nodes' refreshers see it.
    clock.advance(24 * 3600);
    let two = |kids: &[String]| kids.len() == 2;
    let kids = wait_for_jwks(&a, "node A never rotated", two).await;
    assert_eq!(
        wait_for_jwks(&b, "node B never saw the rotation", two).await,
        kids
    );
    let new = kids[0].clone();
    assert_eq!(kids, [new.clone(), old.clone()]);
    // Both nodes are past the rotation now; it happened once, by the scheduler.
    assert_eq!(stored_keys(&a).await, 2);
    // The winner records the event just after it has the key: asked again until it is there.
    let deadline = Instant::now() + Duration::from_secs(30);
    let actors: Vec<(String, String)> = loop {
        a.state.audit.flush().await;
        b.state.audit.flush().await;
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT actor, detail FROM audit_events WHERE kind = 'key_rotated'")
                .fetch_all(a.state.db.pool())
                .await
                .unwrap();
        if !rows.is_empty() {
            break rows;
        }
        assert!(Instant::now() < deadline, "no key_rotated event");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(actors.len(), 1, "{actors:?}");
    assert_eq!(actors[0].0, "scheduler");
    let detail: serde_json::Value = serde_json::from_str(&actors[0].1).unwrap();
    assert_eq!(detail["kid"], new.as_str());
    assert_eq!(detail["previous_kid"], old.as_str());
    // Two-stage: the old key signs until the new one's time has come.
    assert_eq!(access_token_kid(&a).await, old);
    assert_eq!(access_token_kid(&b).await, old);
    clock.advance(two_stage_signs_from(0));
    assert_eq!(access_token_kid(&a).await, new);
    assert_eq!(access_token_kid(&b).await, new);
}
