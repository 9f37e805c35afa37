//! The PHP semantics Mailcow's checks rely on: how loosely typed JSON values read as strings,
//! integers and emptiness, and its address and domain validation.

use serde_json::{Map, Value};

/// PHP's string conversion.
pub(super) fn string(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && !n.is_f64() => n.to_string(),
            Some(f) => format!("{f}"),
            None => n.to_string(),
        },
        Value::Bool(true) => "1".to_owned(),
        Value::Bool(false) | Value::Null => String::new(),
        Value::Array(_) | Value::Object(_) => "Array".to_owned(),
    }
}

/// PHP's intval: the leading integer of a string ("1024", " 7 MiB" → 7), 0 when none.
pub(super) fn intval(value: &Value) -> i64 {
    match value {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f.trunc() as i64))
            .unwrap_or(0),
        Value::String(s) => {
            let s = s.trim_start();
            let sign_len = usize::from(s.starts_with(['+', '-']));
            let digits = s[sign_len..]
                .chars()
                .take_while(char::is_ascii_digit)
                .count();
            s[..sign_len + digits].parse().unwrap_or(0)
        }
        Value::Bool(b) => i64::from(*b),
        Value::Null => 0,
        Value::Array(items) => i64::from(!items.is_empty()),
        Value::Object(map) => i64::from(!map.is_empty()),
    }
}

/// PHP's empty(): null, false, 0, "", "0" and [] are empty.
pub(super) fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty() || s == "0",
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
    }
}

/// PHP's isset() on an array key: present and not null.
pub(super) fn isset<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).filter(|value| !value.is_null())
}

/// filter_var(…, FILTER_VALIDATE_EMAIL), near enough: a dot-atom local part and a host name
/// whose last label starts with a letter.
pub(super) fn is_valid_email(address: &str) -> bool {
    let Some((local, domain)) = address.rsplit_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.starts_with(|c: char| c.is_ascii_alphabetic()));
    local_ok && domain_ok
}

/// Mailcow's is_valid_domain_name: dot-separated labels of letters and digits with inner
/// hyphens, 63 characters a label, 253 in all.
pub(super) fn is_valid_domain_name(domain: &str) -> bool {
    !domain.is_empty()
        && domain.len() <= 253
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.starts_with(|c: char| c.is_ascii_alphanumeric())
                && label.ends_with(|c: char| c.is_ascii_alphanumeric())
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}
