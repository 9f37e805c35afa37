//! Join tokens: LiveKit access tokens for a room of the caller's company, checked by LiveKit's
//! own verifier (Python `livekit-api`), with the host's grants for the host only.

use serde_json::json;

use super::{MeetApp, TOKEN};
use crate::on_both_backends;
use crate::support::Backend;

on_both_backends!(
    members_of_the_company_get_tokens_livekit_accepts,
    a_token_without_the_meet_scope_is_refused_and_meet_off_is_404,
);

async fn members_of_the_company_get_tokens_livekit_accepts(backend: Backend) {
    let Some(m) = MeetApp::start(backend).await else {
        return;
    };
    let id = m
        .room(
            &m.alice,
            json!({"name": "Retro", "participants": ["bob@acme.example"]}),
        )
        .await;
    let join = |who, name: Option<&str>| {
        let mut body = json!({"room_id": id});
        if let Some(name) = name {
            body["user_name"] = json!(name);
        }
        m.call(who, "POST", TOKEN, Some(body))
    };

    // Bob, invited: a participant's grants, his own identity and name.
    let (status, bob) = join(&m.bob, None).await;
    assert_eq!(status, 200, "{bob:#}");
    assert_eq!(bob["ws_url"], m.ws_url());
    assert_eq!(bob["room_id"], id.as_str());
    assert_eq!(bob["identity"], m.bob_id());
    let token = bob["token"].as_str().unwrap();
    let claims = m.livekit_claims(token);
    assert_eq!(claims["iss"], super::API_KEY);
    assert_eq!(claims["sub"], m.bob_id());
    assert_eq!(claims["name"], "Name of bob@acme.example");
    let video = &claims["video"];
    assert_eq!(video["room"], id.as_str());
    assert_eq!(video["roomJoin"], true);
    assert_eq!(video["canPublish"], true);
    assert_eq!(video["canSubscribe"], true);
    assert_eq!(video["canPublishData"], true);
    assert!(
        video.get("roomAdmin").is_none_or(|v| v == false),
        "{video:#}"
    );
    assert!(
        video.get("roomRecord").is_none_or(|v| v == false),
        "{video:#}"
    );
    let lifetime = claims["exp"].as_i64().unwrap() - claims["nbf"].as_i64().unwrap();
    assert_eq!(lifetime, super::TOKEN_TTL as i64);
    // LiveKit's own verifier takes it, with these grants.
    let verified = m.verify_with_livekit_sdk(token).await;
    assert_eq!(verified["identity"], m.bob_id());
    assert_eq!(verified["video"]["room"], id.as_str());
    assert_eq!(verified["video"]["room_join"], true);
    // The SDK reads a grant LiveKit leaves out as `None`: not given.
    assert_ne!(verified["video"]["room_admin"], true);
    assert_ne!(verified["video"]["room_record"], true);

    // Carol, of the company but not invited, may join too; with a name of her choosing.
    let (status, carol) = join(&m.carol, Some("Carol (guest desk)")).await;
    assert_eq!(status, 200, "{carol:#}");
    assert_eq!(
        m.livekit_claims(carol["token"].as_str().unwrap())["name"],
        "Carol (guest desk)"
    );

    // The host's token administers and records the room, and LiveKit agrees.
    let (status, alice) = join(&m.alice, None).await;
    assert_eq!(status, 200);
    let verified = m
        .verify_with_livekit_sdk(alice["token"].as_str().unwrap())
        .await;
    assert_eq!(verified["video"]["room_admin"], true);
    assert_eq!(verified["video"]["room_record"], true);

    // Bad requests name the field.
    for (body, field) in [
        (json!({}), "room_id"),
        (json!({"room_id": id, "user_name": ""}), "user_name"),
        (json!({"room_id": 5}), "room_id"),
    ] {
        let (status, answer) = m.call(&m.bob, "POST", TOKEN, Some(body.clone())).await;
        assert_eq!(status, 422, "{body}: {answer:#}");
        assert_eq!(answer["field"], field, "{body}");
    }
}

async fn a_token_without_the_meet_scope_is_refused_and_meet_off_is_404(backend: Backend) {
    let Some(m) = MeetApp::start(backend).await else {
        return;
    };
    let id = m.room(&m.alice, json!({"name": "Scoped"})).await;
    // A relying party's token for alice that does not carry `meet`.
    let token = m.oidc_token_without_meet().await;
    let response = reqwest::Client::new()
        .post(m.sso.url(TOKEN))
        .bearer_auth(&token)
        .json(&json!({"room_id": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.contains("insufficient_scope"), "{challenge}");
    assert!(challenge.contains("scope=\"meet\""), "{challenge}");

    // Without [meet], the routes are not there.
    let Some(off) = crate::support::TestApp::builder()
        .backend(backend)
        .start_sso()
        .await
    else {
        return;
    };
    let response = reqwest::Client::new()
        .post(off.url(TOKEN))
        .json(&json!({"room_id": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let discovery: serde_json::Value = reqwest::get(off.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let scopes = discovery["scopes_supported"].as_array().unwrap();
    assert!(!scopes.contains(&json!("meet")), "{scopes:?}");
}
