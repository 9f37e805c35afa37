//! IMAP: the master user's login, what it sees, and every login it must not allow.

use async_imap::types::{NameAttribute, QuotaResourceName};
use futures_util::TryStreamExt as _;

use super::{imap_client, imap_login, servers, ALICE, BOB, MASTER};

#[tokio::test]
async fn the_master_login_sees_the_special_use_folders_and_the_quota() {
    let Some(mail) = servers().await else { return };
    mail.add_mailbox_with_quota(ALICE, 10 << 20);

    let mut session = imap_login(&mail, &mail.master_login(ALICE), mail.master_password())
        .await
        .unwrap_or_else(|e| panic!("the master login as alice: {e}\n{}", mail.dovecot_log()));
    let names: Vec<_> = session
        .list(Some(""), Some("*"))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let mut folders: Vec<(String, Option<String>)> = names
        .iter()
        .map(|n| {
            let special = n.attributes().iter().find_map(|a| match a {
                NameAttribute::Drafts => Some("Drafts"),
                NameAttribute::Sent => Some("Sent"),
                NameAttribute::Trash => Some("Trash"),
                NameAttribute::Junk => Some("Junk"),
                _ => None,
            });
            (n.name().to_owned(), special.map(str::to_owned))
        })
        .collect();
    folders.sort();
    let expected: Vec<(String, Option<String>)> = [
        ("Drafts", Some("Drafts")),
        ("INBOX", None),
        ("Junk", Some("Junk")),
        ("Sent", Some("Sent")),
        ("Trash", Some("Trash")),
    ]
    .into_iter()
    .map(|(n, s)| (n.to_owned(), s.map(str::to_owned)))
    .collect();
    assert_eq!(folders, expected);
    assert_eq!(names[0].delimiter(), Some("/"), "Mailcow's separator");

    // The quota in KiB (RFC 2087), empty at first, then counting what is stored.
    let storage = |quotas: &[async_imap::types::Quota]| {
        let resource = quotas[0]
            .resources
            .iter()
            .find(|r| r.name == QuotaResourceName::Storage)
            .expect("a STORAGE quota")
            .clone();
        (resource.usage, resource.limit)
    };
    let (_, quotas) = session.get_quota_root("INBOX").await.unwrap();
    assert_eq!(storage(&quotas), (0, 10 << 10));
    let raw = format!(
        "From: {BOB}\r\nTo: {ALICE}\r\nSubject: filed\r\n\r\n{}\r\n",
        "x".repeat(4000)
    );
    mail.save(ALICE, "INBOX", raw.as_bytes());
    mail.save(
        ALICE,
        "Sent",
        b"From: alice@acme.example\r\nSubject: kept\r\n\r\nhi\r\n",
    );
    let (_, quotas) = session.get_quota_root("INBOX").await.unwrap();
    let (used, limit) = storage(&quotas);
    assert!((4..=5).contains(&used), "{used} KiB used");
    assert_eq!(limit, 10 << 10);

    assert_eq!(session.select("INBOX").await.unwrap().exists, 1);
    assert_eq!(session.select("Sent").await.unwrap().exists, 1);
    // As stored: Dovecot keeps LF line ends in Maildir.
    assert_eq!(
        mail.messages(ALICE, "INBOX"),
        vec![raw.replace("\r\n", "\n").into_bytes()]
    );
    session.logout().await.unwrap();
}

#[tokio::test]
async fn a_wrong_master_password_is_refused() {
    let Some(mail) = servers().await else { return };
    mail.add_mailbox(ALICE);

    let wrong = format!("{}x", mail.master_password());
    let refused = imap_login(&mail, &mail.master_login(ALICE), &wrong).await;
    assert!(
        matches!(refused, Err(async_imap::error::Error::No(_))),
        "{refused:?}"
    );
    // The right one still works after a refusal, at once (no penalty here).
    imap_login(&mail, &mail.master_login(ALICE), mail.master_password())
        .await
        .expect("the master user logs in as alice");
}

#[tokio::test]
async fn no_one_logs_in_as_another_without_the_master_password() {
    let Some(mail) = servers().await else { return };
    let alice_password = mail.add_mailbox(ALICE);
    mail.add_mailbox(BOB);

    // Alice's own password opens her mailbox, and only hers.
    imap_login(&mail, ALICE, &alice_password)
        .await
        .expect("alice logs in with her own password");
    let refusals = [
        // Alice is not a master user.
        (format!("{BOB}*{ALICE}"), alice_password.clone()),
        (BOB.to_owned(), alice_password.clone()),
        // The master login wants the master password, not the mailbox's.
        (mail.master_login(BOB), alice_password.clone()),
        // The master user is nobody's mailbox by itself.
        (MASTER.to_owned(), mail.master_password().to_owned()),
    ];
    for (user, password) in refusals {
        let refused = imap_login(&mail, &user, &password).await;
        assert!(
            matches!(refused, Err(async_imap::error::Error::No(_))),
            "{user}: {refused:?}"
        );
    }

    // A mailbox that does not exist: the master password is right, the login still fails
    // (Dovecot finds no such user; as in Mailcow, it answers [UNAVAILABLE], not a refusal).
    let missing = imap_login(
        &mail,
        &mail.master_login("carol@acme.example"),
        mail.master_password(),
    )
    .await;
    assert!(missing.is_err(), "{missing:?}");

    // Nothing to read before a login.
    let mut client = imap_client(&mail).await;
    assert!(client
        .run_command_and_check_ok("SELECT INBOX", None)
        .await
        .is_err());
}
