//! Refresh tokens and tokens of other clients.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bheem_sso::clock::Clock;
use bheem_sso::oidc::claims::ClaimsRequest;
use bheem_sso::oidc::scope::Scope;
use bheem_sso::oidc::tokens::Grant;
use bheem_sso::secrets::hash_secret;
use bheem_sso::store::grants::Spends;
use bheem_sso::store::sessions::SsoSession;
use serde_json::Value;
use tokio::sync::Notify;

use super::helpers::{code_for, count, refresh_with, RP2_SECRET};
use crate::on_both_backends;
use crate::support::{Backend, TestApp, SECRET};

on_both_backends!(
    reused_refresh_token_revokes_its_whole_family,
    one_refresh_token_sent_twice_at_once_is_answered_once_and_kills_its_family,
    a_replayed_refresh_token_ends_its_family_while_a_thief_keeps_rotating_it,
    a_revoked_refresh_token_ends_its_family_while_a_thief_keeps_rotating_it,
    a_logout_ends_the_sessions_families_while_a_thief_keeps_rotating_one,
    a_rotated_refresh_token_ends_with_its_family_however_recently_it_was_issued,
    code_of_another_client_is_refused,
    refresh_token_of_another_client_is_refused_and_still_works_for_its_own,
);

async fn reused_refresh_token_revokes_its_whole_family(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let sign_in = sso
        .sign_in(&sso.browser(), &sso.default_rp(), &["offline_access"])
        .await;
    let first = sign_in
        .refresh_token()
        .expect("offline_access gives a refresh token");
    let rotated = refresh_with(&sso, ("rp", SECRET), &first).await.unwrap();
    let second = rotated["refresh_token"].as_str().unwrap().to_owned();
    let second_access = rotated["access_token"].as_str().unwrap().to_owned();
    assert_ne!(first, second, "refresh tokens rotate");
    assert_eq!(sso.userinfo_status(&second_access).await, 200);

    // The old token again: someone holds a copy, so the whole family goes (RFC 9700 §4.14.2).
    assert_eq!(
        refresh_with(&sso, ("rp", SECRET), &first).await,
        Err((400, "invalid_grant".into()))
    );
    assert_eq!(
        refresh_with(&sso, ("rp", SECRET), &second).await,
        Err((400, "invalid_grant".into()))
    );
    assert_eq!(sso.introspect(&second).await["active"], false);
    assert_eq!(sso.userinfo_status(&second_access).await, 401);
    assert_eq!(sso.userinfo_status(&sign_in.access_token()).await, 401);
}

async fn one_refresh_token_sent_twice_at_once_is_answered_once_and_kills_its_family(
    backend: Backend,
) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    // A few families, so that the two requests meet at different points of each other.
    for round in 1..=3 {
        let sign_in = sso
            .sign_in(&sso.browser(), &sso.default_rp(), &["offline_access"])
            .await;
        let token = sign_in.refresh_token().unwrap();
        let (a, b) = tokio::join!(
            refresh_with(&sso, ("rp", SECRET), &token),
            refresh_with(&sso, ("rp", SECRET), &token),
        );
        let (won, refused) = match (a, b) {
            (Ok(won), Err(e)) | (Err(e), Ok(won)) => (won, e),
            (a, b) => panic!("round {round}: exactly one refresh must win: {a:?} / {b:?}"),
        };
        assert_eq!(refused, (400, "invalid_grant".into()));
        // The second use is a reuse whichever it was: what the first got dies with the family.
        let rotated = won["refresh_token"].as_str().unwrap();
        assert_eq!(
            sso.introspect(rotated).await["active"],
            false,
            "round {round}"
        );
        assert_eq!(
            sso.userinfo_status(won["access_token"].as_str().unwrap())
                .await,
            401
        );
        assert_eq!(
            refresh_with(&sso, ("rp", SECRET), rotated).await,
            Err((400, "invalid_grant".into()))
        );
    }
    assert_eq!(
        count(&sso, "refresh_tokens").await,
        6,
        "three sign-ins and three rotations; the losers left nothing behind"
    );
}

async fn code_of_another_client_is_refused(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let rp2 = sso.rp("rp2", Some(RP2_SECRET));
    let (request, code) = code_for(&sso.browser(), &sso.default_rp(), &[]).await;
    // rp2 is registered with the same callback, so only the client binding can stop it.
    let refused = sso.exchange(&rp2, code, request.verifier_secret()).await;
    assert_eq!(refused.unwrap_err(), "invalid_grant");
    assert_eq!(count(&sso, "access_tokens").await, 0);
}

async fn refresh_token_of_another_client_is_refused_and_still_works_for_its_own(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let sign_in = sso
        .sign_in(&sso.browser(), &sso.default_rp(), &["offline_access"])
        .await;
    let refresh = sign_in.refresh_token().unwrap();
    assert_eq!(
        refresh_with(&sso, ("rp2", RP2_SECRET), &refresh).await,
        Err((400, "invalid_grant".into()))
    );
    assert_eq!(sso.introspect(&refresh).await["active"], true);
    assert_eq!(sso.userinfo_status(&sign_in.access_token()).await, 200);
    refresh_with(&sso, ("rp", SECRET), &refresh).await.unwrap();
}

/// What the thief got from one family: every refresh and access token, in order.
#[derive(Default)]
struct Stolen {
    refresh: Vec<String>,
    access: Vec<String>,
}

impl Stolen {
    fn took(&mut self, tokens: &Value) {
        self.refresh
            .push(tokens["refresh_token"].as_str().unwrap().to_owned());
        self.access
            .push(tokens["access_token"].as_str().unwrap().to_owned());
    }
}

/// How the victim's side ends a family that a thief keeps rotating.
#[derive(Debug, Clone, Copy)]
enum Ending {
    /// The client replays the family's first, already rotated, token (RFC 9700 §4.14.2).
    Replay,
    /// The client revokes that token at the revocation endpoint (RFC 7009 §2.1: the whole grant).
    Revocation,
    /// The SSO session the family was issued in ends, as at logout or for a disabled user.
    Logout,
}

/// RFC 9700 §4.14.2: a replayed refresh token ends its whole family. A thief keeps rotating a
/// stolen family as fast as the token endpoint answers while the victim replays the family's
/// first, already rotated, token. Whatever rotation is in flight when the replay is handled, once
/// the victim has its answer nothing of the family may live on: the thief's next rotation is
/// refused, and none of the refresh or access tokens it got is still good. On PostgreSQL a
/// rotation that committed while the revocation ran used to survive it about one time in three.
async fn a_replayed_refresh_token_ends_its_family_while_a_thief_keeps_rotating_it(
    backend: Backend,
) {
    race_a_thief(backend, Ending::Replay, 200).await;
}

/// The same race against a revocation at the revocation endpoint.
async fn a_revoked_refresh_token_ends_its_family_while_a_thief_keeps_rotating_it(backend: Backend) {
    race_a_thief(backend, Ending::Revocation, 100).await;
}

/// The same race against the end of the family's SSO session.
async fn a_logout_ends_the_sessions_families_while_a_thief_keeps_rotating_one(backend: Backend) {
    race_a_thief(backend, Ending::Logout, 100).await;
}

async fn race_a_thief(backend: Backend, ending: Ending, trials: usize) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let sso = Arc::new(sso);
    let state = &sso.h.app.state;
    let rp = state.clients.get("rp").unwrap();
    let alice = state
        .directory
        .find_by_id(&sso.alice.id.to_string())
        .await
        .unwrap()
        .unwrap();
    for trial in 0..trials {
        // A family as a code exchange in an SSO session starts it (without the browser's round
        // trips, to keep the trials fast), and one rotation, so that its first token is spent.
        let now = state.clock.now();
        let sid = uuid::Uuid::new_v4().to_string();
        let session = SsoSession::started(
            sid.clone(),
            alice.id.clone(),
            alice.company_id.to_string(),
            now,
            now + 3600,
        );
        state.db.create_sso_session(&session, &[]).await.unwrap();
        let first = state
            .tokens
            .issue(Grant {
                client: &rp,
                user: Some(&alice),
                scope: Scope::parse("offline_access").unwrap(),
                session_id: Some(&sid),
                auth_time: Some(now),
                nonce: None,
                claims: ClaimsRequest::default(),
                code_hash: None,
                spends: Spends::Nothing,
                family: None,
                issue_refresh: true,
            })
            .await
            .unwrap();
        let first = first.refresh_token.unwrap();
        let mut stolen = Stolen::default();
        stolen.took(&refresh_with(&sso, ("rp", SECRET), &first).await.unwrap());

        let ended = Arc::new(AtomicBool::new(false));
        let rotating = Arc::new(Notify::new());
        let thief = tokio::spawn({
            let (sso, ended, rotating) = (sso.clone(), ended.clone(), rotating.clone());
            async move {
                loop {
                    let after_end = ended.load(Ordering::SeqCst);
                    let latest = stolen.refresh.last().unwrap().clone();
                    match refresh_with(&sso, ("rp", SECRET), &latest).await {
                        Ok(tokens) => {
                            assert!(
                                !after_end,
                                "trial {trial}: a rotation sent after the {ending:?} was \\
                                 answered went through"
                            );
                            stolen.took(&tokens);
                            rotating.notify_one();
                        }
                        Err(refused) => {
                            assert_eq!(refused, (400, "invalid_grant".into()));
                            return stolen;
                        }
                    }
                }
            }
        });
        // The thief is rotating: the ending meets one of its rotations somewhere on its way.
        rotating.notified().await;
        match ending {
            Ending::Replay => assert_eq!(
                refresh_with(&sso, ("rp", SECRET), &first).await,
                Err((400, "invalid_grant".into())),
                "trial {trial}: the replay"
            ),
            Ending::Revocation => {
                let revoked = reqwest::Client::new()
                    .post(sso.url("/api/v1/sso/revoke"))
                    .basic_auth("rp", Some(SECRET))
                    .form(&[("token", first.as_str())])
                    .send()
                    .await
                    .unwrap();
                assert_eq!(revoked.status(), 200, "trial {trial}: the revocation");
            }
            Ending::Logout => assert!(state
                .db
                .end_sso_session(&sid, "logout", state.clock.now())
                .await
                .unwrap()
                .is_some()),
        }
        ended.store(true, Ordering::SeqCst);
        let stolen = thief.await.unwrap();

        // And the rows say so themselves: the revocation saw every rotation that went through.
        let family = state
            .db
            .refresh_token(&hash_secret(&first))
            .await
            .unwrap()
            .unwrap()
            .family_id;
        for table in ["refresh_tokens", "access_tokens"] {
            let unrevoked: i64 = sqlx::query_scalar(&format!(
                "SELECT COUNT(*) FROM {table} WHERE family_id = $1 AND revoked_at IS NULL"
            ))
            .bind(family.clone())
            .fetch_one(state.db.pool())
            .await
            .unwrap();
            assert_eq!(
                unrevoked, 0,
                "trial {trial}: {table} of the family not marked after the {ending:?}"
            );
        }
        for (n, token) in stolen.refresh.iter().enumerate() {
            let row = state.db.refresh_token(&hash_secret(token)).await.unwrap();
            assert!(
                row.unwrap().revoked_at.is_some(),
                "trial {trial}: refresh token {n} of {} survived the {ending:?}",
                stolen.refresh.len()
            );
        }
        for (n, token) in stolen.access.iter().enumerate() {
            assert!(
                state
                    .tokens
                    .check_access_token(token)
                    .await
                    .unwrap()
                    .is_err(),
                "trial {trial}: access token {n} of {} survived the {ending:?}",
                stolen.access.len()
            );
        }
    }
}

/// A family ends `refresh_token_seconds` after its first grant: a client that refreshes every
/// day must not keep its user signed in for ever. A token rotated just before the family's end
/// is refused at that end, though it was issued seconds before.
async fn a_rotated_refresh_token_ends_with_its_family_however_recently_it_was_issued(
    backend: Backend,
) {
    let clock = Clock::manual(Clock::System.now());
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .clock(clock.clone())
        .set("tokens.refresh_token_seconds", 3600)
        .start_sso()
        .await
    else {
        return;
    };
    let start = clock.now();
    let sign_in = sso
        .sign_in(&sso.browser(), &sso.default_rp(), &["offline_access"])
        .await;
    clock.advance(3590);
    let rotated = refresh_with(&sso, ("rp", SECRET), &sign_in.refresh_token().unwrap())
        .await
        .expect("within the family's lifetime");
    let last = rotated["refresh_token"].as_str().unwrap().to_owned();
    let described = sso.introspect(&last).await;
    assert_eq!(described["active"], true);
    assert_eq!(
        described["exp"],
        start + 3600,
        "the family's end, not an hour from now"
    );

    clock.advance(10);
    assert_eq!(
        refresh_with(&sso, ("rp", SECRET), &last).await,
        Err((400, "invalid_grant".into())),
        "issued 10 s ago, but its family began an hour ago"
    );
    assert_eq!(sso.introspect(&last).await["active"], false);
}
