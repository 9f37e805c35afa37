//! deploy/grafana/bheem-sso.json asks only for metrics the server exports, and shows each.

use std::collections::BTreeSet;
use std::path::Path;

use bheem_sso::telemetry::{Kind, METRICS};

/// The metric names a PromQL expression uses: every `bheem_sso_…` word, less the suffixes
/// Prometheus adds to a histogram's series.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = expr;
    while let Some(at) = rest.find("bheem_sso_") {
        let word: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + word.len()..];
        names.insert(word);
    }
    names
}

fn exported(name: &str) -> bool {
    METRICS.iter().any(|m| {
        m.name == name
            || m.kind == Kind::Histogram
                && ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|suffix| name.strip_suffix(suffix) == Some(m.name))
    })
}

#[test]
fn the_dashboard_asks_only_for_metrics_the_server_exports() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/grafana/bheem-sso.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut used = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{} has no query", panel["title"]);
        for target in targets {
            let expr = target["expr"].as_str().unwrap();
            let names = metric_names(expr);
            assert!(!names.is_empty(), "{expr} uses no metric of ours");
            used.extend(names);
        }
    }
    let unknown: Vec<_> = used.iter().filter(|name| !exported(name)).collect();
    assert!(unknown.is_empty(), "not exported: {unknown:?}");
    // And the other way round: each metric has a panel.
    for metric in METRICS {
        assert!(
            used.iter().any(|name| name.starts_with(metric.name)),
            "{} has no panel",
            metric.name
        );
    }
}

#[test]
fn the_dashboard_check_catches_a_misspelt_metric() {
    let names =
        metric_names("sum(rate(bheem_sso_http_request_total[5m])) / sum(bheem_sso_logins_total)");
    assert_eq!(
        names.iter().map(String::as_str).collect::<Vec<_>>(),
        ["bheem_sso_http_request_total", "bheem_sso_logins_total"]
    );
    assert!(!exported("bheem_sso_http_request_total"));
    assert!(exported("bheem_sso_logins_total"));
    assert!(exported("bheem_sso_http_request_duration_seconds_bucket"));
    assert!(!exported("bheem_sso_logins_total_bucket"));
}
