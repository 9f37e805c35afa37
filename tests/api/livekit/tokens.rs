//! Join tokens, checked by LiveKit's own verifier: the Python SDK's `TokenVerifier` (PyPI
//! `livekit-api`, which `scripts/test` installs), run on tests/livekit/verify_token.py.

use std::io::Write;
use std::process::{Command, Stdio};

use bheem_sso::workspace::meet::livekit::{LiveKit, Participant, Role};
use serde_json::{json, Value};

use super::{meet_config, unix_now, API_KEY, API_SECRET};

/// What LiveKit's Python SDK makes of `token`: `Ok(claims)` or `Err(reason)`; `None` when the
/// SDK is not installed outside CI (skipped with a message). CI fails without it.
pub(crate) fn python_verifies(
    token: &str,
    api_key: &str,
    api_secret: &str,
) -> Option<Result<Value, String>> {
    let python = crate::support::python_with_modules(
        "livekit.api",
        "livekit-api",
        "check join tokens with LiveKit's verifier",
    )?;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/livekit/verify_token.py");
    let mut child = Command::new(&python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running verify_token.py");
    let input = json!({ "token": token, "api_key": api_key, "api_secret": api_secret });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    Some(if output.status.success() {
        Ok(serde_json::from_slice(&output.stdout).expect("the script prints JSON"))
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    })
}

fn client() -> LiveKit {
    LiveKit::new(&meet_config("http://127.0.0.1:9", API_SECRET)).unwrap()
}

#[test]
fn a_participants_join_token_is_accepted_by_livekits_verifier_with_its_grants() {
    let participant = Participant {
        identity: "b1d9c3a0-7f0e-4c61-9d2b-0e6f1c2a3b4c",
        name: "Alice Example",
        metadata: Some(r#"{"company":"acme"}"#),
        role: Role::Participant,
    };
    let token = client()
        .join_token("bhm-abc-xyz", &participant, unix_now())
        .unwrap();
    let Some(verified) = python_verifies(&token, API_KEY, API_SECRET) else {
        return;
    };
    let claims = verified.expect("LiveKit's verifier accepts the token");
    assert_eq!(claims["identity"], participant.identity);
    assert_eq!(claims["name"], "Alice Example");
    assert_eq!(claims["metadata"], r#"{"company":"acme"}"#);
    let video = &claims["video"];
    assert_eq!(video["room_join"], true);
    assert_eq!(video["room"], "bhm-abc-xyz");
    assert_eq!(video["can_publish"], true);
    assert_eq!(video["can_subscribe"], true);
    assert_eq!(video["can_publish_data"], true);
    // The SDK reads an absent grant as None: not granted.
    for not_granted in [
        "room_admin",
        "room_record",
        "room_create",
        "room_list",
        "hidden",
    ] {
        assert_ne!(video[not_granted], true, "{not_granted}");
    }
}

#[test]
fn a_hosts_join_token_also_administers_and_records_the_room() {
    let host = Participant {
        identity: "host-sub",
        name: "Hanna Host",
        metadata: None,
        role: Role::Host,
    };
    let token = client()
        .join_token("bhm-host-room", &host, unix_now())
        .unwrap();
    let Some(verified) = python_verifies(&token, API_KEY, API_SECRET) else {
        return;
    };
    let video = verified.expect("accepted")["video"].clone();
    assert_eq!(video["room_admin"], true);
    assert_eq!(video["room_record"], true);
    assert_eq!(video["room"], "bhm-host-room");
}

#[test]
fn livekits_verifier_refuses_our_token_under_another_secret_or_key_or_once_expired() {
    let participant = Participant {
        identity: "someone",
        name: "Someone",
        metadata: None,
        role: Role::Participant,
    };
    let token = client().join_token("r", &participant, unix_now()).unwrap();
    let Some(other_secret) = python_verifies(&token, API_KEY, "another-secret-0123456789abcdef")
    else {
        return;
    };
    assert!(
        other_secret.unwrap_err().contains("Signature"),
        "bad signature"
    );
    let other_key = python_verifies(&token, "APIsomeoneElse", API_SECRET).unwrap();
    assert!(other_key.unwrap_err().contains("Issuer"), "wrong issuer");
    // Made seven hours ago with the six-hour lifetime: past its `exp` and LiveKit's leeway.
    let old = client()
        .join_token("r", &participant, unix_now() - 7 * 3600)
        .unwrap();
    let expired = python_verifies(&old, API_KEY, API_SECRET).unwrap();
    assert!(expired.unwrap_err().contains("Expired"), "expired");
}
