//! `Db::record_grant` on a real database: a grant is written whole or not at all.

use bheem_sso::config::DatabaseUrl;
use bheem_sso::store::sso::{GrantRecord, NewAccessToken, NewRefreshToken, Spends};
use bheem_sso::store::Db;

use crate::helpers::{Backend, TestDb};
use crate::on_both_backends;

on_both_backends!(
    a_grant_that_fails_midway_spends_nothing_and_leaves_the_pool_usable,
    a_grant_whose_refresh_token_was_spent_meanwhile_writes_nothing,
);

const NOW: i64 = 1_000_000;

fn access(jti: &str) -> NewAccessToken<'_> {
    NewAccessToken {
        jti,
        client_id: "rp",
        user_id: Some("u1"),
        session_id: None,
        code_hash: None,
        family_id: Some("f1"),
        scope: "openid offline_access",
        claims: None,
        expires_at: NOW + 600,
    }
}

fn refresh(token_hash: &str) -> NewRefreshToken<'_> {
    NewRefreshToken {
        token_hash,
        family_id: "f1",
        client_id: "rp",
        user_id: "u1",
        session_id: None,
        code_hash: None,
        scope: "openid offline_access",
        claims: None,
        auth_time: Some(NOW - 10),
        created_at: NOW,
        expires_at: NOW + 86_400,
    }
}

async fn open(backend: Backend) -> Option<(TestDb, Db)> {
    let test_db = TestDb::new(backend).await?;
    let db = Db::connect(&DatabaseUrl::parse(&test_db.url).unwrap())
        .await
        .unwrap();
    db.migrate().await.unwrap();
    Some((test_db, db))
}

async fn count(db: &Db, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db.pool()).await.unwrap()
}

/// A first grant issues refresh token `r1` with access token `a1`.
async fn first_grant(db: &Db) {
    let recorded = db
        .record_grant(&GrantRecord {
            spends: Spends::Nothing,
            refresh: Some(refresh("r1")),
            access: access("a1"),
            now: NOW,
        })
        .await
        .unwrap();
    assert!(recorded);
}

async fn a_grant_that_fails_midway_spends_nothing_and_leaves_the_pool_usable(backend: Backend) {
    let Some((_test_db, db)) = open(backend).await else {
        return;
    };
    first_grant(&db).await;
    // Rotating r1 into r2, but the access token's jti is taken: the insert after the spending
    // fails, and the spending and the new refresh token go with it.
    let failed = db
        .record_grant(&GrantRecord {
            spends: Spends::RefreshToken("r1"),
            refresh: Some(refresh("r2")),
            access: access("a1"),
            now: NOW + 1,
        })
        .await;
    assert!(failed.is_err(), "a duplicate jti must fail the grant");
    let row = db.refresh_token("r1").await.unwrap().unwrap();
    assert_eq!(row.rotated_at, None, "the failed grant must not spend r1");
    assert!(db.refresh_token("r2").await.unwrap().is_none());
    assert_eq!(count(&db, "SELECT COUNT(*) FROM access_tokens").await, 1);
    // No connection was handed back inside an open transaction: every connection of the pool
    // still writes, and the rotation now goes through.
    for i in 0..20 {
        let jti = format!("extra-{i}");
        assert!(db
            .record_grant(&GrantRecord {
                spends: Spends::Nothing,
                refresh: None,
                access: NewAccessToken {
                    family_id: None,
                    ..access(&jti)
                },
                now: NOW + 2,
            })
            .await
            .unwrap());
    }
    assert!(db
        .record_grant(&GrantRecord {
            spends: Spends::RefreshToken("r1"),
            refresh: Some(refresh("r2")),
            access: access("a2"),
            now: NOW + 3,
        })
        .await
        .unwrap());
    assert_eq!(
        db.refresh_token("r1").await.unwrap().unwrap().rotated_at,
        Some(NOW + 3)
    );
    assert!(db.refresh_token("r2").await.unwrap().is_some());
    assert_eq!(count(&db, "SELECT COUNT(*) FROM access_tokens").await, 22);
    db.close().await;
}

async fn a_grant_whose_refresh_token_was_spent_meanwhile_writes_nothing(backend: Backend) {
    let Some((_test_db, db)) = open(backend).await else {
        return;
    };
    first_grant(&db).await;
    let rotate = |refresh_hash, jti| GrantRecord {
        spends: Spends::RefreshToken("r1"),
        refresh: Some(refresh(refresh_hash)),
        access: access(jti),
        now: NOW + 1,
    };
    assert!(db.record_grant(&rotate("r2", "a2")).await.unwrap());
    // The same token once more: it is spent, so this grant stores neither of its tokens.
    assert!(!db.record_grant(&rotate("r3", "a3")).await.unwrap());
    assert!(db.refresh_token("r3").await.unwrap().is_none());
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM access_tokens WHERE jti = 'a3'").await,
        0
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM refresh_tokens").await, 2);
    // A revoked token cannot be spent either.
    db.revoke_family("f1", NOW + 2).await.unwrap();
    let spend_revoked = GrantRecord {
        spends: Spends::RefreshToken("r2"),
        refresh: Some(refresh("r4")),
        access: access("a4"),
        now: NOW + 3,
    };
    assert!(!db.record_grant(&spend_revoked).await.unwrap());
    assert!(db.refresh_token("r4").await.unwrap().is_none());
    db.close().await;
}
