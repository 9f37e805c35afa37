//! Rooms: made, listed, read, changed and ended through `/api/v1/meet`, by who may.

use serde_json::{json, Value};

use super::{MeetApp, ROOMS};
use crate::on_both_backends;
use crate::support::Backend;

on_both_backends!(
    a_host_makes_a_room_and_gets_its_join_details,
    the_listing_shows_hosted_and_invited_rooms_newest_first_in_pages,
    only_the_host_changes_or_ends_a_room,
    bad_fields_are_named_and_change_nothing,
);

async fn a_host_makes_a_room_and_gets_its_join_details(backend: Backend) {
    let Some(m) = MeetApp::start(backend).await else {
        return;
    };
    let (status, room) = m
        .call(
            &m.alice,
            "POST",
            ROOMS,
            Some(json!({
                "name": "  Weekly sync ",
                "scheduled_time": "2026-12-07T10:00:00+01:00",
                "duration_minutes": 30,
                "participants": ["Bob@Acme.example", "carol@acme.example", "bob@acme.example"]
            })),
        )
        .await;
    assert_eq!(status, 201, "{room:#}");
    let id = room["room_id"].as_str().unwrap();
    assert!(
        id.starts_with("bhm-") && id.len() == "bhm-abcde-fghij-klmno".len(),
        "{id}"
    );
    assert_eq!(room["name"], "Weekly sync");
    assert_eq!(
        room["join_url"],
        format!("https://meet.acme.example/join/{id}")
    );
    assert_eq!(room["ws_url"], m.ws_url());
    assert_eq!(room["status"], "scheduled");
    assert_eq!(room["scheduled_time"], "2026-12-07T09:00:00Z");
    assert_eq!(room["duration_minutes"], 30);
    assert_eq!(
        room["participants"],
        json!(["bob@acme.example", "carol@acme.example"])
    );
    assert_eq!(room["host"], m.alice_id());
    // The host's token, for this room, with the host's grants.
    let grant = m.livekit_claims(room["host_token"].as_str().unwrap());
    assert_eq!(grant["sub"], m.alice_id());
    assert_eq!(grant["video"]["room"], id);
    assert_eq!(grant["video"]["roomJoin"], true);
    assert_eq!(grant["video"]["roomAdmin"], true);
    assert_eq!(grant["video"]["roomRecord"], true);

    // Read back, without a token in it.
    let (status, read) = m.call(&m.bob, "GET", &format!("{ROOMS}/{id}"), None).await;
    assert_eq!(status, 200, "{read:#}");
    assert!(read.get("host_token").is_none());
    assert_eq!(read["name"], "Weekly sync");
    // A room without a time is ready now.
    let (status, now) = m
        .call(&m.alice, "POST", ROOMS, Some(json!({"name": "Quick call"})))
        .await;
    assert_eq!(status, 201);
    assert!(now["scheduled_time"].is_null());
    assert_eq!(now["participants"], json!([]));
}

async fn the_listing_shows_hosted_and_invited_rooms_newest_first_in_pages(backend: Backend) {
    let Some(m) = MeetApp::start(backend).await else {
        return;
    };
    let mut made = Vec::new();
    for i in 0..5 {
        let invited = if i % 2 == 0 {
            json!(["bob@acme.example"])
        } else {
            json!([])
        };
        let (status, room) = m
            .call(
                &m.alice,
                "POST",
                ROOMS,
                Some(json!({"name": format!("Room {i}"), "participants": invited})),
            )
            .await;
        assert_eq!(status, 201);
        made.push(room["room_id"].as_str().unwrap().to_owned());
        m.tick();
    }
    let (_, carols) = m
        .call(&m.carol, "POST", ROOMS, Some(json!({"name": "Carol's"})))
        .await;

    // Alice hosts five: newest first, two to a page.
    let mut seen = Vec::new();
    let mut path = format!("{ROOMS}?limit=2");
    loop {
        let (status, page) = m.call(&m.alice, "GET", &path, None).await;
        assert_eq!(status, 200, "{page:#}");
        let rooms = page["rooms"].as_array().unwrap();
        assert!(rooms.len() <= 2);
        seen.extend(
            rooms
                .iter()
                .map(|r| r["room_id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("{ROOMS}?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    let newest_first: Vec<String> = made.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);

    // Bob is invited to rooms 0, 2 and 4, and hosts none.
    let (_, bobs) = m.call(&m.bob, "GET", ROOMS, None).await;
    let bobs: Vec<&str> = ids(&bobs);
    assert_eq!(bobs, [&made[4], &made[2], &made[0]]);
    // Carol sees only her own; the company admin sees all six.
    let (_, carol_sees) = m.call(&m.carol, "GET", ROOMS, None).await;
    assert_eq!(ids(&carol_sees), [carols["room_id"].as_str().unwrap()]);
    let (_, admin_sees) = m.call(&m.admin, "GET", ROOMS, None).await;
    assert_eq!(ids(&admin_sees).len(), 6);

    // By status.
    let (status, ended) = m
        .call(&m.alice, "DELETE", &format!("{ROOMS}/{}", made[1]), None)
        .await;
    assert_eq!(status, 200, "{ended:#}");
    let (_, completed) = m
        .call(&m.alice, "GET", &format!("{ROOMS}?status=completed"), None)
        .await;
    assert_eq!(ids(&completed), [made[1].as_str()]);
    let (_, scheduled) = m
        .call(&m.alice, "GET", &format!("{ROOMS}?status=scheduled"), None)
        .await;
    assert_eq!(ids(&scheduled).len(), 4);
    for bad in [
        "status=open",
        "limit=0",
        "limit=101",
        "cursor=nope",
        "colour=red",
    ] {
        let (status, body) = m
            .call(&m.alice, "GET", &format!("{ROOMS}?{bad}"), None)
            .await;
        assert_eq!(status, 422, "{bad}: {body:#}");
        assert_eq!(body["error"], "invalid_field", "{bad}");
    }
}

fn ids(page: &Value) -> Vec<&str> {
    page["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["room_id"].as_str().unwrap())
        .collect()
}

async fn only_the_host_changes_or_ends_a_room(backend: Backend) {
    let Some(m) = MeetApp::start(backend).await else {
        return;
    };
    let id = m.room(&m.alice, json!({"name": "Planning"})).await;
    let path = format!("{ROOMS}/{id}");
    let change = json!({"name": "Planning, moved", "duration_minutes": 45,
                        "participants": ["bob@acme.example"]});

    for member in [&m.bob, &m.carol, &m.admin] {
        let (status, body) = m.call(member, "PATCH", &path, Some(change.clone())).await;
        assert_eq!(status, 403, "{body:#}");
        assert_eq!(body["error"], "forbidden");
        let (status, _) = m.call(member, "DELETE", &path, None).await;
        assert_eq!(status, 403);
    }
    assert_eq!(m.room_json(&id).await["name"], "Planning");
    assert!(m.livekit_deleted().is_empty());

    let (status, changed) = m.call(&m.alice, "PATCH", &path, Some(change)).await;
    assert_eq!(status, 200, "{changed:#}");
    assert_eq!(changed["name"], "Planning, moved");
    assert_eq!(changed["duration_minutes"], 45);
    assert_eq!(changed["participants"], json!(["bob@acme.example"]));
    // `null` clears; a field not sent stays.
    let (_, cleared) = m
        .call(
            &m.alice,
            "PATCH",
            &path,
            Some(json!({"duration_minutes": null})),
        )
        .await;
    assert!(cleared["duration_minutes"].is_null());
    assert_eq!(cleared["name"], "Planning, moved");

    // Ending it closes it in LiveKit, once; a second DELETE changes nothing.
    let (status, ended) = m.call(&m.alice, "DELETE", &path, None).await;
    assert_eq!(status, 200, "{ended:#}");
    assert_eq!(ended["status"], "completed");
    assert_eq!(m.livekit_deleted(), std::slice::from_ref(&id));
    let (status, again) = m.call(&m.alice, "DELETE", &path, None).await;
    assert_eq!(status, 200);
    assert_eq!(again["status"], "completed");
    // Ending it is in the audit trail, once.
    let events = crate::audit::trail(&m.sso.h, &["--kind", "meet_room_ended"]).await;
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["user_id"], m.alice_id());
    assert_eq!(events[0]["company_id"], crate::support::ACME);
    assert_eq!(events[0]["detail"]["room"], id.as_str());
    assert_eq!(m.livekit_deleted(), std::slice::from_ref(&id));
    // An ended room cannot be changed or joined.
    let (status, body) = m
        .call(&m.alice, "PATCH", &path, Some(json!({"name": "Again"})))
        .await;
    assert_eq!(status, 409, "{body:#}");
    let (status, _) = m
        .call(&m.bob, "POST", super::TOKEN, Some(json!({"room_id": id})))
        .await;
    assert_eq!(status, 409);
}

async fn bad_fields_are_named_and_change_nothing(backend: Backend) {
    let Some(m) = MeetApp::start(backend).await else {
        return;
    };
    let cases = [
        (json!({}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"name": 7}), "name"),
        (json!({"name": "x".repeat(201)}), "name"),
        (
            json!({"name": "ok", "scheduled_time": "next tuesday"}),
            "scheduled_time",
        ),
        (
            json!({"name": "ok", "duration_minutes": 0}),
            "duration_minutes",
        ),
        (
            json!({"name": "ok", "duration_minutes": "30"}),
            "duration_minutes",
        ),
        (
            json!({"name": "ok", "participants": ["ann@acme.example", "nope"]}),
            "participants[1]",
        ),
        (json!({"name": "ok", "colour": "red"}), "colour"),
    ];
    for (body, field) in cases {
        let (status, answer) = m.call(&m.alice, "POST", ROOMS, Some(body.clone())).await;
        assert_eq!(status, 422, "{body}: {answer:#}");
        assert_eq!(answer["error"], "invalid_field", "{body}");
        assert_eq!(answer["field"], field, "{body}: {answer:#}");
        assert!(answer["request_id"].is_string());
    }
    let (_, listed) = m.call(&m.alice, "GET", ROOMS, None).await;
    assert_eq!(ids(&listed).len(), 0);

    let id = m.room(&m.alice, json!({"name": "Kept"})).await;
    let (status, _) = m
        .call(
            &m.alice,
            "PATCH",
            &format!("{ROOMS}/{id}"),
            Some(json!({"name": "New", "participants": ["bad"]})),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(m.room_json(&id).await["name"], "Kept");
    // Not a room id at all, and a room id that is nobody's.
    for path in [
        format!("{ROOMS}/..%2F..%2Fadmin"),
        format!("{ROOMS}/bhm-aaaaa-aaaaa-aaaaa"),
    ] {
        let (status, body) = m.call(&m.alice, "GET", &path, None).await;
        assert_eq!(status, 404, "{path}: {body:#}");
        assert_eq!(body["error"], "not_found");
    }
}

on_both_backends!(livekit_down_or_hanging_is_a_503_and_the_room_is_unchanged);

async fn livekit_down_or_hanging_is_a_503_and_the_room_is_unchanged(backend: Backend) {
    let Some(m) = MeetApp::start(backend).await else {
        return;
    };
    let id = m.room(&m.alice, json!({"name": "Resilient"})).await;
    let path = format!("{ROOMS}/{id}");
    m.livekit.stop().await;
    let (status, body) = m.call(&m.alice, "DELETE", &path, None).await;
    assert_eq!(status, 503, "{body:#}");
    assert_eq!(body["error"], "service_unavailable");
    assert_eq!(body["service"], "livekit");
    assert_eq!(m.room_json(&id).await["status"], "scheduled");
    // Joining needs no call to LiveKit: tokens are made here, LiveKit down or not.
    let (status, _) = m
        .call(&m.bob, "POST", super::TOKEN, Some(json!({"room_id": id})))
        .await;
    assert_eq!(status, 200);

    // Answering too slowly is the same as not answering: a 503 after the timeout (2 s), not a
    // request that hangs with LiveKit.
    m.livekit.restart().await;
    m.livekit
        .set_fault(crate::fakes::Fault::Hang(std::time::Duration::from_secs(
            30,
        )));
    let asked = std::time::Instant::now();
    let (status, _) = m.call(&m.alice, "DELETE", &path, None).await;
    assert_eq!(status, 503);
    assert!(asked.elapsed() < std::time::Duration::from_secs(20));
    assert_eq!(m.room_json(&id).await["status"], "scheduled");

    // Back: the host ends it.
    m.livekit.set_fault(crate::fakes::Fault::None);
    let (status, ended) = m.call(&m.alice, "DELETE", &path, None).await;
    assert_eq!(status, 200, "{ended:#}");
    assert_eq!(ended["status"], "completed");
}
