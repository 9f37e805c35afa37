//! SMTP submission: the master login sends as the person, to local mailboxes (delivered to
//! Dovecot) and outside ones (kept in the queue); everything else is refused.

use super::{imap_login, message, servers, smtp_code, submit, ALICE, BOB};

#[tokio::test]
async fn mail_submitted_with_the_master_login_arrives_in_the_recipients_inbox() {
    let Some(mail) = servers().await else { return };
    mail.add_mailbox(ALICE);
    mail.add_mailbox(BOB);

    let login = mail.master_login(ALICE);
    submit(
        &mail,
        Some((&login, mail.master_password())),
        message(ALICE, BOB, "Lunch"),
    )
    .await
    .expect("alice's mail is accepted");

    let inbox = mail.wait_for_messages(BOB, "INBOX", 1).await;
    let text = String::from_utf8_lossy(&inbox[0]);
    assert!(text.contains("Subject: Lunch"), "{text}");
    assert!(text.contains("From: alice@acme.example"), "{text}");
    // Postfix knew the sender as alice herself, not as the master user.
    assert!(
        mail.postfix_log()
            .contains("sasl_username=alice@acme.example"),
        "{}",
        mail.postfix_log()
    );
    // Delivered, not queued; and bob reads it over IMAP.
    assert!(mail.queued_outside().is_empty());
    let mut session = imap_login(&mail, &mail.master_login(BOB), mail.master_password())
        .await
        .unwrap();
    assert_eq!(session.select("INBOX").await.unwrap().exists, 1);
    // Submission files nothing in Sent: that is the client's APPEND (as SOGo does).
    assert!(mail.messages(ALICE, "Sent").is_empty());
}

#[tokio::test]
async fn submission_refuses_a_wrong_password_no_login_and_a_borrowed_sender() {
    let Some(mail) = servers().await else { return };
    let alice_password = mail.add_mailbox(ALICE);
    mail.add_mailbox(BOB);
    let login = mail.master_login(ALICE);

    let wrong = format!("{}x", mail.master_password());
    let refused = submit(&mail, Some((&login, &wrong)), message(ALICE, BOB, "1")).await;
    assert_eq!(smtp_code(refused), "535");
    // Alice's own password is no master password.
    let refused = submit(
        &mail,
        Some((&mail.master_login(BOB), &alice_password)),
        message(BOB, ALICE, "2"),
    )
    .await;
    assert_eq!(smtp_code(refused), "535");
    // No login: nobody is trusted by address, not even 127.0.0.1.
    let refused = submit(&mail, None, message(ALICE, BOB, "3")).await;
    assert_eq!(smtp_code(refused), "554");
    // Logged in as alice, mail from bob.
    let refused = submit(
        &mail,
        Some((&login, mail.master_password())),
        message(BOB, ALICE, "4"),
    )
    .await;
    assert_eq!(smtp_code(refused), "553");

    // None of it was delivered.
    submit(
        &mail,
        Some((&login, mail.master_password())),
        message(ALICE, BOB, "5"),
    )
    .await
    .unwrap();
    let inbox = mail.wait_for_messages(BOB, "INBOX", 1).await;
    assert_eq!(inbox.len(), 1);
    assert!(String::from_utf8_lossy(&inbox[0]).contains("Subject: 5"));
    assert!(mail.messages(ALICE, "INBOX").is_empty());
}

#[tokio::test]
async fn mail_for_other_domains_stays_in_the_queue_and_unknown_mailboxes_are_refused() {
    let Some(mail) = servers().await else { return };
    mail.add_mailbox(ALICE);
    let login = mail.master_login(ALICE);
    let credentials = Some((login.as_str(), mail.master_password()));

    submit(
        &mail,
        credentials,
        message(ALICE, "carol@elsewhere.example", "Out"),
    )
    .await
    .expect("mail for another domain is accepted, as Mailcow accepts it");
    assert_eq!(mail.queued_outside(), vec!["carol@elsewhere.example"]);

    // In a mail domain, only mailboxes receive mail.
    let refused = submit(
        &mail,
        credentials,
        message(ALICE, "nobody@acme.example", "?"),
    )
    .await;
    assert_eq!(smtp_code(refused), "550");
    let refused = submit(
        &mail,
        credentials,
        message(ALICE, "nobody@globex.example", "?"),
    )
    .await;
    assert_eq!(smtp_code(refused), "550");
}

#[tokio::test]
async fn a_mailbox_added_while_the_servers_run_receives_mail() {
    let Some(mail) = servers().await else { return };
    mail.add_mailbox(ALICE);
    let login = mail.master_login(ALICE);
    let credentials = Some((login.as_str(), mail.master_password()));

    let refused = submit(&mail, credentials, message(ALICE, BOB, "Too early")).await;
    assert_eq!(smtp_code(refused), "550");

    mail.add_mailbox(BOB);
    submit(&mail, credentials, message(ALICE, BOB, "Welcome"))
        .await
        .expect("bob's new mailbox takes mail");
    let inbox = mail.wait_for_messages(BOB, "INBOX", 1).await;
    assert!(String::from_utf8_lossy(&inbox[0]).contains("Subject: Welcome"));

    let globex = "dave@globex.example";
    mail.add_mailbox(globex);
    submit(&mail, credentials, message(ALICE, globex, "Hello Globex"))
        .await
        .unwrap();
    mail.wait_for_messages(globex, "INBOX", 1).await;
    imap_login(&mail, &mail.master_login(globex), mail.master_password())
        .await
        .expect("the master user logs in as the new mailbox");
}
