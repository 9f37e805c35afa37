//! The provisioning API's user and group calls, with the checks and OCS codes of
//! `apps/provisioning_api/lib/Controller/{UsersController,GroupsController}.php`.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::ocs::{Ocs, Params, TypeError};
use super::{NcUser, Nextcloud};

/// IUserManager::MAX_PASSWORD_LENGTH.
const MAX_PASSWORD_LENGTH: usize = 469;

/// `POST /cloud/users`.
pub(super) async fn add_user(State(nc): State<Nextcloud>, ocs: Ocs, params: Params) -> Response {
    match add_user_with(&nc, &ocs, &params) {
        Ok(response) => response,
        Err(type_error) => type_error.into_response(),
    }
}

fn add_user_with(nc: &Nextcloud, ocs: &Ocs, params: &Params) -> Result<Response, TypeError> {
    // `string $userid` has no default: leaving it out is a TypeError.
    let userid = params.string("userid")?.ok_or(TypeError)?;
    let password = params.string_or_empty("password")?;
    let display_name = params.string_or_empty("displayName")?;
    let email = params.string_or_empty("email")?;
    let groups = params.list("groups")?;
    params.list("subadmin")?;
    let quota = params.string_or_empty("quota")?;
    let language = params.string_or_empty("language")?;

    let mut state = nc.lock();
    if state.find_user(&userid).is_some() {
        return Ok(ocs.fail(102, "User already exists"));
    }
    if let Some(missing) = groups.iter().find(|group| !state.groups.contains(*group)) {
        return Ok(ocs.fail(104, &format!("group {missing} does not exist")));
    }
    if password.len() > MAX_PASSWORD_LENGTH {
        return Ok(ocs.fail(101, "Invalid password value"));
    }
    if password.is_empty() && email.is_empty() {
        return Ok(ocs.fail(
            108,
            "To send a password link to the user an email address is required.",
        ));
    }
    // IUserManager::createUser throws InvalidArgumentException, answered as 101 + its message.
    if let Err(message) = check_user_id(&userid) {
        return Ok(ocs.fail(101, message));
    }

    let mut user = NcUser::new(&userid, "Database");
    user.password = (!password.is_empty()).then_some(password);
    user.groups = groups;
    if !display_name.is_empty() {
        user.display_name = display_name;
    }
    // The account exists from here on: a bad quota or language below fails the call but
    // leaves the user created, as Nextcloud does.
    state.users.insert(userid.clone(), user);
    let user = state.users.get_mut(&userid).unwrap();
    if !quota.is_empty() {
        match normalize_quota(&quota) {
            Some(quota) => user.quota = quota,
            None => return Ok(ocs.fail(103, &format!("Invalid quota value {quota}"))),
        }
    }
    if !language.is_empty() {
        if !looks_like_language_code(&language) {
            return Ok(ocs.fail(102, "Invalid language"));
        }
        user.language = language;
    }
    if !email.is_empty() {
        user.email = Some(email);
    }
    Ok(ocs.ok(json!({ "id": userid })))
}

/// The rules of Nextcloud's user manager for a new user id.
fn check_user_id(uid: &str) -> Result<(), &'static str> {
    if uid.is_empty() {
        return Err("A valid username must be provided");
    }
    if uid.trim() != uid {
        return Err("Username contains whitespace at the beginning or at the end");
    }
    if uid.chars().all(|c| c == '.') {
        return Err("Username must not consist of dots only");
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || " _.@-'".contains(c);
    if !uid.chars().all(allowed) {
        return Err(
            "Only the following characters are allowed in a username: \"a-z\", \"A-Z\", \"0-9\", spaces and \"_.@-'\"",
        );
    }
    if uid.chars().count() > 64 {
        return Err("Login is too long");
    }
    Ok(())
}

fn looks_like_language_code(code: &str) -> bool {
    let (language, region) = code.split_once('_').unwrap_or((code, ""));
    (2..=3).contains(&language.len())
        && language.chars().all(|c| c.is_ascii_lowercase())
        && region.chars().all(|c| c.is_ascii_alphabetic())
}

/// `GET /cloud/users/{id}`.
pub(super) async fn get_user(
    State(nc): State<Nextcloud>,
    ocs: Ocs,
    Path(id): Path<String>,
) -> Response {
    let mut state = nc.lock();
    match state.find_user(&id) {
        Some(user) => ocs.ok(user_details(user)),
        None => ocs.fail(404, "User does not exist"),
    }
}

/// AUserData::getUserData, for a user who has never logged in (no home folder yet).
fn user_details(user: &NcUser) -> Value {
    let quota = match quota_bytes(&user.quota) {
        Some(bytes) => json!(bytes),
        None => json!("none"),
    };
    let language = if user.language.is_empty() {
        "en"
    } else {
        &user.language
    };
    json!({
        "enabled": user.enabled,
        "storageLocation": format!("/var/www/html/data/{}", user.id),
        "id": user.id,
        "firstLoginTimestamp": -1,
        "lastLoginTimestamp": 0,
        "lastLogin": 0,
        "backend": user.backend,
        "subadmin": [],
        "quota": { "quota": quota, "used": 0 },
        "manager": "",
        "email": user.email,
        "additional_mail": [],
        "displayname": user.display_name,
        "display-name": user.display_name,
        "phone": "",
        "address": "",
        "website": "",
        "twitter": "",
        "fediverse": "",
        "organisation": "",
        "role": "",
        "headline": "",
        "biography": "",
        "profile_enabled": "1",
        "groups": user.groups,
        "language": language,
        "locale": "",
        "timezone": "",
        "notify_email": null,
        "backendCapabilities": {
            "setDisplayName": true,
            "setPassword": user.backend == "Database",
        },
    })
}

/// `PUT /cloud/users/{id}/disable`.
pub(super) async fn disable_user(
    State(nc): State<Nextcloud>,
    ocs: Ocs,
    Path(id): Path<String>,
) -> Response {
    set_enabled(&nc, &ocs, &id, false)
}

/// `PUT /cloud/users/{id}/enable`.
pub(super) async fn enable_user(
    State(nc): State<Nextcloud>,
    ocs: Ocs,
    Path(id): Path<String>,
) -> Response {
    set_enabled(&nc, &ocs, &id, true)
}

fn set_enabled(nc: &Nextcloud, ocs: &Ocs, id: &str, enabled: bool) -> Response {
    let admin = nc.admin_user.to_lowercase();
    let mut state = nc.lock();
    match state.find_user(id) {
        // An unknown user and the caller's own account are refused alike.
        Some(user) if user.id.to_lowercase() != admin => {
            user.enabled = enabled;
            ocs.ok(json!([]))
        }
        _ => ocs.fail(101, ""),
    }
}

/// `POST /cloud/users/{id}/groups` with `groupid`.
pub(super) async fn add_to_group(
    State(nc): State<Nextcloud>,
    ocs: Ocs,
    Path(id): Path<String>,
    params: Params,
) -> Response {
    let group = match params.string_or_empty("groupid") {
        Ok(group) => group,
        Err(type_error) => return type_error.into_response(),
    };
    if group.is_empty() {
        return ocs.fail(101, "");
    }
    let mut state = nc.lock();
    if !state.groups.contains(&group) {
        return ocs.fail(102, "");
    }
    let Some(user) = state.find_user(&id) else {
        return ocs.fail(103, "");
    };
    if !user.groups.contains(&group) {
        user.groups.push(group);
    }
    ocs.ok(json!([]))
}

/// `POST /cloud/groups` with `groupid`.
pub(super) async fn add_group(State(nc): State<Nextcloud>, ocs: Ocs, params: Params) -> Response {
    let group = match params.string_or_empty("groupid") {
        Ok(group) => group,
        Err(type_error) => return type_error.into_response(),
    };
    if group.is_empty() {
        return ocs.fail(101, "Invalid group name");
    }
    let mut state = nc.lock();
    if state.groups.contains(&group) {
        return ocs.fail(102, "group exists");
    }
    state.groups.insert(group);
    ocs.ok(json!([]))
}

/// What Nextcloud stores for a quota it is sent (IUser::setQuota and editUser): `none`,
/// `default`, or the size rewritten by humanFileSize. `None` when it cannot read a size.
pub(super) fn normalize_quota(value: &str) -> Option<String> {
    if value == "none" || value == "default" {
        return Some(value.to_owned());
    }
    let bytes = if is_numeric(value) {
        value.trim().parse::<f64>().ok()?
    } else {
        computer_file_size(value)?
    };
    if bytes == -1.0 {
        return Some("none".to_owned());
    }
    Some(human_file_size(bytes))
}

/// The quota in bytes, `None` for unlimited (`none`, and `default` with no default set).
fn quota_bytes(quota: &str) -> Option<i64> {
    match quota {
        "none" | "default" => None,
        quota => computer_file_size(quota).map(|bytes| bytes as i64),
    }
}

/// PHP's is_numeric, near enough: an optionally signed decimal number.
fn is_numeric(value: &str) -> bool {
    let value = value.trim_start();
    !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_digit() || "+-.eE".contains(c))
        && value.parse::<f64>().is_ok()
}

/// OCP\Util::computerFileSize: "5 GB", "5gb", "512 MB", "1.5G" in bytes (powers of 1024).
fn computer_file_size(value: &str) -> Option<f64> {
    let value = value.to_lowercase();
    if is_numeric(&value) {
        return value.trim().parse().ok();
    }
    let bytes = leading_float(&value);
    // preg_match('#([kmgtp]?b?)$#si', …) and a look-up of what it captured.
    let unit = if let Some(rest) = value.strip_suffix('b') {
        match rest.chars().last() {
            Some(c @ ('k' | 'm' | 'g' | 't' | 'p')) => format!("{c}b"),
            _ => "b".to_owned(),
        }
    } else {
        match value.chars().last() {
            Some(c @ ('k' | 'm' | 'g' | 't' | 'p')) => c.to_string(),
            _ => return None,
        }
    };
    let power = match unit.as_str() {
        "b" => 0,
        "k" | "kb" => 1,
        "m" | "mb" => 2,
        "g" | "gb" => 3,
        "t" | "tb" => 4,
        "p" | "pb" => 5,
        _ => return None,
    };
    Some((bytes * 1024f64.powi(power)).round())
}

/// PHP's (float) cast: the longest numeric prefix, 0 when there is none.
fn leading_float(value: &str) -> f64 {
    let value = value.trim_start();
    let end = value
        .char_indices()
        .take_while(|(i, c)| c.is_ascii_digit() || *c == '.' || (*i == 0 && "+-".contains(*c)))
        .count();
    (1..=end)
        .rev()
        .find_map(|len| value[..len].parse::<f64>().ok())
        .unwrap_or(0.0)
}

/// OCP\Util::humanFileSize, with PHP's rounding and float printing ("5 GB", "1.5 GB").
fn human_file_size(bytes: f64) -> String {
    if bytes < 0.0 {
        return "?".to_owned();
    }
    if bytes < 1024.0 {
        return format!("{bytes} B");
    }
    let round1 = |x: f64| (x * 10.0).round() / 10.0;
    let mut size = (bytes / 1024.0).round();
    if size < 1024.0 {
        return format!("{size} KB");
    }
    for unit in ["MB", "GB", "TB"] {
        size = round1(size / 1024.0);
        if size < 1024.0 {
            return format!("{size} {unit}");
        }
    }
    format!("{} PB", round1(size / 1024.0))
}
