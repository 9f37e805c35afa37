//! Refresh tokens and tokens of other clients.

use super::helpers::{code_for, count, refresh_with, RP2_SECRET};
use crate::helpers::Backend;
use crate::on_both_backends;
use crate::sso::{Sso, SECRET};

on_both_backends!(
    reused_refresh_token_revokes_its_whole_family,
    one_refresh_token_sent_twice_at_once_is_answered_once_and_kills_its_family,
    code_of_another_client_is_refused,
    refresh_token_of_another_client_is_refused_and_still_works_for_its_own,
);

async fn reused_refresh_token_revokes_its_whole_family(backend: Backend) {
    let Some(sso) = Sso::start(backend).await else {
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
    let Some(sso) = Sso::start(backend).await else {
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
    let Some(sso) = Sso::start(backend).await else {
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
    let Some(sso) = Sso::start(backend).await else {
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
