//! Nextcloud's WebDAV as the fake serves it (tests/webdav, through the fake's pass-through),
//! driven as a Nextcloud client drives the real one, with tokens the real hub issued.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::header::CONTENT_TYPE;
use reqwest::StatusCode;
use sha2::{Digest, Sha256};

use super::client;
use super::files_setup::{between, header, sabre_message, Files, UID_CLAIM};
use crate::fakes::Fault;

const PROPFIND_ID: &str = r#"<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:prop><oc:fileid/><oc:size/><oc:permissions/><oc:unknown/></d:prop></d:propfind>"#;

#[tokio::test]
async fn every_request_is_checked_at_the_hubs_userinfo_and_a_revoked_token_at_once() {
    let Some(f) = Files::start().await else {
        return;
    };
    let url = f.dav_url("alice/");
    let anonymous = client().request(propfind(), &url).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let challenges: Vec<_> = anonymous
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        challenges.contains(&r#"Bearer realm="Nextcloud""#.to_owned()),
        "{challenges:?}"
    );
    let basic = client()
        .request(propfind(), &url)
        .basic_auth("alice", Some("pw"));
    assert_eq!(
        basic.send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let forged = f.dav("not-a-token-the-hub-issued", "PROPFIND", "alice/");
    assert_eq!(
        forged.send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let own = f.dav(&f.alice, "PROPFIND", "alice/").header("Depth", "0");
    assert_eq!(own.send().await.unwrap().status(), StatusCode::MULTI_STATUS);
    assert!(
        f.dav.user_dir("alice").is_dir(),
        "the home is made at the first login"
    );

    // A relying party's token, revoked: refused on the next request, nothing is cached.
    let rp = f.sso.default_rp();
    let sign_in = f.sso.sign_in(&f.sso.browser(), &rp, &["profile"]).await;
    let token = sign_in.access_token();
    assert_eq!(f.sso.userinfo_json(&token).await[UID_CLAIM], "alice");
    let listing = || f.dav(&token, "PROPFIND", "alice/").header("Depth", "0");
    assert_eq!(
        listing().send().await.unwrap().status(),
        StatusCode::MULTI_STATUS
    );
    let revoked = client()
        .post(f.sso.url("/api/v1/sso/revoke"))
        .basic_auth("rp", Some(crate::support::SECRET))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(
        listing().send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_user_never_reaches_another_users_files() {
    let Some(f) = Files::start().await else {
        return;
    };
    f.put(&f.alice, "alice/secret.txt", b"alice only").await;
    f.put(&f.bob, "bob/mine.txt", b"bob's").await;

    // Another home is an empty collection, as Nextcloud's RootCollection makes it.
    let home = f.dav(&f.bob, "PROPFIND", "alice/").header("Depth", "1");
    let listing = home.send().await.unwrap();
    assert_eq!(listing.status(), StatusCode::MULTI_STATUS);
    assert!(!listing.text().await.unwrap().contains("secret.txt"));
    let read = f
        .dav(&f.bob, "GET", "alice/secret.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::NOT_FOUND);
    let write = f
        .dav(&f.bob, "PUT", "alice/planted.txt")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), StatusCode::FORBIDDEN);
    let folder = f
        .dav(&f.bob, "MKCOL", "alice/planted")
        .send()
        .await
        .unwrap();
    assert_eq!(folder.status(), StatusCode::FORBIDDEN);
    let delete = f
        .dav(&f.bob, "DELETE", "alice/secret.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), StatusCode::NOT_FOUND);
    let files_root = f.dav(&f.bob, "PROPFIND", "").header("Depth", "1");
    assert_eq!(
        files_root.send().await.unwrap().status(),
        StatusCode::METHOD_NOT_ALLOWED,
        "the homes are not listed"
    );

    // Nor by a Destination: into another home, climbing out with `..`, or out of DAV.
    for destination in [
        f.dav_url("alice/stolen.txt"),
        f.dav_url("bob/../alice/stolen.txt"),
        f.dav_url("bob/../../../../../etc/stolen.txt"),
    ] {
        for method in ["MOVE", "COPY"] {
            let response = f
                .dav(&f.bob, method, "bob/mine.txt")
                .header("Destination", &destination)
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                StatusCode::FORBIDDEN,
                "{method} {destination}"
            );
        }
    }
    let names: Vec<_> = std::fs::read_dir(f.dav.user_dir("alice"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["secret.txt"]);
    assert!(f.dav.user_dir("bob").join("mine.txt").is_file());
}

#[tokio::test]
async fn file_ids_stay_through_moves_copies_get_new_ones_and_search_finds_them() {
    let Some(f) = Files::start().await else {
        return;
    };
    f.mkcol(&f.alice, "alice/Reports").await;
    let put_id = f.put(&f.alice, "alice/q1.pdf", b"%PDF-1.7 report").await;
    let id = f.file_id(&f.alice, "alice/q1.pdf").await.unwrap();
    assert!(
        put_id.starts_with(&format!("{:0>8}", id)),
        "{put_id} vs {id}"
    );

    let props = f
        .dav(&f.alice, "PROPFIND", "alice/q1.pdf")
        .header("Depth", "0");
    let body = props
        .body(PROPFIND_ID)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(between(&body, "permissions>", "<"), "RGDNVW");
    assert_eq!(between(&body, "size>", "<"), "15");
    assert!(
        body.contains("404 Not Found"),
        "an unknown property: {body}"
    );
    let folder = f
        .dav(&f.alice, "PROPFIND", "alice/Reports")
        .header("Depth", "0");
    let body = folder
        .body(PROPFIND_ID)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(between(&body, "permissions>", "<"), "RGDNVCK");

    let moved = f
        .dav(&f.alice, "MOVE", "alice/q1.pdf")
        .header("Destination", f.dav_url("alice/Reports/2025-q1.pdf"))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), StatusCode::CREATED);
    assert_eq!(
        f.file_id(&f.alice, "alice/Reports/2025-q1.pdf").await,
        Some(id.clone())
    );
    let copied = f
        .dav(&f.alice, "COPY", "alice/Reports/2025-q1.pdf")
        .header("Destination", f.dav_url("alice/copy.pdf"))
        .send()
        .await
        .unwrap();
    assert_eq!(copied.status(), StatusCode::CREATED);
    let copy_id = f.file_id(&f.alice, "alice/copy.pdf").await.unwrap();
    assert_ne!(copy_id, id);

    let (status, body) = search(&f, &f.alice, "/files/alice", &id).await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    assert_eq!(
        between(&body, "href>", "<"),
        "/remote.php/dav/files/alice/Reports/2025-q1.pdf"
    );
    assert!(body.contains(&format!("fileid>{id}<")), "{body}");
    let (_, none) = search(&f, &f.alice, "/files/alice", "999999999").await;
    assert!(
        !none.contains("response"),
        "nothing found is an empty multistatus: {none}"
    );
    let (status, _) = search(&f, &f.bob, "/files/alice", &id).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "another user's files are no scope"
    );
    let (_, bobs) = search(&f, &f.bob, "/files/bob", &id).await;
    assert!(
        !bobs.contains("response"),
        "bob's own files do not hold alice's: {bobs}"
    );
}

#[tokio::test]
async fn the_quota_refuses_what_does_not_fit_and_keeps_nothing_of_it() {
    let Some(f) = Files::with_quota(Some(1 << 20)).await else {
        return;
    };
    let chunk = Bytes::from(vec![7u8; 100 * 1024]);
    let upload = |path: &str, chunks: usize, chunked: bool| {
        let request = f.dav(&f.alice, "PUT", path);
        if chunked {
            let chunk = chunk.clone();
            let stream = futures_util::stream::iter(
                (0..chunks).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
            );
            request.body(reqwest::Body::wrap_stream(stream))
        } else {
            request.body(chunk.repeat(chunks))
        }
    };
    let first = upload("alice/first.bin", 6, false).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);

    let too_big = upload("alice/known.bin", 6, false).send().await.unwrap();
    assert_eq!(too_big.status(), StatusCode::INSUFFICIENT_STORAGE);
    assert!(sabre_message(too_big)
        .await
        .starts_with("Insufficient space"));
    let too_big = upload("alice/streamed.bin", 6, true).send().await.unwrap();
    assert_eq!(too_big.status(), StatusCode::INSUFFICIENT_STORAGE);
    let home = f.dav.user_dir("alice");
    assert!(!home.join("known.bin").exists() && !home.join("streamed.bin").exists());

    let fits = upload("alice/streamed.bin", 3, true).send().await.unwrap();
    assert_eq!(fits.status(), StatusCode::CREATED);
    assert_eq!(
        std::fs::metadata(home.join("streamed.bin")).unwrap().len(),
        300 * 1024
    );
}

#[tokio::test]
async fn a_locked_file_refuses_writes_without_its_lock_token() {
    let Some(f) = Files::start().await else {
        return;
    };
    f.put(&f.alice, "alice/plan.txt", b"v1").await;
    let lock = f
        .dav(&f.alice, "LOCK", "alice/plan.txt")
        .header("Timeout", "Second-60")
        .header(CONTENT_TYPE, "application/xml")
        .body(r#"<?xml version="1.0"?><d:lockinfo xmlns:d="DAV:"><d:lockscope><d:exclusive/></d:lockscope><d:locktype><d:write/></d:locktype><d:owner>alice</d:owner></d:lockinfo>"#)
        .send()
        .await
        .unwrap();
    assert_eq!(lock.status(), StatusCode::OK);
    let token = header(&lock, "lock-token");

    let blind = f
        .dav(&f.alice, "PUT", "alice/plan.txt")
        .body("v2")
        .send()
        .await
        .unwrap();
    assert_eq!(blind.status(), StatusCode::LOCKED);
    let delete = f
        .dav(&f.alice, "DELETE", "alice/plan.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), StatusCode::LOCKED);
    let holder = f
        .dav(&f.alice, "PUT", "alice/plan.txt")
        .header("If", format!("({token})"))
        .body("v3")
        .send()
        .await
        .unwrap();
    assert_eq!(holder.status(), StatusCode::NO_CONTENT);
    let unlock = f
        .dav(&f.alice, "UNLOCK", "alice/plan.txt")
        .header("Lock-Token", &token);
    assert_eq!(
        unlock.send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    let after = f
        .dav(&f.alice, "PUT", "alice/plan.txt")
        .body("v4")
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        std::fs::read(f.dav.user_dir("alice").join("plan.txt")).unwrap(),
        b"v4"
    );
}

#[tokio::test]
async fn a_chunked_64_mib_upload_and_its_download_stream_through_the_fake() {
    let Some(f) = Files::start().await else {
        return;
    };
    const MIB: usize = 1 << 20;
    let block = |i: usize| Bytes::from(vec![(i % 251) as u8; MIB]);
    let mut expected = Sha256::new();
    (0..64).for_each(|i| expected.update(block(i)));
    let stream =
        futures_util::stream::iter((0..64).map(move |i| Ok::<_, std::io::Error>(block(i))));
    let put = f
        .dav(&f.alice, "PUT", "alice/big.bin")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::CREATED);
    let on_disk = std::fs::metadata(f.dav.user_dir("alice").join("big.bin")).unwrap();
    assert_eq!(on_disk.len(), 64 * MIB as u64);

    let get = f
        .dav(&f.alice, "GET", "alice/big.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), StatusCode::OK);
    assert_eq!(header(&get, "content-length"), (64 * MIB).to_string());
    let mut received = Sha256::new();
    let mut body = get.bytes_stream();
    while let Some(chunk) = body.next().await {
        received.update(chunk.unwrap());
    }
    assert_eq!(received.finalize(), expected.finalize());

    let range = f
        .dav(&f.alice, "GET", "alice/big.bin")
        .header("Range", format!("bytes={}-{}", 3 * MIB - 2, 3 * MIB + 1))
        .send()
        .await
        .unwrap();
    assert_eq!(range.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(range.bytes().await.unwrap().as_ref(), [2, 2, 3, 3]);
}

#[tokio::test]
async fn the_fault_switch_stands_in_front_of_the_files() {
    let Some(f) = Files::start().await else {
        return;
    };
    f.nc.set_fault(Fault::ServerError);
    let failing = f.dav(&f.alice, "PROPFIND", "alice/").header("Depth", "0");
    assert_eq!(
        failing.send().await.unwrap().status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    f.nc.set_fault(Fault::Hang(Duration::from_millis(500)));
    let hurried = f
        .dav(&f.alice, "PROPFIND", "alice/")
        .header("Depth", "0")
        .timeout(Duration::from_millis(100));
    assert!(hurried.send().await.unwrap_err().is_timeout());
    f.nc.set_fault(Fault::None);
    let fine = f.dav(&f.alice, "PROPFIND", "alice/").header("Depth", "0");
    assert_eq!(
        fine.send().await.unwrap().status(),
        StatusCode::MULTI_STATUS
    );
    assert!(f
        .nc
        .requests()
        .iter()
        .any(|r| r == "PROPFIND /remote.php/dav/files/alice/"));
}

fn propfind() -> reqwest::Method {
    reqwest::Method::from_bytes(b"PROPFIND").unwrap()
}

/// SEARCH by `oc:fileid`, as Nextcloud's clients send it to `/remote.php/dav/`.
async fn search(f: &Files, token: &str, scope: &str, file_id: &str) -> (StatusCode, String) {
    let body = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<d:searchrequest xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns">
  <d:basicsearch>
    <d:select><d:prop><d:getetag/><oc:fileid/><oc:size/></d:prop></d:select>
    <d:from><d:scope><d:href>{scope}</d:href><d:depth>infinity</d:depth></d:scope></d:from>
    <d:where><d:eq><d:prop><oc:fileid/></d:prop><d:literal>{file_id}</d:literal></d:eq></d:where>
    <d:orderby/>
  </d:basicsearch>
</d:searchrequest>"#
    );
    let response = client()
        .request(
            reqwest::Method::from_bytes(b"SEARCH").unwrap(),
            format!("{}/remote.php/dav/", f.nc.url()),
        )
        .bearer_auth(token)
        .header(CONTENT_TYPE, "text/xml; charset=utf-8")
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}
