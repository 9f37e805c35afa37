//! `Db::record_grant` on a real database: a grant is written whole or not at all.

use bheem_sso::config::DatabaseUrl;
use bheem_sso::store::grants::{GrantRecord, NewAccessToken, NewRefreshToken, Spends};
use bheem_sso::store::sessions::SsoSession;
use bheem_sso::store::Db;

use crate::on_both_backends;
use crate::support::{Backend, TestDb};

on_both_backends!(
    a_grant_that_fails_midway_spends_nothing_and_leaves_the_pool_usable,
    a_grant_whose_refresh_token_was_spent_meanwhile_writes_nothing,
    grants_written_together_keep_each_grant_whole_and_one_spending_per_token,
    grants_written_together_in_one_session_record_its_client_once,
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

/// Token requests that arrive together are written together (group commit): 49 grants handed to
/// the writer while the first write is in flight. Each must come out as if written alone: of 16
/// rotations of one refresh token exactly one wins, 16 rotations of different tokens and 16 new
/// access tokens all go through, and a grant whose access token id is taken fails alone.
async fn grants_written_together_keep_each_grant_whole_and_one_spending_per_token(
    backend: Backend,
) {
    let Some((_test_db, db)) = open(backend).await else {
        return;
    };
    first_grant(&db).await;
    let ids = |prefix: &str| (0..16).map(|i| format!("{prefix}{i}")).collect::<Vec<_>>();
    let (d, d_setup, d_new, d_access) = (ids("d"), ids("ds"), ids("dn"), ids("da"));
    let (x, x_access, c) = (ids("x"), ids("xa"), ids("c"));
    for (token, jti) in d.iter().zip(&d_setup) {
        assert!(db
            .record_grant(&GrantRecord {
                spends: Spends::Nothing,
                refresh: Some(refresh(token)),
                access: access(jti),
                now: NOW,
            })
            .await
            .unwrap());
    }
    let mut grants = Vec::new();
    for i in 0..16 {
        grants.push(OwnedGrant::rotating("r1", &x[i], &x_access[i]));
        grants.push(OwnedGrant::rotating(&d[i], &d_new[i], &d_access[i]));
        grants.push(OwnedGrant::access_only(&c[i]));
    }
    // The same access token id as c0's.
    grants.push(OwnedGrant::access_only("c0"));
    // Each grant in a task of its own, all queued before the first write is polled (the test's
    // runtime has one thread), as many requests at once would queue.
    let mut tasks = tokio::task::JoinSet::new();
    for (n, grant) in grants.into_iter().enumerate() {
        let db = db.clone();
        tasks.spawn(async move { (n, db.record_grant(&grant.record()).await) });
    }
    let mut results = vec![None; 49];
    while let Some(joined) = tasks.join_next().await {
        let (n, result) = joined.unwrap();
        results[n] = Some(result.map_err(|e| format!("{e:#}")));
    }
    let results: Vec<Result<bool, String>> = results.into_iter().map(Option::unwrap).collect();
    let rotations_of_r1: Vec<_> = (0..16).map(|i| results[3 * i].clone()).collect();
    assert_eq!(
        rotations_of_r1.iter().filter(|r| *r == &Ok(true)).count(),
        1,
        "exactly one rotation of r1 wins: {rotations_of_r1:?}"
    );
    assert_eq!(
        rotations_of_r1.iter().filter(|r| *r == &Ok(false)).count(),
        15,
        "the others see r1 spent: {rotations_of_r1:?}"
    );
    for i in 0..16 {
        assert_eq!(results[3 * i + 1], Ok(true), "rotation of {}", d[i]);
    }
    let c0s = [&results[2], &results[48]];
    assert_eq!(
        c0s.iter().filter(|r| ***r == Ok(true)).count(),
        1,
        "one of the two grants of access token c0 is recorded: {c0s:?}"
    );
    assert!(c0s.iter().any(|r| r.is_err()), "the other fails: {c0s:?}");
    for i in 1..16 {
        assert_eq!(results[3 * i + 2], Ok(true), "grant of {}", c[i]);
    }
    // What is stored is exactly what the grants that were recorded wrote.
    let winner = (0..16).find(|i| results[3 * i] == Ok(true)).unwrap();
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM refresh_tokens").await,
        1 + 16 + 1 + 16
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM access_tokens").await,
        1 + 16 + 1 + 16 + 16
    );
    for i in 0..16 {
        assert_eq!(
            db.refresh_token(&x[i]).await.unwrap().is_some(),
            i == winner
        );
        assert_eq!(
            count(
                &db,
                &format!(
                    "SELECT COUNT(*) FROM access_tokens WHERE jti = '{}'",
                    x_access[i]
                )
            )
            .await,
            i64::from(i == winner)
        );
        assert!(db
            .refresh_token(&d[i])
            .await
            .unwrap()
            .unwrap()
            .rotated_at
            .is_some());
    }
    db.close().await;
}

/// Four token requests of one SSO session to one client, written together: each records the
/// session's client (for back-channel logout), so the one write holds four inserts of the same
/// `session_clients` row, and all four grants must still be recorded, with the row stored once.
async fn grants_written_together_in_one_session_record_its_client_once(backend: Backend) {
    let Some((_test_db, db)) = open(backend).await else {
        return;
    };
    let session = SsoSession::started("s1".into(), "u1".into(), "co1".into(), NOW, NOW + 3_600);
    db.create_sso_session(&session, &[]).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..4 {
        let db = db.clone();
        tasks.spawn(async move {
            let jti = format!("s1a{i}");
            db.record_grant(&GrantRecord {
                spends: Spends::Nothing,
                refresh: None,
                access: NewAccessToken {
                    session_id: Some("s1"),
                    family_id: None,
                    ..access(&jti)
                },
                now: NOW,
            })
            .await
            .map_err(|e| format!("{e:#}"))
        });
    }
    while let Some(joined) = tasks.join_next().await {
        assert_eq!(joined.unwrap(), Ok(true));
    }
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM access_tokens WHERE session_id = 's1'"
        )
        .await,
        4
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM session_clients WHERE session_id = 's1'"
        )
        .await,
        1
    );
    db.close().await;
}

/// A grant's strings, owned, so that it can move into a task of its own.
struct OwnedGrant {
    spends: Option<String>,
    refresh: Option<String>,
    jti: String,
}

impl OwnedGrant {
    /// Spends refresh token `spends` for a new one and an access token.
    fn rotating(spends: &str, refresh: &str, jti: &str) -> Self {
        Self {
            spends: Some(spends.to_owned()),
            refresh: Some(refresh.to_owned()),
            jti: jti.to_owned(),
        }
    }

    /// Spends nothing, stores an access token only (as client credentials do).
    fn access_only(jti: &str) -> Self {
        Self {
            spends: None,
            refresh: None,
            jti: jti.to_owned(),
        }
    }

    fn record(&self) -> GrantRecord<'_> {
        GrantRecord {
            spends: self
                .spends
                .as_deref()
                .map_or(Spends::Nothing, Spends::RefreshToken),
            refresh: self.refresh.as_deref().map(refresh),
            access: NewAccessToken {
                family_id: self.refresh.as_ref().map(|_| "f1"),
                ..access(&self.jti)
            },
            now: NOW + 1,
        }
    }
}
