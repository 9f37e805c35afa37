//! Every job is done once, however it is disturbed: logins never wait for downstreams that
//! answer 500, hang, refuse connections or reject the credentials, and the jobs complete once
//! they are back; a process killed mid-job leaves its job to the next; two processes on one
//! database never both do a job.

use std::time::Duration;

use super::{eventually, eventually_jobs, Downstream};
use crate::fakes::Fault;
use crate::on_both_backends;
use crate::support::{add_user, Backend, TestApp, TestDb, ACME, PASSWORD};

on_both_backends!(
    login_succeeds_while_downstreams_answer_500_and_jobs_complete_after,
    login_succeeds_while_downstreams_time_out_and_jobs_complete_after,
    login_succeeds_while_downstreams_refuse_connections_and_jobs_complete_after,
    login_succeeds_while_downstreams_reject_the_credentials_and_jobs_complete_after,
    a_job_cut_off_by_a_killed_process_completes_after_restart,
);

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
