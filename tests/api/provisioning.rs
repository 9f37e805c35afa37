//! First-login provisioning of Nextcloud users and Mailcow mailboxes through the outbox, against
//! faithful fakes of both, including while they fail.

use std::time::Duration;

use serde_json::Value;

use crate::fakes::mailcow::FakeMailcow;
use crate::fakes::nextcloud::FakeNextcloud;
use crate::fakes::Fault;
use crate::on_both_backends;
use crate::support::{
    add_user, jwt_payload, AuthRequest, Backend, ClientSpec, Rp, Sso, TestApp, TestConfig, TestDb,
    ACME, CALLBACK, GLOBEX, PASSWORD,
};

const NC_ADMIN: (&str, &str) = ("admin", "nc-admin-password");
const MC_KEY: &str = "mailcow-api-key-0123";

struct Downstream {
    nc: FakeNextcloud,
    mc: FakeMailcow,
}

impl Downstream {
    async fn start() -> Self {
        Self {
            nc: FakeNextcloud::start(NC_ADMIN.0, NC_ADMIN.1).await,
            mc: FakeMailcow::start(MC_KEY, &["acme.example"]).await,
        }
    }

    /// Both targets, at these fakes, and an outbox that retries within a second.
    fn configure(&self, config: &mut TestConfig) {
        config
            .set("outbox.poll_interval_ms", 100)
            .set("outbox.retry_base_seconds", 1)
            .set("outbox.retry_max_seconds", 1)
            .set("outbox.max_attempts", 100)
            .set("outbox.request_timeout_seconds", 1)
            .set("provisioning.targets", vec!["nextcloud", "mailcow"])
            .set("provisioning.nextcloud.url", self.nc.url())
            .set("provisioning.nextcloud.admin_user", NC_ADMIN.0)
            .set("provisioning.nextcloud.admin_password", NC_ADMIN.1)
            .set("provisioning.nextcloud.uid_claim", "preferred_username")
            .set("provisioning.nextcloud.quota", "5 GB")
            .set("provisioning.mailcow.url", self.mc.url())
            .set("provisioning.mailcow.api_key", MC_KEY)
            .set("provisioning.mailcow.domain", "acme.example")
            .set("provisioning.mailcow.quota_mib", 2048);
    }

    fn set_fault(&self, fault: Fault) {
        self.nc.set_fault(fault);
        self.mc.set_fault(fault);
    }

    /// Nextcloud users other than the admin account the fake starts with.
    fn nc_user_count(&self) -> usize {
        self.nc
            .users()
            .keys()
            .filter(|id| *id != NC_ADMIN.0)
            .count()
    }

    fn provisioned(&self, uid: &str, mailbox: &str) -> bool {
        self.nc.users().contains_key(uid) && self.mc.mailboxes().contains_key(mailbox)
    }
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never happened: {what}");
}

async fn jobs(sso: &Sso) -> Vec<bheem_sso::store::outbox::JobStatus> {
    sso.h.app.state.db.job_statuses().await.unwrap()
}

on_both_backends!(
    first_login_creates_the_nextcloud_user_and_the_mailbox_once,
    login_succeeds_while_downstreams_answer_500_and_jobs_complete_after,
    login_succeeds_while_downstreams_time_out_and_jobs_complete_after,
    login_succeeds_while_downstreams_refuse_connections_and_jobs_complete_after,
    login_succeeds_while_downstreams_reject_the_credentials_and_jobs_complete_after,
    a_job_cut_off_by_a_killed_process_completes_after_restart,
    a_user_disabled_in_the_directory_loses_the_downstream_accounts_at_the_next_login_attempt,
    the_sweep_finds_disabled_users_without_a_login,
    logout_reaches_nextclouds_back_channel_endpoint_with_a_token_it_accepts,
    a_companys_admins_get_a_company_group_and_never_nextclouds_admin_group,
    instance_admin_roles_make_only_the_listed_companys_role_nextcloud_admins,
    the_same_local_part_in_two_companies_on_one_domain_is_refused_and_the_first_untouched,
    a_first_login_through_mailcow_gets_its_mailbox_as_email_before_the_outbox_runs,
    a_nextcloud_account_of_another_company_is_neither_taken_nor_disabled,
    a_mailbox_nobody_recorded_costs_the_mailcow_client_no_calls_to_mailcow,
    with_a_domain_per_company_each_gets_their_own_mailbox_and_mailcow_gets_its_address,
    a_mailbox_not_made_by_the_hub_is_refused,
    a_retried_job_whose_earlier_attempt_made_the_mailbox_is_done,
);

async fn first_login_creates_the_nextcloud_user_and_the_mailbox_once(backend: Backend) {
    let down = Downstream::start().await;
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .config(|c| down.configure(c))
        .start_sso()
        .await
    else {
        return;
    };
    sso.sign_in(&sso.browser(), &sso.default_rp(), &[]).await;
    eventually("alice provisioned", || {
        down.provisioned("alice", "alice@acme.example")
    })
    .await;
    let user = down.nc.users()["alice"].clone();
    assert_eq!(user.display_name, "Name of alice@acme.example");
    assert_eq!(user.email.as_deref(), Some("alice@acme.example"));
    assert_eq!(user.quota, "5 GB");
    assert_eq!(
        user.groups,
        [
            format!("company-{ACME}"),
            format!("company-{ACME}-employee")
        ]
    );
    let mailbox = down.mc.mailboxes()["alice@acme.example"].clone();
    assert_eq!(mailbox.authsource, "generic-oidc");
    assert_eq!(mailbox.quota_mib, 2048);
    assert!(mailbox.active);
    // Later logins, through any client or the API, create nothing more.
    sso.sign_in(&sso.browser(), &sso.default_rp(), &[]).await;
    let api = reqwest::Client::new()
        .post(sso.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!((down.nc.create_calls(), down.mc.add_calls()), (1, 1));
    let jobs = jobs(&sso).await;
    assert_eq!(jobs.len(), 2);
    assert!(
        jobs.iter().all(|j| j.state == "done" && j.attempts == 1),
        "{jobs:?}"
    );
}

/// Logs in while `fault` holds, checks nothing was lost, lifts it, checks it all completes once.
async fn login_through_a_fault(backend: Backend, fault: Fault, stop_servers: bool) {
    let down = Downstream::start().await;
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .config(|c| down.configure(c))
        .start_sso()
        .await
    else {
        return;
    };
    if stop_servers {
        down.nc.stop().await;
        down.mc.stop().await;
    } else {
        down.set_fault(fault);
    }
    // The login does not wait for the downstreams.
    let sign_in = sso.sign_in(&sso.browser(), &sso.default_rp(), &[]).await;
    assert_eq!(sso.userinfo_status(&sign_in.access_token()).await, 200);
    let db = sso.h.app.state.db.clone();
    let mut retried = false;
    for _ in 0..100 {
        let jobs = db.job_statuses().await.unwrap();
        if jobs.len() == 2
            && jobs
                .iter()
                .all(|j| j.attempts >= 2 && j.state != "done" && j.last_error.is_some())
        {
            retried = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        retried,
        "jobs should be retried while the downstreams fail: {:?}",
        db.job_statuses().await.unwrap()
    );
    if stop_servers {
        down.nc.restart().await;
        down.mc.restart().await;
    } else {
        down.set_fault(Fault::None);
    }
    eventually("provisioned once the downstreams are back", || {
        down.provisioned("alice", "alice@acme.example")
    })
    .await;
    eventually_jobs(&db, "jobs done", |jobs| {
        jobs.iter().all(|j| j.state == "done")
    })
    .await;
    assert_eq!(down.nc_user_count(), 1);
    assert_eq!(down.mc.mailboxes().len(), 1);
}

async fn eventually_jobs(
    db: &bheem_sso::store::Db,
    what: &str,
    check: impl Fn(&[bheem_sso::store::outbox::JobStatus]) -> bool,
) {
    for _ in 0..200 {
        if check(&db.job_statuses().await.unwrap()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "never happened: {what}: {:?}",
        db.job_statuses().await.unwrap()
    );
}

async fn login_succeeds_while_downstreams_answer_500_and_jobs_complete_after(backend: Backend) {
    login_through_a_fault(backend, Fault::ServerError, false).await;
}

async fn login_succeeds_while_downstreams_time_out_and_jobs_complete_after(backend: Backend) {
    login_through_a_fault(backend, Fault::Hang(Duration::from_secs(3)), false).await;
}

async fn login_succeeds_while_downstreams_refuse_connections_and_jobs_complete_after(
    backend: Backend,
) {
    login_through_a_fault(backend, Fault::None, true).await;
}

async fn login_succeeds_while_downstreams_reject_the_credentials_and_jobs_complete_after(
    backend: Backend,
) {
    login_through_a_fault(backend, Fault::RejectCredentials, false).await;
}

async fn a_job_cut_off_by_a_killed_process_completes_after_restart(backend: Backend) {
    let down = Downstream::start().await;
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let keys = tempfile::tempdir().unwrap();
    let node = TestApp::builder().config(|c| down.configure(c));
    // Requests hang longer than the timeout: the job is claimed and in flight when the process dies.
    down.set_fault(Fault::Hang(Duration::from_secs(30)));
    let first = node.start_on(&db.url, keys.path()).await;
    add_user(&first, "alice@acme.example", Some("alice"), ACME, PASSWORD).await;
    let login = reqwest::Client::new()
        .post(first.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    eventually_jobs(&first.state.db, "a job is running", |jobs| {
        jobs.iter().any(|j| j.state == "running")
    })
    .await;
    first.stop().await;
    down.set_fault(Fault::None);
    let second = node.start_on(&db.url, keys.path()).await;
    eventually_jobs(
        &second.state.db,
        "both jobs done after the restart",
        |jobs| jobs.len() == 2 && jobs.iter().all(|j| j.state == "done"),
    )
    .await;
    assert_eq!(down.nc_user_count(), 1);
    assert_eq!(down.mc.mailboxes().len(), 1);
    second.stop().await;
}

async fn a_user_disabled_in_the_directory_loses_the_downstream_accounts_at_the_next_login_attempt(
    backend: Backend,
) {
    let down = Downstream::start().await;
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .config(|c| down.configure(c))
        .start_sso()
        .await
    else {
        return;
    };
    sso.sign_in(&sso.browser(), &sso.default_rp(), &[]).await;
    eventually("alice provisioned", || {
        down.provisioned("alice", "alice@acme.example")
    })
    .await;
    let state = &sso.h.app.state;
    state
        .db
        .set_user_active(&sso.alice.id.to_string(), false, state.clock.now())
        .await
        .unwrap();
    let refused = reqwest::Client::new()
        .post(sso.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    eventually("Nextcloud user disabled", || {
        !down.nc.users()["alice"].enabled
    })
    .await;
    eventually("mailbox inactive", || {
        !down.mc.mailboxes()["alice@acme.example"].active
    })
    .await;
}

async fn the_sweep_finds_disabled_users_without_a_login(backend: Backend) {
    let down = Downstream::start().await;
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .config(|c| down.configure(c))
        .set("provisioning.sweep_interval_seconds", 1)
        .start_sso()
        .await
    else {
        return;
    };
    sso.sign_in(&sso.browser(), &sso.default_rp(), &[]).await;
    eventually("alice provisioned", || {
        down.provisioned("alice", "alice@acme.example")
    })
    .await;
    let state = &sso.h.app.state;
    state
        .db
        .set_user_active(&sso.alice.id.to_string(), false, state.clock.now())
        .await
        .unwrap();
    eventually("Nextcloud user disabled", || {
        !down.nc.users()["alice"].enabled
    })
    .await;
    eventually("mailbox inactive", || {
        !down.mc.mailboxes()["alice@acme.example"].active
    })
    .await;
}

async fn logout_reaches_nextclouds_back_channel_endpoint_with_a_token_it_accepts(backend: Backend) {
    let down = Downstream::start().await;
    let docs = ClientSpec::new("bheem-docs")
        .secret("docs-secret-0123456789")
        .redirect_uri("https://rp.example/callback")
        .backchannel_logout_uri(format!(
            "{}/index.php/apps/user_oidc/backchannel-logout/bheem",
            down.nc.url()
        ))
        .auth_method("client_secret_post")
        .skip_consent();
    down.nc.add_oidc_provider("bheem", "bheem-docs");
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .config(|c| down.configure(c))
        .client(docs)
        .start_sso()
        .await
    else {
        return;
    };
    let rp = sso
        .rp("bheem-docs", Some("docs-secret-0123456789"))
        .set_auth_type(openidconnect::AuthType::RequestBody);
    let browser = sso.browser();
    let id_token = sso.sign_in(&browser, &rp, &[]).await.id_token();
    // The logout starts at another client of the same session.
    let other = sso.default_rp();
    let request = AuthRequest::new(&other, &[]);
    let callback = browser.visit(request.url.as_str()).await.callback();
    let other_tokens = sso
        .exchange(
            &other,
            request.code_from(&callback),
            request.verifier_secret(),
        )
        .await
        .unwrap();
    let other_hint = {
        use openidconnect::TokenResponse as _;
        other_tokens.id_token().unwrap().to_string()
    };
    let mut logout = url::Url::parse(&sso.url("/api/v1/sso/logout")).unwrap();
    logout
        .query_pairs_mut()
        .append_pair("id_token_hint", &other_hint);
    browser.visit(logout.as_str()).await;
    eventually("Nextcloud got a logout token", || {
        !down.nc.backchannel_tokens().is_empty()
    })
    .await;
    let (provider, token) = down.nc.backchannel_tokens()[0].clone();
    assert_eq!(provider, "bheem");
    let claims: Value = crate::backchannel::accepted_claims(&sso, &token, "bheem-docs").await;
    assert_eq!(claims["sid"], jwt_payload(&id_token)["sid"]);
}

/// Two bheem-sso processes on one PostgreSQL, both running workers: every job is done once.
#[tokio::test]
async fn two_processes_on_one_postgres_do_each_job_once() {
    let down = Downstream::start().await;
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let keys = tempfile::tempdir().unwrap();
    let node = TestApp::builder().config(|c| down.configure(c));
    let a = node.start_on(&db.url, keys.path()).await;
    let b = node.start_on(&db.url, keys.path()).await;
    let http = reqwest::Client::new();
    const USERS: usize = 12;
    for i in 0..USERS {
        let email = format!("user{i}@acme.example");
        add_user(&a, &email, Some(&format!("user{i}")), ACME, PASSWORD).await;
        let app = if i % 2 == 0 { &a } else { &b };
        let login = http
            .post(app.url("/api/v1/auth/login"))
            .json(&serde_json::json!({"username": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), 200);
    }
    eventually_jobs(&a.state.db, "all jobs done", |jobs| {
        jobs.len() == 2 * USERS && jobs.iter().all(|j| j.state == "done")
    })
    .await;
    assert_eq!(down.nc_user_count(), USERS);
    assert_eq!(down.mc.mailboxes().len(), USERS);
    assert_eq!(
        down.nc.create_calls(),
        USERS,
        "no Nextcloud user created twice"
    );
    assert_eq!(down.mc.add_calls(), USERS, "no mailbox added twice");
    a.stop().await;
    b.stop().await;
}

async fn add_user_with_role(
    sso: &Sso,
    email: &str,
    username: &str,
    company: &str,
    role: &str,
) -> uuid::Uuid {
    let user = add_user(&sso.h.app, email, Some(username), company, PASSWORD).await;
    set_role(sso, user.id, role).await;
    user.id
}

async fn set_role(sso: &Sso, user: uuid::Uuid, role: &str) {
    sqlx::query("UPDATE users SET role = $1 WHERE id = $2")
        .bind(role.to_owned())
        .bind(user.to_string())
        .execute(sso.h.app.state.db.pool())
        .await
        .unwrap();
}

/// Logs in through the first-party API, which provisions the global targets.
async fn api_login(sso: &Sso, login: &str) -> u16 {
    reqwest::Client::new()
        .post(sso.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"username": login, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The ID token's claims and userinfo of `login` signing in through `rp`.
async fn claims_of(sso: &Sso, rp: &Rp, login: &str, scopes: &[&str]) -> [Value; 2] {
    use openidconnect::{OAuth2TokenResponse as _, TokenResponse as _};
    let browser = sso.browser();
    let request = AuthRequest::new(rp, scopes);
    let landing = browser.visit(request.url.as_str()).await;
    let tokens = sso
        .finish_login(&browser, rp, &request, &landing, login)
        .await;
    let id = jwt_payload(&tokens.id_token().unwrap().to_string());
    let info = sso.userinfo_json(tokens.access_token().secret()).await;
    [id, info]
}

/// The outbox job with this dedupe key once it has ended (done or failed for good).
async fn ended_job(sso: &Sso, key: &str) -> bheem_sso::store::outbox::JobStatus {
    let db = &sso.h.app.state.db;
    eventually_jobs(db, &format!("job {key} ended"), |jobs| {
        jobs.iter()
            .any(|j| j.dedupe_key == key && (j.state == "done" || j.state == "failed"))
    })
    .await;
    jobs(sso)
        .await
        .into_iter()
        .find(|j| j.dedupe_key == key)
        .unwrap()
}

fn is_nextcloud_admin_group(group: &str) -> bool {
    group.eq_ignore_ascii_case("admin")
}

async fn a_companys_admins_get_a_company_group_and_never_nextclouds_admin_group(backend: Backend) {
    let down = Downstream::start().await;
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .config(|c| down.configure(c))
        .start_sso()
        .await
    else {
        return;
    };
    set_role(&sso, sso.alice.id, "admin").await;
    add_user_with_role(&sso, "bob@globex.example", "bob", GLOBEX, "Admin").await;
    assert_eq!(api_login(&sso, "alice").await, 200);
    assert_eq!(api_login(&sso, "bob").await, 200);
    eventually("alice and bob in Nextcloud", || {
        let users = down.nc.users();
        users.contains_key("alice") && users.contains_key("bob")
    })
    .await;
    let alice = down.nc.users()["alice"].groups.clone();
    let bob = down.nc.users()["bob"].groups.clone();
    assert_eq!(
        alice,
        [format!("company-{ACME}"), format!("company-{ACME}-admin")]
    );
    assert!(!bob.iter().any(|g| is_nextcloud_admin_group(g)), "{bob:?}");
    assert!(
        !alice.iter().any(|g| bob.contains(g)),
        "two companies share no group: {alice:?} {bob:?}"
    );
    // user_oidc maps the same groups from the claim.
    let [id, info] = claims_of(&sso, &sso.default_rp(), "alice", &["company"]).await;
    assert_eq!(id["groups"], serde_json::json!(alice));
    assert_eq!(info["groups"], serde_json::json!(alice));
    assert_eq!(info["role"], "admin", "the role claim itself is unchanged");
}

async fn instance_admin_roles_make_only_the_listed_companys_role_nextcloud_admins(
    backend: Backend,
) {
    let down = Downstream::start().await;
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .config(|c| down.configure(c))
        .set(
            &format!("provisioning.nextcloud.instance_admin_roles.{ACME}"),
            vec!["Admin"],
        )
        .start_sso()
        .await
    else {
        return;
    };
    set_role(&sso, sso.alice.id, "admin").await;
    add_user_with_role(&sso, "bob@globex.example", "bob", GLOBEX, "admin").await;
    add_user_with_role(&sso, "carol@acme.example", "carol", ACME, "employee").await;
    for login in ["alice", "bob", "carol"] {
        assert_eq!(api_login(&sso, login).await, 200);
    }
    eventually("all three in Nextcloud", || down.nc_user_count() == 3).await;
    let users = down.nc.users();
    assert!(users["alice"].groups.contains(&"admin".to_owned()));
    assert!(!users["bob"]
        .groups
        .iter()
        .any(|g| is_nextcloud_admin_group(g)));
    assert!(!users["carol"]
        .groups
        .iter()
        .any(|g| is_nextcloud_admin_group(g)));
    let [id, _] = claims_of(&sso, &sso.default_rp(), "alice", &["company"]).await;
    assert_eq!(id["groups"], serde_json::json!(users["alice"].groups));
    let [id, _] = claims_of(&sso, &sso.default_rp(), "bob", &["company"]).await;
    assert!(!id["groups"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| is_nextcloud_admin_group(g.as_str().unwrap())));
}

const MAIL_SECRET: &str = "mail-secret-0123456789";

/// Mailcow's client: its `email` is the user's mailbox.
fn mail_client() -> ClientSpec {
    ClientSpec::new("bheem-mail")
        .secret(MAIL_SECRET)
        .redirect_uri(CALLBACK)
        .auth_method("client_secret_post")
        .skip_consent()
        .email_claim("mailbox")
}

fn mail_rp(sso: &Sso) -> Rp {
    sso.rp("bheem-mail", Some(MAIL_SECRET))
        .set_auth_type(openidconnect::AuthType::RequestBody)
}

async fn the_same_local_part_in_two_companies_on_one_domain_is_refused_and_the_first_untouched(
    backend: Backend,
) {
    let down = Downstream::start().await;
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .config(|c| down.configure(c))
        .client(mail_client())
        .start_sso()
        .await
    else {
        return;
    };
    let first = add_user_with_role(&sso, "john@acme.com", "john1", ACME, "employee").await;
    let second = add_user_with_role(&sso, "john@other.com", "john2", GLOBEX, "employee").await;
    assert_eq!(api_login(&sso, "john1").await, 200);
    let job = ended_job(&sso, &format!("mailcow:create:{first}")).await;
    assert_eq!(job.state, "done", "{job:?}");
    let before = down
        .mc
        .mailbox("john@acme.example")
        .expect("john1's mailbox");
    assert_eq!(down.mc.add_calls(), 1);

    assert_eq!(api_login(&sso, "john2").await, 200);
    let job = ended_job(&sso, &format!("mailcow:create:{second}")).await;
    assert_eq!(job.state, "failed", "{job:?}");
    let error = job.last_error.unwrap();
    assert!(
        error.contains("john@acme.example") && error.contains("belongs to"),
        "{error}"
    );
    assert_eq!(down.mc.add_calls(), 1, "refused before asking Mailcow");
    assert_eq!(down.mc.mailbox("john@acme.example"), Some(before.clone()));
    // Mailcow would open the mailbox named by `email`: john2 gets none.
    let [id, info] = claims_of(&sso, &mail_rp(&sso), "john2", &["email"]).await;
    assert!(
        id.get("email").is_none() && info.get("email").is_none(),
        "{info}"
    );
    let [_, info] = claims_of(&sso, &mail_rp(&sso), "john1", &["email"]).await;
    assert_eq!(info["email"], "john@acme.example");

    // Disabling john2 disables nothing of john1's.
    let state = &sso.h.app.state;
    state
        .db
        .set_user_active(&second.to_string(), false, state.clock.now())
        .await
        .unwrap();
    assert_eq!(api_login(&sso, "john2").await, 401);
    let job = ended_job(&sso, &format!("mailcow:disable:{second}")).await;
    assert_eq!(job.state, "done", "{job:?}");
    assert_eq!(down.mc.mailbox("john@acme.example"), Some(before));
}

/// Nextcloud answers "user exists" (102) for a uid that another company's user already has (an
/// ERP need not keep usernames unique across companies) or that someone made by hand: that
/// account is not this user's to be given, nor to be disabled.
async fn a_nextcloud_account_of_another_company_is_neither_taken_nor_disabled(backend: Backend) {
    let down = Downstream::start().await;
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .config(|c| down.configure(c))
        .start_sso()
        .await
    else {
        return;
    };
    let mut globex_john = crate::fakes::nextcloud::NcUser::new("john", "Database");
    globex_john.groups = vec![format!("company-{GLOBEX}")];
    globex_john.email = Some("john@globex.example".into());
    down.nc.put_user(globex_john.clone());
    let mut by_hand = crate::fakes::nextcloud::NcUser::new("mary", "Database");
    by_hand.groups = vec!["staff".into()];
    down.nc.put_user(by_hand.clone());

    let john = add_user_with_role(&sso, "john@acme.com", "john", ACME, "employee").await;
    let mary = add_user_with_role(&sso, "mary@acme.com", "mary", ACME, "employee").await;
    for (user, uid) in [(john, "john"), (mary, "mary")] {
        assert_eq!(api_login(&sso, uid).await, 200);
        let job = ended_job(&sso, &format!("nextcloud:create:{user}")).await;
        assert_eq!(job.state, "failed", "{job:?}");
        let error = job.last_error.unwrap();
        assert!(
            error.contains(&format!(
                "Nextcloud user {uid} exists but is not in group company-{ACME}"
            )),
            "{error}"
        );
    }
    assert_eq!(down.nc.user("john"), Some(globex_john.clone()));
    assert_eq!(down.nc.user("mary"), Some(by_hand.clone()));

    // Disabling ACME's john leaves Globex's john as he was.
    let state = &sso.h.app.state;
    state
        .db
        .set_user_active(&john.to_string(), false, state.clock.now())
        .await
        .unwrap();
    assert_eq!(api_login(&sso, "john").await, 401);
    let job = ended_job(&sso, &format!("nextcloud:disable:{john}")).await;
    assert_eq!(job.state, "done", "{job:?}");
    assert_eq!(down.nc.user("john"), Some(globex_john));
}

/// A mailbox made before the hub recorded owners (its job done, no row) gives its user no
/// `email` until the operator records it, and the Mailcow client's every userinfo call does not
/// turn into a round of requests to Mailcow.
async fn a_mailbox_nobody_recorded_costs_the_mailcow_client_no_calls_to_mailcow(backend: Backend) {
    let down = Downstream::start().await;
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .config(|c| down.configure(c))
        .client(mail_client())
        .start_sso()
        .await
    else {
        return;
    };
    let john = add_user_with_role(&sso, "john@acme.com", "john1", ACME, "employee").await;
    assert_eq!(api_login(&sso, "john1").await, 200);
    let job = ended_job(&sso, &format!("mailcow:create:{john}")).await;
    assert_eq!(job.state, "done", "{job:?}");
    sqlx::query("DELETE FROM mailboxes")
        .execute(sso.h.app.state.db.pool())
        .await
        .unwrap();
    let calls = down.mc.requests().len();
    let [id, info] = claims_of(&sso, &mail_rp(&sso), "john1", &["email"]).await;
    assert!(
        id.get("email").is_none() && info.get("email").is_none(),
        "{info}"
    );
    assert_eq!(down.mc.requests().len(), calls, "{:?}", down.mc.requests());
}

/// Mailcow asks for userinfo within a second of the login, before the outbox has made the
/// mailbox: it is made then and there, so the first login through Mailcow works.
async fn a_first_login_through_mailcow_gets_its_mailbox_as_email_before_the_outbox_runs(
    backend: Backend,
) {
    let down = Downstream::start().await;
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .config(|c| down.configure(c))
        .set("outbox.poll_interval_ms", 3_600_000)
        .client(mail_client())
        .start_sso()
        .await
    else {
        return;
    };
    add_user_with_role(&sso, "john@acme.com", "john1", ACME, "employee").await;
    let [id, info] = claims_of(&sso, &mail_rp(&sso), "john1", &["email"]).await;
    assert_eq!(id["email"], "john@acme.example");
    assert_eq!(info["email"], "john@acme.example");
    let mailbox = down
        .mc
        .mailbox("john@acme.example")
        .expect("made at the login");
    assert_eq!(mailbox.authsource, "generic-oidc");
    assert_eq!(down.mc.add_calls(), 1, "made once, and then known as made");
}

async fn with_a_domain_per_company_each_gets_their_own_mailbox_and_mailcow_gets_its_address(
    backend: Backend,
) {
    let down = Downstream::start().await;
    down.mc.set_domain_limits(
        "globex.example",
        crate::fakes::mailcow::DomainLimits::default(),
    );
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .config(|c| down.configure(c))
        .set(
            &format!("provisioning.mailcow.company_domains.{GLOBEX}"),
            "Globex.Example",
        )
        .client(mail_client())
        .start_sso()
        .await
    else {
        return;
    };
    let first = add_user_with_role(&sso, "john@acme.com", "john1", ACME, "employee").await;
    let second = add_user_with_role(&sso, "john@other.com", "john2", GLOBEX, "employee").await;
    assert_eq!(api_login(&sso, "john1").await, 200);
    assert_eq!(api_login(&sso, "john2").await, 200);
    for user in [first, second] {
        let job = ended_job(&sso, &format!("mailcow:create:{user}")).await;
        assert_eq!(job.state, "done", "{job:?}");
    }
    assert_eq!(
        down.mc.mailbox("john@acme.example").unwrap().name,
        "Name of john@acme.com"
    );
    assert_eq!(
        down.mc.mailbox("john@globex.example").unwrap().name,
        "Name of john@other.com"
    );
    let [id, info] = claims_of(&sso, &mail_rp(&sso), "john2", &["email", "profile"]).await;
    assert_eq!(id["email"], "john@globex.example");
    assert_eq!(info["email"], "john@globex.example");
    // Other clients still get the directory's address.
    let [_, info] = claims_of(&sso, &sso.default_rp(), "john2", &["email"]).await;
    assert_eq!(info["email"], "john@other.com");
}

async fn a_mailbox_not_made_by_the_hub_is_refused(backend: Backend) {
    let down = Downstream::start().await;
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .config(|c| down.configure(c))
        .client(mail_client())
        .start_sso()
        .await
    else {
        return;
    };
    let by_hand = crate::fakes::mailcow::Mailbox {
        username: "alice@acme.example".into(),
        local_part: "alice".into(),
        domain: "acme.example".into(),
        name: "Someone else".into(),
        quota_mib: 1024,
        active: true,
        authsource: "generic-oidc".into(),
        password: None,
        tags: Vec::new(),
    };
    down.mc.put_mailbox(by_hand.clone());
    assert_eq!(api_login(&sso, "alice").await, 200);
    let job = ended_job(&sso, &format!("mailcow:create:{}", sso.alice.id)).await;
    assert_eq!(job.state, "failed", "{job:?}");
    let error = job.last_error.unwrap();
    assert!(
        error.contains("alice@acme.example") && error.contains("did not make it"),
        "{error}"
    );
    assert_eq!(down.mc.mailbox("alice@acme.example"), Some(by_hand));
    let [_, info] = claims_of(&sso, &mail_rp(&sso), "alice", &["email"]).await;
    assert!(info.get("email").is_none(), "{info}");
}

/// The crash between Mailcow's success and the job's record: the claim and the mailbox are
/// there, the job is not done; its retry must end as done.
async fn a_retried_job_whose_earlier_attempt_made_the_mailbox_is_done(backend: Backend) {
    let down = Downstream::start().await;
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .config(|c| down.configure(c))
        .client(mail_client())
        .start_sso()
        .await
    else {
        return;
    };
    let alice = sso.alice.id.to_string();
    let state = &sso.h.app.state;
    state
        .db
        .claim_mailbox("alice@acme.example", &alice, ACME, state.clock.now())
        .await
        .unwrap();
    down.mc.put_mailbox(crate::fakes::mailcow::Mailbox {
        username: "alice@acme.example".into(),
        local_part: "alice".into(),
        domain: "acme.example".into(),
        name: "Name of alice@acme.example".into(),
        quota_mib: 2048,
        active: true,
        authsource: "generic-oidc".into(),
        password: None,
        tags: vec![format!("bheem-sso:{alice}")],
    });
    assert_eq!(api_login(&sso, "alice").await, 200);
    let job = ended_job(&sso, &format!("mailcow:create:{alice}")).await;
    assert_eq!(job.state, "done", "{job:?}");
    let [_, info] = claims_of(&sso, &mail_rp(&sso), "alice", &["email"]).await;
    assert_eq!(info["email"], "alice@acme.example");
}
