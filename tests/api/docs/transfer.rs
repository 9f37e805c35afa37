//! Large files stream through, and the upload limit holds.

use std::time::Duration;

use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::{answer, DocsApp, UPLOAD};
use crate::on_both_backends;
use crate::support::Backend;

on_both_backends!(a_file_larger_than_a_body_limit_streams_up_and_down_intact);
on_both_backends!(an_upload_over_the_limit_is_refused_and_leaves_nothing);

/// `len` bytes of a repeatable pattern, made as they are sent: never whole in memory here.
fn pattern(len: u64) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    const CHUNK: u64 = 256 * 1024;
    futures_util::stream::iter((0..len.div_ceil(CHUNK)).map(move |i| {
        let start = i * CHUNK;
        let end = (start + CHUNK).min(len);
        Ok((start..end).map(|b| (b % 253) as u8).collect())
    }))
}

fn digest_of_pattern(len: u64) -> Vec<u8> {
    let mut hasher = Sha256::new();
    let mut start = 0;
    while start < len {
        let end = (start + 1024 * 1024).min(len);
        hasher.update((start..end).map(|b| (b % 253) as u8).collect::<Vec<_>>());
        start = end;
    }
    hasher.finalize().to_vec()
}

/// A multipart upload of a streamed `len`-byte file named `name` into `/`.
pub async fn upload_stream(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    name: &str,
    len: u64,
) -> reqwest::Response {
    let part =
        reqwest::multipart::Part::stream_with_length(reqwest::Body::wrap_stream(pattern(len)), len)
            .file_name(name.to_owned());
    let form = reqwest::multipart::Form::new()
        .text("path", "/")
        .part("file", part);
    http.post(url)
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

async fn a_file_larger_than_a_body_limit_streams_up_and_down_intact(backend: Backend) {
    let Some(d) = DocsApp::start(backend).await else {
        return;
    };
    // 48 MiB: far over the workspace's 1 MiB JSON body limit, under this test's 64 MiB uploads.
    let len: u64 = 48 * 1024 * 1024;
    let response = upload_stream(d.http(), &d.sso.url(UPLOAD), &d.alice, "big.bin", len).await;
    let (status, entry) = answer(response).await;
    assert_eq!(status, 201, "{entry:#}");
    assert_eq!(entry["size"], len);
    let response = d
        .http()
        .get(d.sso.url("/api/v1/docs/download?path=/big.bin"))
        .bearer_auth(&d.alice)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-length"],
        len.to_string().as_str()
    );
    let mut hasher = Sha256::new();
    let mut received = 0u64;
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.unwrap();
        received += chunk.len() as u64;
        hasher.update(&chunk);
    }
    assert_eq!(received, len);
    assert_eq!(hasher.finalize().to_vec(), digest_of_pattern(len));
}

async fn an_upload_over_the_limit_is_refused_and_leaves_nothing(backend: Backend) {
    let Some(d) = DocsApp::start_with(backend, Default::default(), |c| {
        c.set("docs.max_upload_mib", 1);
    })
    .await
    else {
        return;
    };
    // Declared too large: refused before a byte is read.
    let (status, refused) = d
        .upload(&d.alice, "/", "big.bin", vec![7; 3 * 1024 * 1024], false)
        .await;
    assert_eq!(status, 413, "{refused:#}");
    assert_eq!(refused["error"], "body_too_large");
    // Not declared (chunked), over the limit while streaming: refused, the part removed.
    let part =
        reqwest::multipart::Part::stream(reqwest::Body::wrap_stream(pattern(1024 * 1024 + 1)))
            .file_name("streamed.bin");
    let form = reqwest::multipart::Form::new()
        .text("path", "/")
        .part("file", part);
    let response = d
        .http()
        .post(d.sso.url(UPLOAD))
        .bearer_auth(&d.alice)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, refused) = answer(response).await;
    assert_eq!(status, 413, "{refused:#}");
    assert!(!d.on_disk("alice", "/big.bin").exists());
    assert!(
        d.gone_from_disk("alice", "/streamed.bin", Duration::from_secs(30))
            .await,
        "a refused upload left its part"
    );
    // Just under it: taken.
    let (status, entry) = d
        .upload(&d.alice, "/", "fits.bin", vec![7; 1024 * 1024], false)
        .await;
    assert_eq!(status, 201, "{entry:#}");
}
