//! The files in deploy/: the systemd unit passes `systemd-analyze verify` and its sandbox rating,
//! has every hardening directive the deployment guide promises, and the unit, the configuration
//! and the nginx site agree with each other. (The nginx site itself runs in `tls_proxy`.)

use std::path::Path;
use std::process::Command;

use bheem_sso::config::{Backend, Config, ConfigSource};

const UNIT: &str = include_str!("../../deploy/bheem-sso.service");
const CONFIG: &str = include_str!("../../deploy/bheem-sso.toml");
const SITE: &str = include_str!("../../deploy/nginx/bheem-sso.conf");
const SYSTEMD_ANALYZE: &str = "/usr/bin/systemd-analyze";

/// The values of `key=` in the unit, in order (a key may be given more than once).
fn directive<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    unit.lines()
        .filter_map(|line| line.trim().strip_prefix(key)?.strip_prefix('='))
        .collect()
}

/// systemd-analyze's path, or `None` (skip) outside CI when it is not installed.
fn systemd_analyze() -> Option<&'static str> {
    if Path::new(SYSTEMD_ANALYZE).is_file() {
        return Some(SYSTEMD_ANALYZE);
    }
    if std::env::var_os("CI").is_some() {
        panic!("CI must check the systemd unit, but {SYSTEMD_ANALYZE} is missing: install Debian's systemd (scripts/test does)");
    }
    eprintln!("SKIPPED: {SYSTEMD_ANALYZE} is missing; install Debian's systemd to run this test");
    None
}

/// The unit as shipped, with ExecStart pointing at the binary this build made (systemd-analyze
/// checks that the command exists), in a folder of its own.
fn unit_here(dir: &Path) -> std::path::PathBuf {
    let unit = UNIT.replace("/usr/local/bin/bheem-sso", env!("CARGO_BIN_EXE_bheem-sso"));
    let path = dir.join("bheem-sso.service");
    std::fs::write(&path, unit).unwrap();
    path
}

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify_and_its_security_rating() {
    let Some(analyze) = systemd_analyze() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_here(dir.path());
    let verify = Command::new(analyze)
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
        .unwrap();
    // An unknown or misspelt directive is only a warning (exit 0), so any output is a failure.
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(verify.status.success() && said.trim().is_empty(), "{said}");

    // systemd's own rating of the sandbox, 0 (locked down) to 10 (unprotected); `--threshold`
    // counts in tenths. 2.0 and under is what systemd calls "OK".
    let security = Command::new(analyze)
        .args(["security", "--offline=true", "--threshold=20"])
        .arg(&unit)
        .output()
        .unwrap();
    let rating = String::from_utf8_lossy(&security.stdout);
    assert!(
        security.status.success(),
        "exposure above 2.0:\n{rating}{}",
        String::from_utf8_lossy(&security.stderr)
    );
}

#[test]
fn the_systemd_unit_is_hardened_as_the_guide_says() {
    let one = |key: &str| -> &str {
        match directive(UNIT, key).as_slice() {
            [value] => value,
            other => panic!("{key}= is set {} times in the unit", other.len()),
        }
    };
    assert_eq!(one("User"), "bheem-sso");
    assert_eq!(one("ProtectSystem"), "strict");
    assert_eq!(one("ProtectHome"), "yes");
    assert_eq!(one("PrivateTmp"), "yes");
    assert_eq!(one("NoNewPrivileges"), "yes");
    assert_eq!(one("CapabilityBoundingSet"), "", "no capabilities at all");
    assert_eq!(one("RestrictAddressFamilies"), "AF_UNIX AF_INET AF_INET6");
    assert_eq!(directive(UNIT, "SystemCallFilter")[0], "@system-service");
    assert_eq!(one("StateDirectory"), "bheem-sso bheem-sso/keys");
    assert_eq!(one("StateDirectoryMode"), "0700");
    assert_eq!(one("ConfigurationDirectory"), "bheem-sso");
    assert_eq!(
        one("ExecReload"),
        "/bin/kill -HUP $MAINPID",
        "SIGHUP reloads the keys"
    );
    assert_eq!(one("Restart"), "on-failure");
    assert_eq!(
        one("ExecStart"),
        "/usr/local/bin/bheem-sso serve --config /etc/bheem-sso/bheem-sso.toml"
    );
}

/// The configuration parses as the server reads it, and points where the unit and the nginx
/// site expect: state in the StateDirectory, listening where nginx proxies to, nginx trusted.
#[test]
fn the_shipped_configuration_matches_the_unit_and_the_nginx_site() {
    let config = Config::from_parts(CONFIG, &[], ConfigSource::BuiltInDefaults)
        .unwrap_or_else(|e| panic!("deploy/bheem-sso.toml: {e}"));
    assert!(
        config.issuer.is_https(),
        "cookies are __Host- only on https"
    );
    assert!(config.listen.ip().is_loopback(), "only nginx reaches it");
    assert!(
        SITE.contains(&format!("server {};", config.listen)),
        "nginx proxies to {}",
        config.listen
    );
    let nginx: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    assert!(config
        .trusted_proxies
        .iter()
        .any(|net| net.contains(&nginx)));

    let state = "/var/lib/bheem-sso";
    assert_eq!(config.database_url.backend(), Backend::Sqlite);
    assert!(
        config
            .database_url
            .expose()
            .starts_with(&format!("sqlite://{state}/")),
        "the database is in the StateDirectory"
    );
    assert_eq!(config.keys_dir, Path::new(state).join("keys"));
    let host = config.issuer.as_str().trim_start_matches("https://");
    assert!(
        SITE.contains(&format!("server_name {host};")),
        "nginx serves the issuer's host {host}"
    );

    // nginx passes what bheem-sso reads.
    for header in [
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "proxy_set_header X-Request-Id $request_id;",
        "request_id=$request_id",
    ] {
        assert!(SITE.contains(header), "the nginx site lacks `{header}`");
    }
}
