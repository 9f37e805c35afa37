//! The table itself: rows cannot be changed, retention removes exactly the old ones, and what
//! was recorded just before a graceful shutdown is stored.

use bheem_sso::audit::{Event, Kind};
use bheem_sso::clock::Clock;

use super::{audit_command, trail};
use crate::on_both_backends;
use crate::support::{Backend, Harness, TestApp};

on_both_backends!(
    a_stored_event_cannot_be_changed,
    retention_prunes_exactly_the_events_older_than_it,
    events_recorded_just_before_a_graceful_shutdown_are_stored,
);

const DAY: i64 = 86_400;

async fn a_stored_event_cannot_be_changed(backend: Backend) {
    let Some(h) = TestApp::builder().backend(backend).start().await else {
        return;
    };
    h.app
        .state
        .audit
        .record(Event::new(Kind::AdminCommand, "cli:someone").detail("command", "users add"));
    assert_eq!(trail(&h, &[]).await.len(), 1);
    let pool = h.app.state.db.pool();
    let changed = sqlx::query("UPDATE audit_events SET actor = 'cli:someone-else'")
        .execute(pool)
        .await;
    let refused = changed.expect_err("an UPDATE of the trail must be refused");
    assert!(refused.to_string().contains("append-only"), "{refused}");
    let events = audit_command(&h.db.url, &[]).await;
    assert_eq!(events[0]["actor"], "cli:someone");
}

/// One event at each moment of `at` (seconds after `start` on the app's clock).
async fn record_at(h: &Harness, clock: &Clock, start: i64, at: &[i64]) {
    for &moment in at {
        clock.advance(start + moment - clock.now());
        h.app
            .state
            .audit
            .record(Event::new(Kind::AdminCommand, "cli:someone").detail("moment", moment));
    }
    h.app.state.audit.flush().await;
}

async fn moments(h: &Harness) -> Vec<i64> {
    trail(h, &[])
        .await
        .iter()
        .map(|e| e["detail"]["moment"].as_i64().unwrap())
        .collect()
}

async fn retention_prunes_exactly_the_events_older_than_it(backend: Backend) {
    let start = 1_700_000_000;
    let clock = Clock::manual(start);
    let Some(h) = TestApp::builder()
        .backend(backend)
        .clock(clock.clone())
        .set("audit.retention_days", 2)
        .start()
        .await
    else {
        return;
    };
    record_at(&h, &clock, start, &[0, 10, DAY, 2 * DAY + 10]).await;
    // Two days after the second event: it is exactly on the edge, and stays. (The periodic
    // maintenance prunes too, so what is left is checked rather than what one call removed.)
    h.app.state.audit.prune().await.unwrap();
    assert_eq!(moments(&h).await, [2 * DAY + 10, DAY, 10]);
    clock.advance(1);
    h.app.state.audit.prune().await.unwrap();
    assert_eq!(moments(&h).await, [2 * DAY + 10, DAY]);
    assert_eq!(h.app.state.audit.prune().await.unwrap(), 0);

    let clock = Clock::manual(start);
    let Some(forever) = TestApp::builder()
        .backend(backend)
        .clock(clock.clone())
        .set("audit.retention_days", 0)
        .start()
        .await
    else {
        return;
    };
    record_at(&forever, &clock, start, &[0, 400 * DAY]).await;
    assert_eq!(forever.app.state.audit.prune().await.unwrap(), 0);
    assert_eq!(trail(&forever, &[]).await.len(), 2);
}

async fn events_recorded_just_before_a_graceful_shutdown_are_stored(backend: Backend) {
    let Some(Harness {
        app,
        db,
        keys: _keys,
    }) = TestApp::builder().backend(backend).start().await
    else {
        return;
    };
    for n in 0..3 {
        app.state
            .audit
            .record(Event::new(Kind::AdminCommand, "cli:someone").detail("n", n));
    }
    // No flush asked for: the graceful shutdown writes what is queued before it closes the
    // database.
    app.stop().await;
    assert_eq!(audit_command(&db.url, &[]).await.len(), 3);
}
