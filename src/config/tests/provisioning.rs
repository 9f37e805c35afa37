//! `[provisioning]`'s refusals: targets without their section, mail domains per company, and
//! the mailbox email claim, which needs Mailcow and a client that makes mailboxes.

use super::*;

const MAILCOW: &str = r#"
[provisioning.mailcow]
url = "https://mail.example.com"
api_key = "mailcow-api-key"
domain = "Example.COM"
"#;

#[test]
fn provisioning_targets_need_their_section() {
    assert_eq!(
        key_of(load("[provisioning]\ntargets = [\"mailcow\"]\n")),
        "provisioning.targets"
    );
    let client = r#"
        [[clients]]
        client_id = "docs"
        client_secret = "0123456789abcdef0123"
        redirect_uris = ["https://docs.example.com/apps/user_oidc/code"]
        provision = ["nextcloud"]
    "#;
    assert_eq!(key_of(load(client)), r#"clients["docs"].provision"#);
}

#[test]
fn mail_domains_are_checked_and_kept_per_company() {
    let globex = uuid::Uuid::from_u128(9);
    let config = load(&format!(
        "{MAILCOW}[provisioning.mailcow.company_domains]\n\"{globex}\" = \"Globex.example\"\n"
    ))
    .unwrap();
    let mailcow = config.provisioning.mailcow.unwrap();
    assert_eq!(mailcow.domain_of(globex), "globex.example");
    assert_eq!(mailcow.domain_of(uuid::Uuid::from_u128(1)), "example.com");
    for bad in [
        "\"not-a-uuid\" = \"globex.example\"",
        "\"00000000-0000-0000-0000-000000000009\" = \"globex\"",
        "\"00000000-0000-0000-0000-000000000009\" = \"-globex.example\"",
        "\"00000000-0000-0000-0000-000000000009\" = \"globex.example/x\"",
    ] {
        assert_eq!(
            key_of(load(&format!(
                "{MAILCOW}[provisioning.mailcow.company_domains]\n{bad}\n"
            ))),
            "provisioning.mailcow.company_domains",
            "{bad}"
        );
    }
    assert_eq!(
        key_of(load(&MAILCOW.replace("Example.COM", "user@example.com"))),
        "provisioning.mailcow.domain"
    );
}

#[test]
fn the_mailbox_email_claim_needs_mailcow() {
    let client = r#"
        [[clients]]
        client_id = "mail"
        client_secret = "0123456789abcdef0123"
        redirect_uris = ["https://mail.example.com"]
        provision = ["mailcow"]
        email_claim = "mailbox"
    "#;
    assert_eq!(key_of(load(client)), r#"clients["mail"].provision"#);
    let config = load(&format!("{MAILCOW}{client}")).unwrap();
    assert_eq!(config.clients[0].email_claim, EmailClaim::Mailbox);
    let unknown = key_of(load(&format!(
        "{MAILCOW}{}",
        client.replace("\"mailbox\"", "\"inbox\"")
    )));
    assert!(unknown.ends_with("email_claim"), "{unknown}");
}

#[test]
fn a_mailbox_email_claim_needs_a_client_that_makes_mailboxes() {
    let mailcow = "[provisioning.mailcow]\nurl = \"https://mail.example.com\"\n\
                   api_key = \"mailcow-api-key\"\ndomain = \"example.com\"\n";
    let client = |provision: &str| {
        format!(
            "[[clients]]\nclient_id = \"bheem-mail\"\nclient_secret = \"0123456789abcdef0123\"\n\
             redirect_uris = [\"https://mail.example.com\"]\nemail_claim = \"mailbox\"\n{provision}"
        )
    };
    assert_eq!(
        key_of(load(&format!("{mailcow}{}", client("")))),
        r#"clients["bheem-mail"].email_claim"#
    );
    assert!(load(&format!(
        "{mailcow}{}",
        client("provision = [\"mailcow\"]\n")
    ))
    .is_ok());
    let everyone = format!(
        "[provisioning]\ntargets = [\"mailcow\"]\n{mailcow}{}",
        client("")
    );
    assert!(load(&everyone).is_ok(), "{:?}", load(&everyone).err());
}
