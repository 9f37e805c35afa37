//! The fake Nextcloud's sharing API (`apps/files_sharing`, OCS) against what
//! `ShareAPIController` answers, on files made over the fake's WebDAV.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::client;
use super::files_setup::{ocs_answer, Files};

/// A create request's form fields.
type Form = &'static [(&'static str, &'static str)];

fn meta(body: &Value) -> (&str, u64, &str) {
    let meta = &body["ocs"]["meta"];
    (
        meta["status"].as_str().unwrap(),
        meta["statuscode"].as_u64().unwrap(),
        meta["message"].as_str().unwrap(),
    )
}

fn day(offset_days: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    (time::OffsetDateTime::now_utc() + time::Duration::days(offset_days))
        .date()
        .format(&format)
        .unwrap()
}

/// Alice's `/Reports/q1.pdf` and `/Team/`, made over WebDAV.
async fn with_reports() -> Option<Files> {
    let f = Files::start().await?;
    f.mkcol(&f.alice, "alice/Reports").await;
    f.mkcol(&f.alice, "alice/Team").await;
    f.put(&f.alice, "alice/Reports/q1.pdf", b"%PDF-1.7 q1")
        .await;
    Some(f)
}

#[tokio::test]
async fn a_user_share_answers_nextclouds_share_object() {
    let Some(f) = with_reports().await else {
        return;
    };
    let file_id = f.file_id(&f.alice, "alice/Reports/q1.pdf").await.unwrap();
    let create = f.ocs(&f.alice, Method::POST, "").form(&[
        ("path", "/Reports/q1.pdf"),
        ("shareType", "0"),
        ("shareWith", "bob"),
        ("permissions", "31"),
    ]);
    let (status, body) = ocs_answer(create).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(meta(&body), ("ok", 200, "OK"));
    let share = &body["ocs"]["data"];
    assert!(share["id"].is_string(), "ids are strings: {share:#}");
    assert_eq!(share["share_type"], 0);
    assert_eq!(share["uid_owner"], "alice");
    assert_eq!(share["displayname_owner"], "Alice Liddell");
    assert_eq!(share["permissions"], 19, "a file loses CREATE and DELETE");
    assert_eq!(share["path"], "/Reports/q1.pdf");
    assert_eq!(share["item_type"], "file");
    assert_eq!(share["mimetype"], "application/pdf");
    assert_eq!(share["file_source"].to_string(), file_id);
    assert_eq!(share["file_target"], "/q1.pdf");
    assert_eq!(share["share_with"], "bob");
    assert_eq!(share["share_with_displayname"], "Bob Builder");
    assert_eq!(share["expiration"], Value::Null);
    assert_eq!(share["token"], Value::Null);
    assert!(share["stime"].as_i64().unwrap() > 1_700_000_000);

    let again = f.ocs(&f.alice, Method::POST, "").json(&json!({
        "path": "/Reports/q1.pdf", "shareType": 0, "shareWith": "bob",
    }));
    let (_, body) = ocs_answer(again).await;
    assert_eq!(
        body["ocs"]["data"]["id"], share["id"],
        "the same share again is the one there is"
    );
    let folder = f.ocs(&f.alice, Method::POST, "").form(&[
        ("path", "/Team"),
        ("shareType", "0"),
        ("shareWith", "bob"),
        ("permissions", "15"),
    ]);
    let (_, body) = ocs_answer(folder).await;
    assert_eq!(body["ocs"]["data"]["permissions"], 15);
    assert_eq!(body["ocs"]["data"]["mimetype"], "httpd/unix-directory");
    assert_eq!(f.nc.shares().len(), 2);
}

#[tokio::test]
async fn a_link_share_has_a_token_a_url_an_expiry_and_only_a_password_hash() {
    let Some(f) = with_reports().await else {
        return;
    };
    let password = "correct horse battery staple";
    crate::support::remember_secret(password);
    let create = f.ocs(&f.alice, Method::POST, "").json(&json!({
        "path": "/Reports/q1.pdf", "shareType": 3, "expireDate": day(7), "password": password,
    }));
    let (status, body) = ocs_answer(create).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    let share = &body["ocs"]["data"];
    assert_eq!(share["share_type"], 3);
    assert_eq!(share["permissions"], 17, "read, and federation's share bit");
    let token = share["token"].as_str().unwrap();
    assert_eq!(token.len(), 15);
    assert_eq!(share["url"], format!("{}/s/{token}", f.nc.url()));
    assert_eq!(share["expiration"], format!("{} 00:00:00", day(7)));
    let hash = share["password"].as_str().unwrap();
    assert!(hash.starts_with("3|$argon2id$"), "{hash}");
    assert_eq!(share["share_with"], hash);
    assert!(!body.to_string().contains(password));
    let stored = &f.nc.shares()[0];
    assert_eq!(stored.token.as_deref(), Some(token));
    assert_eq!(stored.expiration.as_deref(), Some(day(7).as_str()));

    let open = f
        .ocs(&f.alice, Method::POST, "")
        .form(&[("path", "/Team"), ("shareType", "3")]);
    let (_, body) = ocs_answer(open).await;
    assert_eq!(body["ocs"]["data"]["password"], Value::Null);
    assert_ne!(
        body["ocs"]["data"]["token"], token,
        "every link is a new one"
    );
}

#[tokio::test]
async fn shares_are_listed_read_and_deleted_by_their_owner_only() {
    let Some(f) = with_reports().await else {
        return;
    };
    let link = f
        .ocs(&f.alice, Method::POST, "")
        .form(&[("path", "/Reports/q1.pdf"), ("shareType", "3")]);
    let (_, body) = ocs_answer(link).await;
    let link_id = body["ocs"]["data"]["id"].as_str().unwrap().to_owned();
    let user = f.ocs(&f.alice, Method::POST, "").form(&[
        ("path", "/Team"),
        ("shareType", "0"),
        ("shareWith", "bob"),
    ]);
    ocs_answer(user).await;

    let (status, body) = ocs_answer(
        f.ocs(&f.alice, Method::GET, "")
            .query(&[("path", "/Reports/q1.pdf")]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let listed = body["ocs"]["data"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], link_id.as_str());
    let (_, all) = ocs_answer(f.ocs(&f.alice, Method::GET, "")).await;
    assert_eq!(all["ocs"]["data"].as_array().unwrap().len(), 2);
    let (_, bobs) = ocs_answer(f.ocs(&f.bob, Method::GET, "")).await;
    assert_eq!(bobs["ocs"]["data"], json!([]), "bob made none");
    let (_, with_bob) = ocs_answer(
        f.ocs(&f.bob, Method::GET, "")
            .query(&[("shared_with_me", "true")]),
    )
    .await;
    assert_eq!(with_bob["ocs"]["data"][0]["path"], "/Team");

    let (status, one) = ocs_answer(f.ocs(&f.alice, Method::GET, &format!("/{link_id}"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["ocs"]["data"][0]["id"], link_id.as_str());
    let (status, body) = ocs_answer(f.ocs(&f.bob, Method::DELETE, &format!("/{link_id}"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        meta(&body),
        ("failure", 404, "Wrong share ID, share does not exist")
    );
    let (status, body) = ocs_answer(f.ocs(&f.alice, Method::DELETE, &format!("/{link_id}"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["ocs"]["data"], json!([]));
    let (status, _) = ocs_answer(f.ocs(&f.alice, Method::GET, &format!("/{link_id}"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(f.nc.shares().len(), 1);
}

#[tokio::test]
async fn a_share_follows_its_file_through_a_move_and_goes_with_it() {
    let Some(f) = with_reports().await else {
        return;
    };
    let link = f
        .ocs(&f.alice, Method::POST, "")
        .form(&[("path", "/Reports/q1.pdf"), ("shareType", "3")]);
    let (_, body) = ocs_answer(link).await;
    let id = body["ocs"]["data"]["id"].as_str().unwrap().to_owned();
    let moved = f
        .dav(&f.alice, "MOVE", "alice/Reports/q1.pdf")
        .header("Destination", f.dav_url("alice/Team/q1-final.pdf"))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), StatusCode::CREATED);
    let (_, one) = ocs_answer(f.ocs(&f.alice, Method::GET, &format!("/{id}"))).await;
    assert_eq!(one["ocs"]["data"][0]["path"], "/Team/q1-final.pdf");

    let deleted = f
        .dav(&f.alice, "DELETE", "alice/Team/q1-final.pdf")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    f.put(
        &f.alice,
        "alice/Team/new.txt",
        b"a new file may get the freed inode",
    )
    .await;
    let (_, all) = ocs_answer(f.ocs(&f.alice, Method::GET, "")).await;
    assert_eq!(all["ocs"]["data"], json!([]));
    let (status, _) = ocs_answer(f.ocs(&f.alice, Method::GET, &format!("/{id}"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn refusals_carry_nextclouds_codes_and_messages() {
    let Some(f) = with_reports().await else {
        return;
    };
    let anonymous = client()
        .get(format!(
            "{}/ocs/v2.php/apps/files_sharing/api/v1/shares?format=json",
            f.nc.url()
        ))
        .header("OCS-APIRequest", "true");
    let (status, body) = ocs_answer(anonymous).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        meta(&body),
        ("failure", 997, "Current user is not logged in")
    );
    let forged = f.ocs("not-a-token-the-hub-issued", Method::GET, "");
    assert_eq!(ocs_answer(forged).await.0, StatusCode::UNAUTHORIZED);

    let cases: [(Form, u16, &str); 11] = [
        (
            &[("shareType", "3")],
            404,
            "Please specify a file or folder path",
        ),
        (
            &[("path", "/nope.pdf"), ("shareType", "3")],
            404,
            "Wrong path, file/folder does not exist",
        ),
        (
            &[("path", "/../bob"), ("shareType", "3")],
            404,
            "Wrong path, file/folder does not exist",
        ),
        (
            &[
                ("path", "/Team"),
                ("shareType", "0"),
                ("shareWith", "mallory"),
            ],
            404,
            "Please specify a valid account to share with",
        ),
        (
            &[
                ("path", "/Team"),
                ("shareType", "0"),
                ("shareWith", "alice"),
            ],
            403,
            "Cannot share with yourself",
        ),
        (
            &[
                ("path", "/Team"),
                ("shareType", "0"),
                ("shareWith", "bob"),
                ("permissions", "64"),
            ],
            403,
            "Valid permissions are required for sharing",
        ),
        (
            &[("path", "/Team"), ("shareType", "3"), ("permissions", "2")],
            400,
            "Share must at least have READ or CREATE permissions",
        ),
        (
            &[("path", "/Team"), ("shareType", "3"), ("permissions", "6")],
            400,
            "Share must have READ permission if UPDATE or DELETE permission is set",
        ),
        (
            &[("path", "/Team"), ("shareType", "7")],
            400,
            "Unknown share type",
        ),
        (
            &[
                ("path", "/Team"),
                ("shareType", "3"),
                ("expireDate", "2025-13-45"),
            ],
            404,
            "Invalid date. Format must be YYYY-MM-DD",
        ),
        (
            &[("path", "/Team"), ("shareType", "3"), ("password", "short")],
            400,
            "Password needs to be at least 10 characters long.",
        ),
    ];
    for (form, code, message) in cases {
        let (status, body) = ocs_answer(f.ocs(&f.alice, Method::POST, "").form(form)).await;
        assert_eq!(status.as_u16(), code, "{form:?}: {body:#}");
        assert_eq!(
            meta(&body),
            ("failure", u64::from(code), message),
            "{form:?}"
        );
    }
    for expiry in [day(-1), day(0)] {
        let past = f.ocs(&f.alice, Method::POST, "").form(&[
            ("path", "/Team"),
            ("shareType", "3"),
            ("expireDate", expiry.as_str()),
        ]);
        let (status, body) = ocs_answer(past).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(meta(&body).2, "Expiration date is in the past");
    }
    let root = f
        .ocs(&f.alice, Method::POST, "")
        .form(&[("path", "/"), ("shareType", "3")]);
    assert_eq!(
        meta(&ocs_answer(root).await.1).2,
        "You cannot share your root folder"
    );
    assert!(f.nc.shares().is_empty());

    // OCS v1 answers HTTP 200 whatever happened, the code in the envelope.
    let v1 = client()
        .post(format!(
            "{}/ocs/v1.php/apps/files_sharing/api/v1/shares?format=json",
            f.nc.url()
        ))
        .bearer_auth(&f.alice)
        .form(&[("path", "/nope.pdf"), ("shareType", "3")]);
    let (status, body) = ocs_answer(v1).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        meta(&body),
        ("failure", 404, "Wrong path, file/folder does not exist")
    );
}
