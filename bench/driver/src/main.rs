//! bench-driver: the load generator of `bench/run`, the same one for bheem-sso and for the peer.
//!
//! A closed loop: `--conns` virtual clients, each with one keep-alive HTTP/1.1 connection (and,
//! for the browser rows, its own cookie jar), send one operation after another for `--warmup`
//! plus `--duration` seconds. Only operations that finish inside the measured window count; each
//! one's latency is kept, so p50/p99 are exact, not bucketed. An operation is one request for the
//! stateless rows and the whole sequence for the stateful ones (an authorization-code round trip
//! is `authorize` → 303 with a code → `token`; a password login is every page from `authorize` to
//! the code). Any unexpected status or body is an error, counted and sampled, never retried
//! inside the window.
//!
//! `meet_token` is bheem-sso's own (the peer has no Meet API): before the clients start, one
//! login through `POST /api/v1/auth/login` (its access token carries the `meet` scope) and one
//! room made with `POST /api/v1/meet/rooms`; then every operation is `POST /api/v1/meet/token`
//! for that room with that Bearer token, a LiveKit join token in the answer.
//!
//! `docs_list` is bheem-sso's own too: one login as for `meet_token`, then every operation is
//! `GET /api/v1/docs/files?path=/bench` with that Bearer token, a folder's listing in the
//! answer (bench/run puts the folder's files on the WebDAV server it starts).
//!
//! `mail_inbox` is bheem-sso's own too: one login as for `meet_token`, then every operation is
//! `GET /api/v1/mail/inbox?limit=20` with that Bearer token, a page of 20 messages read from
//! Dovecot in the answer (bench/run starts it with the bench user's INBOX of 50).
//!
//! `calendar_events` is bheem-sso's own too: one login as for `meet_token`, then every operation
//! is `GET /api/v1/calendar/events?start=…&end=…` (`--calendar-start`, `--calendar-end`: a month)
//! with that Bearer token, the month's occurrences in the answer, as many as `--calendar-events`
//! says when given (bench/run seeds the bench user's `personal` calendar on the CalDAV server it
//! starts and passes the count its seeding expects).
//!
//! Subcommands:
//!   load    --base URL --scenario NAME [options]   one row against one server; prints one JSON line
//!   argon2  [--memory-kib 19456 --iterations 2 --parallelism 1]   time one argon2id hash
//!   rsa     --key KEY.der [--backend openssl|ring] [--seconds 3]   RSA-2048 PKCS#1 v1.5 SHA-256
//!           signatures/s with a parsed key (OpenSSL, through the openssl crate, is what bheem-sso signs with)

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::HeaderMap;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use rand::RngCore;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first() else {
        usage();
    };
    let opts = Opts::parse(&args[1..]);
    match command.as_str() {
        "load" => load(opts),
        "argon2" => argon2_time(opts),
        "rsa" => rsa_time(opts),
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: bench-driver load|argon2|rsa [--option value …] (see the top of src/main.rs)"
    );
    std::process::exit(2)
}

struct Opts(HashMap<String, String>);

impl Opts {
    fn parse(args: &[String]) -> Self {
        let mut map = HashMap::new();
        let mut it = args.iter();
        while let Some(key) = it.next() {
            let Some(key) = key.strip_prefix("--") else {
                eprintln!("unexpected argument {key}");
                usage();
            };
            let value = it.next().cloned().unwrap_or_else(|| usage());
            map.insert(key.to_owned(), value);
        }
        Self(map)
    }
    fn get(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned().filter(|v| !v.is_empty())
    }
    fn or(&self, key: &str, default: &str) -> String {
        self.get(key).unwrap_or_else(|| default.to_owned())
    }
    fn num<T: std::str::FromStr>(&self, key: &str, default: T) -> T {
        match self.get(key) {
            Some(v) => v.parse().unwrap_or_else(|_| {
                eprintln!("--{key} {v}: not a number");
                usage()
            }),
            None => default,
        }
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

// ---------------------------------------------------------------------------------------------
// argon2 and RSA ceilings

fn argon2_time(opts: Opts) {
    use argon2::{Algorithm, Argon2, Params, Version};
    let m: u32 = opts.num("memory-kib", 19456);
    let t: u32 = opts.num("iterations", 2);
    let p: u32 = opts.num("parallelism", 1);
    let runs: usize = opts.num("runs", 20);
    let params = Params::new(m, t, p, None).expect("argon2 parameters");
    // As bheem-sso hashes: into a work area that is allocated once and reused.
    let hash_once = |params: &Params, memory: &mut Vec<argon2::Block>| {
        if memory.len() != params.block_count() {
            *memory = vec![argon2::Block::default(); params.block_count()];
        }
        let mut salt = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        let mut out = [0u8; 32];
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
            .hash_password_into_with_memory(
                b"correct horse battery staple",
                &salt,
                &mut out,
                &mut memory[..],
            )
            .expect("hash");
    };
    let mut memory = Vec::new();
    hash_once(&params, &mut memory);
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            hash_once(&params, &mut memory);
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = times[times.len() / 2];
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    // The same hash on every core at once, for 3 seconds: what the machine really sustains.
    let threads = cores();
    let until = Instant::now() + Duration::from_secs(3);
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let params = params.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                let mut memory = Vec::new();
                while Instant::now() < until {
                    hash_once(&params, &mut memory);
                    n += 1;
                }
                n
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let parallel = total as f64 / started.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({
            "memory_kib": m, "iterations": t, "parallelism": p,
            "hash_ms_median": round(median, 2), "hash_ms_mean": round(mean, 2),
            "cores": threads,
            "limit_per_s": round(threads as f64 * 1000.0 / median, 1),
            "all_cores_measured_per_s": round(parallel, 1),
        })
    );
}

/// Signs one message with a parsed key, from any thread.
type Signer = Arc<dyn Fn(&[u8]) + Send + Sync>;

fn rsa_time(opts: Opts) {
    let path = opts.get("key").unwrap_or_else(|| usage());
    let der = std::fs::read(&path).expect("reading the key");
    let seconds: f64 = opts.num("seconds", 3.0);
    // About the size of a signing input of an ID token.
    let message = vec![b'x'; 700];
    let backend = opts.get("backend").unwrap_or_else(|| "openssl".to_owned());
    let signer: Signer = match backend.as_str() {
        "ring" => {
            use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
            let key = RsaKeyPair::from_pkcs8(&der)
                .or_else(|_| RsaKeyPair::from_der(&der))
                .expect("an RSA key, PKCS#8 or PKCS#1 DER");
            let rng = ring::rand::SystemRandom::new();
            Arc::new(move |msg: &[u8]| {
                let mut sig = vec![0u8; key.public().modulus_len()];
                key.sign(&RSA_PKCS1_SHA256, &rng, msg, &mut sig)
                    .expect("sign");
            })
        }
        "openssl" => {
            use openssl::hash::MessageDigest;
            use openssl::pkey::PKey;
            use openssl::sign::Signer;
            let key = PKey::private_key_from_der(&der)
                .or_else(|_| openssl::rsa::Rsa::private_key_from_der(&der).and_then(PKey::from_rsa))
                .expect("an RSA key, PKCS#8 or PKCS#1 DER");
            Arc::new(move |msg: &[u8]| {
                let mut signer = Signer::new(MessageDigest::sha256(), &key).expect("signer");
                signer.sign_oneshot_to_vec(msg).expect("sign");
            })
        }
        other => panic!("unknown --backend {other}: openssl or ring"),
    };
    let run = |signer: Signer, message: Vec<u8>, seconds: f64| {
        let until = Instant::now() + Duration::from_secs_f64(seconds);
        let mut n = 0u64;
        while Instant::now() < until {
            signer(&message);
            n += 1;
        }
        n
    };
    let start = Instant::now();
    let one = run(signer.clone(), message.clone(), seconds) as f64 / start.elapsed().as_secs_f64();
    let threads = cores();
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (signer, message) = (signer.clone(), message.clone());
            std::thread::spawn(move || run(signer, message, seconds))
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let all = total as f64 / start.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({
            "backend": backend,
            "sign_per_s_one_core": round(one, 0),
            "cores": threads,
            "sign_per_s_all_cores_measured": round(all, 0),
            "ceiling_per_s": round(one * threads as f64, 0),
        })
    );
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

// ---------------------------------------------------------------------------------------------
// HTTP

struct Resp {
    status: u16,
    headers: HeaderMap,
    body: Bytes,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    fn snippet(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let text: String = text.chars().take(160).collect();
        text.replace('\n', " ")
    }
}

/// One keep-alive HTTP/1.1 connection, reopened when the server closes it.
struct Conn {
    addr: SocketAddr,
    host: String,
    tx: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    fn new(s: &Settings) -> Self {
        Self {
            addr: s.addr,
            host: s.host.clone(),
            tx: None,
        }
    }

    async fn connect(&mut self) -> Result<(), String> {
        let stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        stream.set_nodelay(true).ok();
        let (tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        self.tx = Some(tx);
        Ok(())
    }

    async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, String)],
        body: Option<(&str, Bytes)>,
    ) -> Result<Resp, String> {
        if self.tx.as_ref().is_none_or(|tx| tx.is_closed()) {
            self.connect().await?;
        }
        if self.tx.as_mut().expect("connected").ready().await.is_err() {
            self.connect().await?;
        }
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host);
        for (name, value) in headers {
            builder = builder.header(*name, value);
        }
        let request = match body {
            Some((content_type, bytes)) => builder
                .header("content-type", content_type)
                .body(Full::new(bytes)),
            None => builder.body(Full::new(Bytes::new())),
        }
        .map_err(|e| format!("building a request: {e}"))?;
        let tx = self.tx.as_mut().expect("connected");
        let response = match tx.send_request(request).await {
            Ok(r) => r,
            Err(e) => {
                self.tx = None;
                return Err(format!("sending: {e}"));
            }
        };
        let (parts, body) = response.into_parts();
        let body = match body.collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                self.tx = None;
                return Err(format!("reading the body: {e}"));
            }
        };
        Ok(Resp {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    }
}

/// A browser's cookies: name, path, value. Enough of RFC 6265 for two servers on one host.
#[derive(Default)]
struct Jar(Vec<(String, String, String)>);

impl Jar {
    fn absorb(&mut self, headers: &HeaderMap) {
        for raw in headers.get_all("set-cookie") {
            let Ok(raw) = raw.to_str() else { continue };
            let mut parts = raw.split(';');
            let Some((name, value)) = parts.next().and_then(|nv| nv.split_once('=')) else {
                continue;
            };
            let (name, value) = (name.trim().to_owned(), value.trim().to_owned());
            let mut path = "/".to_owned();
            let mut delete = value.is_empty();
            for attribute in parts {
                let attribute = attribute.trim();
                let lower = attribute.to_ascii_lowercase();
                if let Some(p) = lower.strip_prefix("path=") {
                    path = attribute[attribute.len() - p.len()..].to_owned();
                } else if let Some(age) = lower.strip_prefix("max-age=") {
                    if age.trim().parse::<i64>().is_ok_and(|n| n <= 0) {
                        delete = true;
                    }
                } else if lower.starts_with("expires=") && lower.contains("1970") {
                    delete = true;
                }
            }
            self.0.retain(|(n, p, _)| !(*n == name && *p == path));
            if !delete {
                self.0.push((name, path, value));
            }
        }
    }

    fn header(&self, path: &str) -> Option<String> {
        let path = path.split('?').next().unwrap_or(path);
        let cookies: Vec<String> = self
            .0
            .iter()
            .filter(|(_, p, _)| {
                path == p
                    || (path.starts_with(p.as_str())
                        && (p.ends_with('/') || path[p.len()..].starts_with('/')))
            })
            .map(|(n, _, v)| format!("{n}={v}"))
            .collect();
        (!cookies.is_empty()).then(|| cookies.join("; "))
    }
}

// ---------------------------------------------------------------------------------------------
// The protocol steps

struct Endpoints {
    discovery: String,
    jwks: String,
    authorize: String,
    token: String,
    userinfo: String,
    introspect: String,
}

struct Settings {
    base: String,
    addr: SocketAddr,
    host: String,
    ep: Endpoints,
    client_id: String,
    client_secret: String,
    redirect_uri: String,
    scope: String,
    username: String,
    password: String,
    /// Sent as `resource` on authorize and client_credentials when set (the peer issues JWT
    /// access tokens only for a resource server).
    resource: Option<String>,
    api_login: String,
    /// Where the Meet API is (`/api/v1/meet`): `…/rooms` and `…/token`.
    meet_api: String,
    docs_api: String,
    mail_api: String,
    calendar_api: String,
    /// The calendar_events row's query, `start=…&end=…`.
    calendar_range: String,
    /// How many occurrences the calendar_events row's answer must hold; `None`: at least one.
    calendar_events: Option<usize>,
    /// How a refused client spreads its retry: `true` waits exactly `Retry-After`, so every
    /// client refused at the same moment comes back at the same moment.
    lockstep_retries: bool,
}

impl Settings {
    /// The path to request for a URL or path the server sent (a Location, a form action).
    fn local(&self, url: &str) -> Result<String, String> {
        if let Some(rest) = url.strip_prefix(&self.base) {
            return Ok(if rest.is_empty() {
                "/".into()
            } else {
                rest.into()
            });
        }
        if url.starts_with('/') {
            return Ok(url.to_owned());
        }
        Err(format!("redirected away to {url}"))
    }

    fn basic(&self) -> String {
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        format!(
            "Basic {}",
            STANDARD.encode(format!(
                "{}:{}",
                enc(&self.client_id),
                enc(&self.client_secret)
            ))
        )
    }
}

fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

struct Pkce {
    verifier: String,
    challenge: String,
}

fn pkce() -> Pkce {
    let verifier = random_token(32);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    Pkce {
        verifier,
        challenge,
    }
}

fn form(pairs: &[(&str, &str)]) -> Bytes {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        ser.append_pair(k, v);
    }
    Bytes::from(ser.finish())
}

const FORM: &str = "application/x-www-form-urlencoded";

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&#x2F;", "/")
        .replace("&#47;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The value of attribute `name` in one tag's text.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let needle = format!("{name}=\"");
    let mut from = 0;
    while let Some(i) = tag[from..].find(&needle) {
        let at = from + i;
        if at > 0 && tag.as_bytes()[at - 1].is_ascii_whitespace() {
            let start = at + needle.len();
            let end = tag[start..].find('"')? + start;
            return Some(unescape(&tag[start..end]));
        }
        from = at + needle.len();
    }
    None
}

/// The first form on the page with a password field: its action and its fields, with `login` and
/// `password` filled in.
fn fill_login_form(html: &str, login: &str, password: &str) -> Option<(String, Bytes)> {
    let mut rest = html;
    while let Some(start) = rest.find("<form") {
        let form_html = &rest[start..];
        let end = form_html.find("</form>").unwrap_or(form_html.len());
        let form_html = &form_html[..end];
        let open = &form_html[..form_html.find('>')?];
        let action = attribute(open, "action").unwrap_or_default();
        let mut fields: Vec<(String, String)> = Vec::new();
        let mut has_password = false;
        let mut inputs = form_html;
        while let Some(i) = inputs.find("<input") {
            let tag_end = inputs[i..].find('>').map_or(inputs.len(), |e| i + e);
            let tag = &inputs[i..tag_end];
            if let Some(name) = attribute(tag, "name") {
                let value = match name.as_str() {
                    "login" | "username" | "email" => login.to_owned(),
                    "password" => {
                        has_password = true;
                        password.to_owned()
                    }
                    _ => attribute(tag, "value").unwrap_or_default(),
                };
                fields.push((name, value));
            }
            inputs = &inputs[tag_end..];
        }
        if has_password {
            let pairs: Vec<(&str, &str)> = fields
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            return Some((action, form(&pairs)));
        }
        rest = &rest[start + end..];
    }
    None
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or(query);
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A browser from `authorize` to the redirect back to the client with a code, following every
/// redirect and logging in on the first form with a password field when `may_log_in`.
async fn browse_to_code(
    conn: &mut Conn,
    jar: &mut Jar,
    s: &Settings,
    with_resource: bool,
    may_log_in: bool,
) -> Result<(String, Pkce), String> {
    let pkce = pkce();
    let state = random_token(12);
    let nonce = random_token(12);
    let query = {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", &s.client_id)
            .append_pair("redirect_uri", &s.redirect_uri)
            .append_pair("scope", &s.scope)
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &pkce.challenge)
            .append_pair("code_challenge_method", "S256");
        if let (true, Some(resource)) = (with_resource, &s.resource) {
            query.append_pair("resource", resource);
        }
        query.finish()
    };
    let mut path = format!("{}?{}", s.ep.authorize, query);
    let mut method = Method::GET;
    let mut body: Option<Bytes> = None;
    let mut logged_in = false;
    for _ in 0..12 {
        let mut headers = Vec::with_capacity(1);
        if let Some(cookie) = jar.header(&path) {
            headers.push(("cookie", cookie));
        }
        let resp = conn
            .send(method, &path, &headers, body.take().map(|b| (FORM, b)))
            .await?;
        jar.absorb(&resp.headers);
        let shown = path.split('?').next().unwrap_or(&path).to_owned();
        match resp.status {
            301 | 302 | 303 | 307 => {
                let location = resp
                    .header("location")
                    .ok_or_else(|| format!("{} without Location from {shown}", resp.status))?
                    .to_owned();
                if location.starts_with(&s.redirect_uri) {
                    if let Some(error) = query_param(&location, "error") {
                        return Err(format!("authorize answered error={error}"));
                    }
                    if query_param(&location, "state").as_deref() != Some(state.as_str()) {
                        return Err("state not returned".into());
                    }
                    let code = query_param(&location, "code")
                        .ok_or_else(|| "redirect back without a code".to_owned())?;
                    return Ok((code, pkce));
                }
                path = s.local(&location)?;
                method = Method::GET;
            }
            200 if may_log_in && !logged_in => {
                let html = String::from_utf8_lossy(&resp.body);
                let (action, filled) = fill_login_form(&html, &s.username, &s.password)
                    .ok_or_else(|| format!("200 without a login form from {shown}"))?;
                path = if action.is_empty() {
                    path.clone()
                } else {
                    s.local(&action)?
                };
                method = Method::POST;
                body = Some(filled);
                logged_in = true;
            }
            200 if !may_log_in => {
                return Err(format!(
                    "a page instead of a code from {shown} (SSO session not used)"
                ))
            }
            503 | 429 if resp.header("retry-after").is_some() => {
                let wait = resp.header("retry-after").unwrap_or("1").to_owned();
                return Err(format!("{SHED}{wait}"));
            }
            status => return Err(format!("{status} from {shown}: {}", resp.snippet())),
        }
    }
    Err("more than 12 steps from authorize to a code".into())
}

async fn token_request(
    conn: &mut Conn,
    s: &Settings,
    pairs: &[(&str, &str)],
) -> Result<Value, String> {
    let headers = [
        ("authorization", s.basic()),
        ("accept", "application/json".to_owned()),
    ];
    let resp = conn
        .send(
            Method::POST,
            &s.ep.token,
            &headers,
            Some((FORM, form(pairs))),
        )
        .await?;
    if resp.status != 200 {
        return Err(format!("token {}: {}", resp.status, resp.snippet()));
    }
    serde_json::from_slice(&resp.body).map_err(|e| format!("token response: {e}"))
}

fn is_jwt(token: &str) -> bool {
    token.split('.').count() == 3
}

/// Checks a token response from a grant that involves a user: a JWT access token when asked for,
/// an ID token, and (if `refresh`) a refresh token, which it returns.
fn check_user_tokens(
    v: &Value,
    want_jwt: bool,
    want_refresh: bool,
) -> Result<Option<String>, String> {
    let at = v["access_token"].as_str().ok_or("no access_token")?;
    if want_jwt && !is_jwt(at) {
        return Err("the access token is not a JWT".into());
    }
    if v["id_token"].as_str().is_none() {
        return Err("no id_token".into());
    }
    let rt = v["refresh_token"].as_str().map(str::to_owned);
    if want_refresh && rt.is_none() {
        return Err("no refresh_token".into());
    }
    Ok(rt)
}

async fn exchange(conn: &mut Conn, s: &Settings, code: &str, pkce: &Pkce) -> Result<Value, String> {
    token_request(
        conn,
        s,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &s.redirect_uri),
            ("code_verifier", &pkce.verifier),
        ],
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Rows

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Scenario {
    Discovery,
    Jwks,
    ClientCredentials,
    Refresh,
    Userinfo,
    Introspection,
    AuthCode,
    LoginForm,
    LoginApi,
    MeetToken,
    DocsList,
    MailInbox,
    CalendarEvents,
}

impl Scenario {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "discovery" => Self::Discovery,
            "jwks" => Self::Jwks,
            "client_credentials" => Self::ClientCredentials,
            "refresh" => Self::Refresh,
            "userinfo" => Self::Userinfo,
            "introspection" => Self::Introspection,
            "authcode" => Self::AuthCode,
            "login_form" => Self::LoginForm,
            "login_api" => Self::LoginApi,
            "meet_token" => Self::MeetToken,
            "docs_list" => Self::DocsList,
            "mail_inbox" => Self::MailInbox,
            "calendar_events" => Self::CalendarEvents,
            _ => return None,
        })
    }
}

/// What a virtual client keeps between operations.
struct Client {
    conn: Conn,
    jar: Jar,
    refresh_token: String,
}

async fn prepare(s: &Settings, scenario: Scenario, client: &mut Client) -> Result<(), String> {
    match scenario {
        Scenario::Refresh | Scenario::AuthCode => {
            client.jar = Jar::default();
            let (code, pkce) =
                browse_to_code(&mut client.conn, &mut client.jar, s, true, true).await?;
            let tokens = exchange(&mut client.conn, s, &code, &pkce).await?;
            let rt = check_user_tokens(&tokens, true, scenario == Scenario::Refresh)?;
            client.refresh_token = rt.unwrap_or_default();
            Ok(())
        }
        _ => Ok(()),
    }
}

/// What every client of a row uses alike, made once before they start.
#[derive(Default)]
struct Shared {
    /// The access token of the userinfo, introspection and meet_token rows.
    token: String,
    /// The meet_token row's request body, `{"room_id": …}` of the room made for it.
    meet_join: Bytes,
}

/// `POST /api/v1/auth/login` with the bench user's password: the answer when it is 200, a
/// [`SHED`] error when it is refused with `Retry-After`.
async fn login_request(conn: &mut Conn, s: &Settings) -> Result<Resp, String> {
    let body = json!({ "username": s.username, "password": s.password }).to_string();
    let resp = conn
        .send(
            Method::POST,
            &s.api_login,
            &[],
            Some(("application/json", Bytes::from(body))),
        )
        .await?;
    if let (503 | 429, Some(wait)) = (resp.status, resp.header("retry-after")) {
        return Err(format!("{SHED}{wait}"));
    }
    if resp.status != 200 {
        return Err(format!("login {}: {}", resp.status, resp.snippet()));
    }
    Ok(resp)
}

/// The meet_token row's set-up: one login through the JSON API (the workspace SPA's, whose
/// access token carries the `meet` scope) and one room, hosted by the bench user. A login
/// refused with `Retry-After` comes back as told, as in [`recover`].
async fn prepare_meet(s: &Settings) -> Result<Shared, String> {
    let mut conn = Conn::new(s);
    let token = api_token(&mut conn, s).await?;
    let body = json!({ "name": "Bench" }).to_string();
    let resp = conn
        .send(
            Method::POST,
            &format!("{}/rooms", s.meet_api),
            &[("authorization", format!("Bearer {token}"))],
            Some(("application/json", Bytes::from(body))),
        )
        .await?;
    if resp.status != 201 {
        return Err(format!(
            "creating a room {}: {}",
            resp.status,
            resp.snippet()
        ));
    }
    let v: Value = serde_json::from_slice(&resp.body).map_err(|e| format!("room response: {e}"))?;
    let room_id = v["room_id"].as_str().ok_or("room: no room_id")?;
    Ok(Shared {
        token,
        meet_join: Bytes::from(json!({ "room_id": room_id }).to_string()),
    })
}

/// An access token of the bench user from the workspace SPA's JSON login (it carries every
/// area's scope). A login refused with `Retry-After` comes back as told, as in [`recover`].
async fn api_token(conn: &mut Conn, s: &Settings) -> Result<String, String> {
    let mut tries = 0;
    let resp = loop {
        match login_request(conn, s).await {
            Err(e) if e.starts_with(SHED) && tries < 10 => {
                tries += 1;
                let secs: f64 = e[SHED.len()..].trim().parse().unwrap_or(1.0);
                tokio::time::sleep(retry_delay(s, secs)).await;
            }
            other => break other?,
        }
    };
    let v: Value =
        serde_json::from_slice(&resp.body).map_err(|e| format!("login response: {e}"))?;
    let token = v["access_token"]
        .as_str()
        .ok_or("login: no access_token")?
        .to_owned();
    Ok(token)
}

async fn operation(
    s: &Settings,
    scenario: Scenario,
    client: &mut Client,
    shared: &Shared,
) -> Result<(), String> {
    let conn = &mut client.conn;
    match scenario {
        Scenario::Discovery | Scenario::Jwks => {
            let path = if scenario == Scenario::Discovery {
                &s.ep.discovery
            } else {
                &s.ep.jwks
            };
            let resp = conn.send(Method::GET, path, &[], None).await?;
            if resp.status != 200 || resp.body.first() != Some(&b'{') {
                return Err(format!("{}: {}", resp.status, resp.snippet()));
            }
            Ok(())
        }
        Scenario::ClientCredentials => {
            let mut pairs = vec![("grant_type", "client_credentials")];
            if let Some(r) = &s.resource {
                pairs.push(("resource", r));
            }
            let v = token_request(conn, s, &pairs).await?;
            match v["access_token"].as_str() {
                Some(at) if is_jwt(at) => Ok(()),
                Some(_) => Err("the access token is not a JWT".into()),
                None => Err("no access_token".into()),
            }
        }
        Scenario::Refresh => {
            let v = token_request(
                conn,
                s,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &client.refresh_token),
                ],
            )
            .await?;
            client.refresh_token = check_user_tokens(&v, true, true)?.expect("checked");
            Ok(())
        }
        Scenario::Userinfo => {
            let headers = [("authorization", format!("Bearer {}", shared.token))];
            let resp = conn
                .send(Method::GET, &s.ep.userinfo, &headers, None)
                .await?;
            if resp.status != 200 || !resp.body.windows(5).any(|w| w == b"\"sub\"") {
                return Err(format!("userinfo {}: {}", resp.status, resp.snippet()));
            }
            Ok(())
        }
        Scenario::Introspection => {
            let headers = [
                ("authorization", s.basic()),
                ("accept", "application/json".to_owned()),
            ];
            let body = form(&[("token", &shared.token)]);
            let resp = conn
                .send(Method::POST, &s.ep.introspect, &headers, Some((FORM, body)))
                .await?;
            let text = String::from_utf8_lossy(&resp.body);
            if resp.status != 200 || !text.replace(' ', "").contains("\"active\":true") {
                return Err(format!("introspection {}: {}", resp.status, resp.snippet()));
            }
            Ok(())
        }
        Scenario::AuthCode => {
            let (code, pkce) = browse_to_code(conn, &mut client.jar, s, true, false).await?;
            let v = exchange(conn, s, &code, &pkce).await?;
            check_user_tokens(&v, true, false)?;
            Ok(())
        }
        Scenario::LoginForm => {
            // A new browser every time: no SSO session, the login page, the password, a code.
            client.jar = Jar::default();
            browse_to_code(conn, &mut client.jar, s, true, true).await?;
            Ok(())
        }
        Scenario::LoginApi => {
            let resp = login_request(conn, s).await?;
            if !resp.body.windows(14).any(|w| w == b"\"access_token\"") {
                return Err(format!("login {}: {}", resp.status, resp.snippet()));
            }
            Ok(())
        }
        Scenario::DocsList => {
            let headers = [("authorization", format!("Bearer {}", shared.token))];
            let resp = conn
                .send(
                    Method::GET,
                    &format!("{}/files?path=/bench", s.docs_api),
                    &headers,
                    None,
                )
                .await?;
            if resp.status != 200 {
                return Err(format!("docs list {}: {}", resp.status, resp.snippet()));
            }
            let v: Value = serde_json::from_slice(&resp.body)
                .map_err(|e| format!("docs list response: {e}"))?;
            match v["entries"].as_array() {
                Some(entries) if !entries.is_empty() => Ok(()),
                _ => Err(format!("docs list 200 without entries: {}", resp.snippet())),
            }
        }
        Scenario::MailInbox => {
            let headers = [("authorization", format!("Bearer {}", shared.token))];
            let resp = conn
                .send(
                    Method::GET,
                    &format!("{}/inbox?limit=20", s.mail_api),
                    &headers,
                    None,
                )
                .await?;
            if resp.status != 200 {
                return Err(format!("mail inbox {}: {}", resp.status, resp.snippet()));
            }
            let v: Value = serde_json::from_slice(&resp.body)
                .map_err(|e| format!("mail inbox response: {e}"))?;
            match v["messages"].as_array() {
                Some(messages) if messages.len() == 20 => Ok(()),
                _ => Err(format!(
                    "mail inbox 200 without 20 messages: {}",
                    resp.snippet()
                )),
            }
        }
        Scenario::CalendarEvents => {
            let headers = [("authorization", format!("Bearer {}", shared.token))];
            let resp = conn
                .send(
                    Method::GET,
                    &format!("{}/events?{}", s.calendar_api, s.calendar_range),
                    &headers,
                    None,
                )
                .await?;
            if resp.status != 200 {
                return Err(format!(
                    "calendar events {}: {}",
                    resp.status,
                    resp.snippet()
                ));
            }
            let v: Value = serde_json::from_slice(&resp.body)
                .map_err(|e| format!("calendar events response: {e}"))?;
            let found = v["events"].as_array().map_or(0, Vec::len);
            let expected = s.calendar_events.map_or(found > 0, |n| found == n);
            if !expected || v["truncated"] != json!(false) {
                return Err(format!(
                    "calendar events 200 with {found} events (expected {}), truncated {}",
                    s.calendar_events
                        .map_or("some".to_owned(), |n| n.to_string()),
                    v["truncated"]
                ));
            }
            Ok(())
        }
        Scenario::MeetToken => {
            let headers = [("authorization", format!("Bearer {}", shared.token))];
            let resp = conn
                .send(
                    Method::POST,
                    &format!("{}/token", s.meet_api),
                    &headers,
                    Some(("application/json", shared.meet_join.clone())),
                )
                .await?;
            if resp.status != 200 {
                return Err(format!("meet token {}: {}", resp.status, resp.snippet()));
            }
            let v: Value = serde_json::from_slice(&resp.body)
                .map_err(|e| format!("meet token response: {e}"))?;
            // A LiveKit join token is a JWT (HS256, signed with the API secret).
            match v["token"].as_str() {
                Some(t) if is_jwt(t) => Ok(()),
                _ => Err(format!(
                    "meet token 200 without a token: {}",
                    resp.snippet()
                )),
            }
        }
    }
}

/// After an error in a stateful row: a fresh session and tokens, outside the measurement.
/// Whether the client has them again.
async fn recover(s: &Settings, scenario: Scenario, client: &mut Client) -> bool {
    client.conn.tx = None;
    if matches!(scenario, Scenario::Refresh | Scenario::AuthCode) {
        // Setting up logs in: when all the clients do it at once, some logins are refused with
        // Retry-After, and those come back as told, as in the measured loop.
        for _ in 0..10 {
            match prepare(s, scenario, client).await {
                Ok(()) => return true,
                Err(e) if e.starts_with(SHED) => {
                    let secs: f64 = e[SHED.len()..].trim().parse().unwrap_or(1.0);
                    tokio::time::sleep(retry_delay(s, secs)).await;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        return false;
    }
    true
}

/// An operation refused with 503 or 429 and `Retry-After` (load shed, not an error) ends with an
/// `Err` that starts with this, followed by the `Retry-After` value; the client then waits about
/// that long (at most 5 s), as a person shown "try again in a moment" would: by default between
/// half and one and a half times it, at random, as client libraries spread their retries
/// (`--retries jittered`); with `--retries lockstep`, exactly it, so that the clients refused
/// together come back together, the worst case of a thundering herd.
const SHED: &str = "shed, retry after ";

/// How long a client refused with `Retry-After: secs` waits (see [`SHED`]).
fn retry_delay(s: &Settings, secs: f64) -> Duration {
    let spread = if s.lockstep_retries {
        1.0
    } else {
        0.5 + rand::random::<f64>()
    };
    Duration::from_secs_f64(secs.clamp(0.0, 5.0) * spread)
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    /// How long the refusals of shed operations took to arrive.
    shed_latencies_us: Vec<u32>,
    errors: u64,
    error_samples: Vec<String>,
    recovery_failures: u64,
}

/// utime + stime of a process, in seconds (USER_HZ is 100 on Linux).
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// CPU time spent by every process on the machine (all of /proc/stat's "cpu" line but idle and
/// iowait), in seconds: what was busy besides the server and the driver shows as the difference.
fn machine_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let fields: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    let total: f64 = fields.iter().sum();
    Some((total - fields.get(3)? - fields.get(4)?) / 100.0)
}

fn load(opts: Opts) {
    let threads: usize = opts.num("threads", cores());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(load_async(opts));
}

async fn discover(base: &str, addr: SocketAddr, host: &str) -> Result<Value, String> {
    let mut conn = Conn {
        addr,
        host: host.to_owned(),
        tx: None,
    };
    let resp = conn
        .send(Method::GET, "/.well-known/openid-configuration", &[], None)
        .await?;
    if resp.status != 200 {
        return Err(format!("discovery at {base}: {}", resp.status));
    }
    serde_json::from_slice(&resp.body).map_err(|e| format!("discovery: {e}"))
}

async fn load_async(opts: Opts) {
    let base = opts.get("base").unwrap_or_else(|| usage());
    let base = base.trim_end_matches('/').to_owned();
    let host = base
        .strip_prefix("http://")
        .expect("--base must be http://host:port")
        .to_owned();
    let addr: SocketAddr = host.parse().expect("--base must be http://IP:PORT");
    let scenario_name = opts.or("scenario", "discovery");
    let scenario = Scenario::parse(&scenario_name).unwrap_or_else(|| {
        eprintln!("unknown scenario {scenario_name}");
        usage()
    });
    let conns: usize = opts.num("conns", 64);
    let warmup: f64 = opts.num("warmup", 2.0);
    let duration: f64 = opts.num("duration", 10.0);
    let pid = opts.get("pid");
    let meta = match discover(&base, addr, &host).await {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    // Only the path: a second node serves the issuer's URLs under another address.
    let path_of = |key: &str| -> String {
        let raw = meta[key].as_str().unwrap_or("");
        url::Url::parse(raw).map_or_else(|_| raw.to_owned(), |u| u.path().to_owned())
    };
    let settings = Arc::new(Settings {
        ep: Endpoints {
            discovery: "/.well-known/openid-configuration".into(),
            jwks: path_of("jwks_uri"),
            authorize: path_of("authorization_endpoint"),
            token: path_of("token_endpoint"),
            userinfo: path_of("userinfo_endpoint"),
            introspect: path_of("introspection_endpoint"),
        },
        base,
        addr,
        host,
        client_id: opts.or("client-id", "bench"),
        client_secret: opts.or("client-secret", "bench-client-secret-0123456789"),
        redirect_uri: opts.or("redirect-uri", "http://127.0.0.1:9/cb"),
        scope: opts.or("scope", "openid profile email offline_access"),
        username: opts.or("username", "bench@example.com"),
        password: opts.or("password", "bench-password-1"),
        resource: opts.get("resource"),
        api_login: opts.or("api-login", "/api/v1/auth/login"),
        meet_api: opts.or("meet-api", "/api/v1/meet"),
        docs_api: opts.or("docs-api", "/api/v1/docs"),
        mail_api: opts.or("mail-api", "/api/v1/mail"),
        calendar_api: opts.or("calendar-api", "/api/v1/calendar"),
        calendar_range: format!(
            "start={}&end={}",
            opts.or("calendar-start", "2026-12-01"),
            opts.or("calendar-end", "2026-12-31")
        ),
        calendar_events: opts.get("calendar-events").map(|n| {
            n.parse().unwrap_or_else(|_| {
                eprintln!("--calendar-events {n}: not a number");
                usage()
            })
        }),
        lockstep_retries: match opts.or("retries", "jittered").as_str() {
            "jittered" => false,
            "lockstep" => true,
            other => {
                eprintln!("--retries is jittered or lockstep, not {other}");
                std::process::exit(2)
            }
        },
    });

    // The one access token of the userinfo and introspection rows, from a login with the code
    // flow (the peer's userinfo and introspection take only its opaque access tokens, so here
    // no resource is asked for).
    let mut shared = Shared::default();
    let mut token_format = Value::Null;
    if matches!(scenario, Scenario::Userinfo | Scenario::Introspection) {
        let mut conn = Conn::new(&settings);
        let mut jar = Jar::default();
        let result = async {
            let (code, pkce) = browse_to_code(&mut conn, &mut jar, &settings, false, true).await?;
            exchange(&mut conn, &settings, &code, &pkce).await
        }
        .await;
        match result {
            Ok(v) => {
                shared.token = v["access_token"].as_str().unwrap_or_default().to_owned();
                token_format = json!(if is_jwt(&shared.token) {
                    "jwt"
                } else {
                    "opaque"
                });
            }
            Err(e) => {
                eprintln!("preparing an access token: {e}");
                std::process::exit(1);
            }
        }
    }
    // The meet_token row's token and room, one for every client as for userinfo. The token lives
    // bheem-sso's `access_token_seconds` (600 s by default), well beyond a row.
    if scenario == Scenario::MeetToken {
        match prepare_meet(&settings).await {
            Ok(m) => {
                token_format = json!(if is_jwt(&m.token) { "jwt" } else { "opaque" });
                shared = m;
            }
            Err(e) => {
                eprintln!("preparing a Meet room: {e}");
                std::process::exit(1);
            }
        }
    }
    // The docs_list, mail_inbox and calendar_events rows' token, one for every client.
    if matches!(
        scenario,
        Scenario::DocsList | Scenario::MailInbox | Scenario::CalendarEvents
    ) {
        let mut conn = Conn::new(&settings);
        match api_token(&mut conn, &settings).await {
            Ok(token) => {
                token_format = json!(if is_jwt(&token) { "jwt" } else { "opaque" });
                shared.token = token;
            }
            Err(e) => {
                eprintln!("preparing an access token for {scenario:?}: {e}");
                std::process::exit(1);
            }
        }
    }
    let shared = Arc::new(shared);

    let barrier = Arc::new(tokio::sync::Barrier::new(conns + 1));
    let warmup_d = Duration::from_secs_f64(warmup);
    let duration_d = Duration::from_secs_f64(duration);
    let prep_failures = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let prep_shed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(conns);
    for _ in 0..conns {
        let s = settings.clone();
        let barrier = barrier.clone();
        let shared = shared.clone();
        let prep_failures = prep_failures.clone();
        let prep_shed = prep_shed.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = Client {
                conn: Conn::new(&s),
                jar: Jar::default(),
                refresh_token: String::new(),
            };
            let mut tally = Tally::default();
            if let Err(e) = prepare(&s, scenario, &mut client).await {
                // A setting-up login refused with Retry-After and let in when it came back is
                // load shed, as in the measured loop, not a failure; anything else is.
                let recovered = recover(&s, scenario, &mut client).await;
                if e.starts_with(SHED) && recovered {
                    prep_shed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                } else {
                    prep_failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tally.error_samples.push(format!("preparing: {e}"));
                }
            }
            barrier.wait().await;
            let start = Instant::now();
            let window_start = start + warmup_d;
            let window_end = window_start + duration_d;
            while Instant::now() < window_end {
                let began = Instant::now();
                let outcome = match tokio::time::timeout(
                    Duration::from_secs(60),
                    operation(&s, scenario, &mut client, &shared),
                )
                .await
                {
                    Ok(r) => r,
                    Err(_) => Err("no answer within 60 s".into()),
                };
                let done = Instant::now();
                let counted = done >= window_start && done <= window_end;
                match outcome {
                    Ok(()) if counted => tally
                        .latencies_us
                        .push((done - began).as_micros().min(u32::MAX as u128) as u32),
                    Ok(()) => {}
                    Err(e) if e.starts_with(SHED) => {
                        if counted {
                            tally
                                .shed_latencies_us
                                .push((done - began).as_micros().min(u32::MAX as u128) as u32);
                        }
                        let secs: f64 = e[SHED.len()..].trim().parse().unwrap_or(1.0);
                        tokio::time::sleep(retry_delay(&s, secs)).await;
                        recover(&s, scenario, &mut client).await;
                    }
                    Err(e) => {
                        if counted {
                            tally.errors += 1;
                            if tally.error_samples.len() < 3 {
                                tally.error_samples.push(e);
                            }
                        }
                        let before = Instant::now();
                        recover(&s, scenario, &mut client).await;
                        if before.elapsed() > Duration::from_secs(5) {
                            tally.recovery_failures += 1;
                        }
                    }
                }
            }
            tally
        }));
    }
    barrier.wait().await;
    let start = Instant::now();
    tokio::time::sleep_until((start + warmup_d).into()).await;
    let server_cpu_0 = pid.as_deref().and_then(cpu_seconds);
    let driver_cpu_0 = cpu_seconds("self");
    let machine_cpu_0 = machine_cpu_seconds();
    tokio::time::sleep_until((start + warmup_d + duration_d).into()).await;
    let server_cpu_1 = pid.as_deref().and_then(cpu_seconds);
    let driver_cpu_1 = cpu_seconds("self");
    let machine_cpu_1 = machine_cpu_seconds();

    let mut latencies: Vec<u32> = Vec::new();
    let mut shed_latencies: Vec<u32> = Vec::new();
    let mut errors = 0u64;
    let mut samples: Vec<String> = Vec::new();
    for task in tasks {
        let tally = task.await.expect("virtual client");
        latencies.extend(tally.latencies_us);
        shed_latencies.extend(tally.shed_latencies_us);
        errors += tally.errors;
        for e in tally.error_samples {
            if samples.len() < 5 && !samples.contains(&e) {
                samples.push(e);
            }
        }
    }
    latencies.sort_unstable();
    shed_latencies.sort_unstable();
    let pct_of = |latencies: &[u32], p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        round(latencies[i] as f64 / 1000.0, 2)
    };
    let pct = |p: f64| pct_of(&latencies, p);
    let ops = latencies.len() as u64;
    let server_cpu = match (server_cpu_0, server_cpu_1) {
        (Some(a), Some(b)) => json!(round(b - a, 2)),
        _ => Value::Null,
    };
    let driver_cpu = match (driver_cpu_0, driver_cpu_1) {
        (Some(a), Some(b)) => json!(round(b - a, 2)),
        _ => Value::Null,
    };
    let machine_cpu = match (machine_cpu_0, machine_cpu_1) {
        (Some(a), Some(b)) => json!(round(b - a, 2)),
        _ => Value::Null,
    };
    println!(
        "{}",
        json!({
            "scenario": scenario_name,
            "base": settings.base,
            "conns": conns,
            "warmup_s": warmup,
            "duration_s": duration,
            "ops": ops,
            "rps": round(ops as f64 / duration, 1),
            "p50_ms": pct(0.50),
            "p90_ms": pct(0.90),
            "p99_ms": pct(0.99),
            "max_ms": pct(1.0),
            "errors": errors,
            "error_samples": samples,
            "shed": shed_latencies.len(),
            "shed_p50_ms": pct_of(&shed_latencies, 0.50),
            "shed_p99_ms": pct_of(&shed_latencies, 0.99),
            "prep_failures": prep_failures.load(std::sync::atomic::Ordering::Relaxed),
            "prep_shed": prep_shed.load(std::sync::atomic::Ordering::Relaxed),
            "server_cpu_s": server_cpu,
            "driver_cpu_s": driver_cpu,
            "machine_cpu_s": machine_cpu,
            "token_format": token_format,
        })
    );
}
