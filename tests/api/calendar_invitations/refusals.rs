//! Invitations no retry would deliver: the job fails at once with a message that says why, and
//! nobody gets anything.

use super::{ended, enqueue, fast_outbox, invitation, InviteApp, BOB};
use crate::on_both_backends;
use crate::support::{Backend, TestApp, ACME, GLOBEX};

on_both_backends!(
    an_organizer_unknown_disabled_or_of_another_company_fails_the_job,
    a_recipient_the_mail_server_refuses_fails_the_job_and_reaches_nobody,
    without_mail_configured_an_invitation_fails_saying_so,
);

async fn an_organizer_unknown_disabled_or_of_another_company_fails_the_job(backend: Backend) {
    let Some(app) = InviteApp::start(backend).await else {
        return;
    };
    let unknown = uuid::Uuid::new_v4().to_string();
    let cases = [
        (
            ACME,
            unknown.clone(),
            format!("the organizer {unknown} is not in the directory"),
        ),
        (
            ACME,
            app.eve_id.clone(),
            format!("the organizer {} is not of company {ACME}", app.eve_id),
        ),
    ];
    for (n, (company, organizer, error)) in cases.into_iter().enumerate() {
        let uid = format!("refused-{n}@bheem.cloud");
        let key = enqueue(
            &app.sso,
            invitation(company, &organizer, &uid, 0, "REQUEST"),
        )
        .await;
        let job = ended(&app.sso, &key).await;
        assert_eq!(job.state, "failed", "{job:?}");
        assert_eq!(job.attempts, 1, "not retried: {job:?}");
        assert_eq!(job.last_error.as_deref(), Some(error.as_str()));
    }

    // Eve, of her own company, could send; once disabled she cannot.
    let state = &app.sso.h.app.state;
    let changed = state
        .db
        .set_user_active(&app.eve_id, false, state.clock.now())
        .await
        .unwrap();
    assert!(changed);
    let key = enqueue(
        &app.sso,
        invitation(GLOBEX, &app.eve_id, "disabled@bheem.cloud", 0, "REQUEST"),
    )
    .await;
    let job = ended(&app.sso, &key).await;
    assert_eq!(job.state, "failed");
    assert_eq!(
        job.last_error.as_deref(),
        Some(format!("the organizer {} is disabled", app.eve_id).as_str())
    );
    assert!(app.mail.messages(BOB, "INBOX").is_empty());
    assert!(app.mail.queued_outside().is_empty());
}

async fn a_recipient_the_mail_server_refuses_fails_the_job_and_reaches_nobody(backend: Backend) {
    let Some(app) = InviteApp::start(backend).await else {
        return;
    };
    // nobody@acme.example has no mailbox: Postfix refuses it at RCPT with a 5xx, before the
    // message is taken for anyone.
    let mut refused = invitation(ACME, &app.alice_id(), "nobody@bheem.cloud", 0, "REQUEST");
    refused.recipients.push("nobody@acme.example".into());
    let key = enqueue(&app.sso, refused).await;
    let job = ended(&app.sso, &key).await;
    assert_eq!(job.state, "failed", "{job:?}");
    assert_eq!(job.attempts, 1, "a 5xx is not tried again: {job:?}");
    let error = job.last_error.unwrap();
    assert!(error.contains("Recipient address rejected"), "{error}");
    assert!(error.starts_with("smtp refused: "), "{error}");
    assert!(app.mail.messages(BOB, "INBOX").is_empty());
    assert!(app.mail.queued_outside().is_empty());
}

async fn without_mail_configured_an_invitation_fails_saying_so(backend: Backend) {
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .config(fast_outbox)
        .start_sso()
        .await
    else {
        return;
    };
    let alice = sso.alice.id.to_string();
    let key = enqueue(
        &sso,
        invitation(ACME, &alice, "nomail@bheem.cloud", 0, "REQUEST"),
    )
    .await;
    let job = ended(&sso, &key).await;
    assert_eq!(job.state, "failed");
    assert_eq!(
        job.last_error.as_deref(),
        Some("[mail] is not configured: calendar invitations cannot be sent")
    );
}
