//! The ERP's copy of Meet's rooms (`[erp_sync]`): one row per room in
//! `project_management.pm_meeting_rooms`, updated as the room changes, also when the ERP could
//! not be reached at the time.

use serde_json::json;
use sqlx::{Connection, Executor, PgConnection, Row};
use uuid::Uuid;

use super::{MeetApp, ROOMS};
use crate::support::{Backend, TestDb, ACME};

/// The ERP database with the meeting-room table as the ERP has it.
async fn erp() -> Option<TestDb> {
    let db = TestDb::postgres().await?;
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    conn.execute(
        "CREATE SCHEMA project_management;
         CREATE TABLE project_management.pm_meeting_rooms (
             id UUID PRIMARY KEY,
             name VARCHAR(255) NOT NULL,
             room_code VARCHAR(64) NOT NULL,
             created_by UUID NOT NULL,
             company_id UUID NOT NULL,
             scheduled_start TIMESTAMPTZ,
             scheduled_end TIMESTAMPTZ,
             status VARCHAR(32) NOT NULL
         );",
    )
    .await
    .unwrap();
    Some(db)
}

/// The ERP's rows for `room_code`: (name, status, company, start, end as Unix seconds).
async fn rows(
    url: &str,
    room_code: &str,
) -> Vec<(String, String, String, Option<i64>, Option<i64>)> {
    let mut conn = PgConnection::connect(url).await.unwrap();
    sqlx::query(
        "SELECT name, status, company_id::text AS company, \
                extract(epoch FROM scheduled_start)::bigint AS start, \
                extract(epoch FROM scheduled_end)::bigint AS finish \
         FROM project_management.pm_meeting_rooms WHERE room_code = $1",
    )
    .bind(room_code)
    .fetch_all(&mut conn)
    .await
    .unwrap()
    .into_iter()
    .map(|r| {
        (
            r.get("name"),
            r.get("status"),
            r.get("company"),
            r.get("start"),
            r.get("finish"),
        )
    })
    .collect()
}

/// Polls until the ERP's row for `room_code` reads `expected`.
async fn eventually_row(
    url: &str,
    room_code: &str,
    expected: &(String, String, String, Option<i64>, Option<i64>),
) {
    let mut last = Vec::new();
    for _ in 0..300 {
        last = rows(url, room_code).await;
        if last.len() == 1 && &last[0] == expected {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the ERP has {last:?} for {room_code}, not {expected:?}");
}

#[tokio::test]
async fn each_room_is_one_erp_row_kept_up_to_date() {
    let Some(erp) = erp().await else {
        return;
    };
    let Some(m) = MeetApp::start_with(Backend::Sqlite, |c| {
        c.set("erp_sync.url", erp.url.as_str());
    })
    .await
    else {
        return;
    };
    let id = m
        .room(
            &m.alice,
            json!({"name": "Board", "scheduled_time": "2026-12-07T09:00:00Z", "duration_minutes": 60}),
        )
        .await;
    let start = 1_796_634_000; // 2026-12-07T09:00:00Z
    let mut expected = (
        "Board".to_owned(),
        "scheduled".to_owned(),
        ACME.to_owned(),
        Some(start),
        Some(start + 3600),
    );
    eventually_row(&erp.url, &id, &expected).await;
    let (status, _) = m
        .call(
            &m.alice,
            "PATCH",
            &format!("{ROOMS}/{id}"),
            Some(json!({"name": "Board, moved"})),
        )
        .await;
    assert_eq!(status, 200);
    expected.0 = "Board, moved".into();
    eventually_row(&erp.url, &id, &expected).await;
    // LiveKit says it started, then the host ends it.
    m.webhook_room_event("room_started", &id).await;
    expected.1 = "active".into();
    eventually_row(&erp.url, &id, &expected).await;
    let (status, _) = m
        .call(&m.alice, "DELETE", &format!("{ROOMS}/{id}"), None)
        .await;
    assert_eq!(status, 200);
    expected.1 = "completed".into();
    eventually_row(&erp.url, &id, &expected).await;
    // Its id in the ERP is the one made from the room id: the same row throughout.
    let mut conn = PgConnection::connect(&erp.url).await.unwrap();
    let erp_id: String = sqlx::query_scalar(
        "SELECT id::text FROM project_management.pm_meeting_rooms WHERE room_code = $1",
    )
    .bind(&id)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        erp_id,
        bheem_sso::provisioning::erp_sync::erp_room_id(&id).to_string()
    );
}

#[tokio::test]
async fn rooms_made_and_changed_while_the_erp_refuses_connections_reach_it_later() {
    let Some(erp) = erp().await else {
        return;
    };
    // The ERP refuses the sync's role until it is made: as good as down for the sync.
    let role = format!("bheem_erp_sync_{}", Uuid::new_v4().simple());
    let url = erp.url.replacen("postgres@", &format!("{role}@"), 1);
    assert_ne!(
        url, erp.url,
        "the test database's URL names the postgres role"
    );
    let Some(m) = MeetApp::start_with(Backend::Postgres, |c| {
        c.set("erp_sync.url", url.as_str());
    })
    .await
    else {
        return;
    };
    let id = m.room(&m.alice, json!({"name": "While down"})).await;
    let (status, _) = m
        .call(
            &m.alice,
            "PATCH",
            &format!("{ROOMS}/{id}"),
            Some(json!({"name": "Still down"})),
        )
        .await;
    assert_eq!(status, 200, "the ERP being down fails no room");
    m.wait_for_failed_attempt("erp_sync_meet_room").await;
    assert!(rows(&erp.url, &id).await.is_empty());

    let mut conn = PgConnection::connect(&erp.url).await.unwrap();
    conn.execute(
        format!(
            "CREATE ROLE {role} LOGIN; \
             GRANT USAGE ON SCHEMA project_management TO {role}; \
             GRANT SELECT, INSERT, UPDATE ON project_management.pm_meeting_rooms TO {role};"
        )
        .as_str(),
    )
    .await
    .unwrap();
    // The app's clock is the test's: the retry the outbox set for a second later is due now.
    m.sso.h.app.state.clock.advance(5);
    let expected = (
        "Still down".to_owned(),
        "scheduled".to_owned(),
        ACME.to_owned(),
        None,
        None,
    );
    eventually_row(&erp.url, &id, &expected).await;
    m.stop().await;
    // Best effort: the role owns nothing, and a test run's leftovers are dropped by name.
    let _ = conn
        .execute(format!("DROP OWNED BY {role}; DROP ROLE {role};").as_str())
        .await;
}
