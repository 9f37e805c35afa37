//! A 1 GiB file up and down through a bheem-sso process of its own: the process's peak memory
//! (`VmHWM`) grows by a few MiB at most, so the file was never held whole. The process runs as
//! operators run it (the release of this build, a configuration file, SQLite).

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value;

use super::transfer::upload_stream;
use super::USERINFO;
use crate::cli::{bheem_sso, run};
use crate::fakes::nextcloud::{FakeNextcloud, FilesBackend, NcUser};
use crate::support::remember_secret;
use crate::support::{DavOptions, DavServer};

const GIB: u64 = 1024 * 1024 * 1024;
/// "A few MiB": what the chunks in flight, connection buffers and allocator slack may add.
const MAX_GROWTH_KIB: u64 = 16 * 1024;
const PASSWORD: &str = "memory test password";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The process's peak resident memory so far, in KiB.
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/<pid>/status")
}

/// Downloads `/name`, counting the bytes as they come.
async fn download(http: &reqwest::Client, base: &str, token: &str, name: &str) -> u64 {
    let response = http
        .get(format!("{base}/api/v1/docs/download?path=/{name}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut received = 0u64;
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        received += chunk.unwrap().len() as u64;
    }
    received
}

#[tokio::test]
async fn a_gibibyte_up_and_down_does_not_grow_the_process() {
    let nc = FakeNextcloud::start("admin", "memory-nextcloud-admin").await;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    // The stall timeout is generous: this test measures memory, and a WebDAV server writing a
    // gibibyte on a busy disk can be silent for tens of seconds (the stall itself is tested in
    // docs::failures).
    std::fs::write(
        dir.path().join("sso.toml"),
        format!(
            "issuer = \"{base}\"\nlisten = \"127.0.0.1:{port}\"\n\
             database_url = \"sqlite://data/sso.db\"\n\n\
             [docs]\nnextcloud_url = \"{}\"\nuid_claim = \"preferred_username\"\n\
             max_upload_mib = 2048\nrequest_timeout_seconds = 120\n",
            nc.url()
        ),
    )
    .unwrap();
    let config = ["--config", "sso.toml"];
    assert!(run(dir.path(), &[&config[..], &["migrate"]].concat(), "")
        .status
        .success());
    let added = run(
        dir.path(),
        &[
            &config[..],
            &[
                "users",
                "add",
                "--email",
                "alice@acme.example",
                "--name",
                "Alice",
                "--username",
                "alice",
                "--company-id",
                crate::support::ACME,
            ],
        ]
        .concat(),
        &format!("{PASSWORD}\n"),
    );
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let mut child = bheem_sso(dir.path())
        .args(config)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let server = Server(child);
    std::thread::spawn(move || for _ in BufReader::new(stderr).lines().map_while(Result::ok) {});
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let ready = http.get(format!("{base}/health/ready")).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        assert!(Instant::now() < deadline, "bheem-sso did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let Some(dav) = DavServer::start(DavOptions {
        userinfo_url: format!("{base}{USERINFO}"),
        uid_claim: "preferred_username".into(),
        quota_bytes: None,
    })
    .await
    else {
        return;
    };
    nc.serve_files(FilesBackend {
        dav_url: dav.url().to_owned(),
        root: dav.root().to_path_buf(),
        userinfo_url: format!("{base}{USERINFO}"),
        uid_claim: "preferred_username".into(),
    });
    nc.put_user(NcUser::new("alice", "user_oidc"));
    let login: Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "alice@acme.example", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().expect("a token").to_owned();
    remember_secret(&token);
    remember_secret(login["refresh_token"].as_str().unwrap());
    remember_secret(login["id_token"].as_str().unwrap());
    let upload = format!("{base}/api/v1/docs/upload");

    // Warm up: the first transfers each way set up connections, pools and allocator arenas.
    let warm = upload_stream(&http, &upload, &token, "warm.bin", 8 * 1024 * 1024).await;
    assert_eq!(warm.status(), 201);
    assert_eq!(
        download(&http, &base, &token, "warm.bin").await,
        8 * 1024 * 1024
    );
    let pid = server.0.id();
    let before = peak_kib(pid);

    let response = upload_stream(&http, &upload, &token, "big.bin", GIB).await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    assert_eq!(
        std::fs::metadata(dav.user_dir("alice").join("big.bin"))
            .unwrap()
            .len(),
        GIB
    );
    let received = download(&http, &base, &token, "big.bin").await;
    assert_eq!(received, GIB);

    let after = peak_kib(pid);
    println!("bheem-sso peak memory: {before} KiB before, {after} KiB after 1 GiB up and down");
    assert!(
        after.saturating_sub(before) <= MAX_GROWTH_KIB,
        "the peak grew by {} KiB moving 1 GiB (bound {MAX_GROWTH_KIB} KiB)",
        after - before
    );
    drop(server);
}
