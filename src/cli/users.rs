//! `bheem-sso users …`: the embedded directory's users, added, listed, disabled, enabled and
//! logged out, each change recorded on the audit trail.

use std::io::{BufRead, IsTerminal};

use anyhow::{bail, Context};
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use super::{Trail, UsersCommand};
use crate::audit::Kind;
use crate::clock::Clock;
use crate::config::Config;
use crate::domain::{parse_username, Email};
use crate::password::Passwords;
use crate::store::users::{AddUserError, LocalUser};
use crate::store::Db;

pub(super) async fn run(config: Config, command: UsersCommand) -> anyhow::Result<()> {
    if config.directory.is_some() {
        bail!("users are managed in the ERP ([directory] is configured); these commands manage the embedded directory");
    }
    let clock = Clock::System;
    // Each command checks its input before it opens the database: bad input fails at once and
    // touches nothing, not even the database file.
    let open = || async {
        let db = Db::connect(&config.database_url).await?;
        db.migrate().await?;
        anyhow::Ok(db)
    };
    match command {
        UsersCommand::Add(add) => {
            let email = Email::parse(&add.email).map_err(|m| anyhow::anyhow!("--email: {m}"))?;
            let username = add
                .username
                .as_deref()
                .map(parse_username)
                .transpose()
                .map_err(|m| anyhow::anyhow!("--username: {m}"))?;
            let company_id = Uuid::parse_str(add.company_id.trim())
                .map_err(|_| anyhow::anyhow!("--company-id: `{}` is not a UUID", add.company_id))?;
            let name = add.name.trim();
            if name.is_empty() {
                bail!("--name: must not be empty");
            }
            let role = add.role.trim();
            if role.is_empty() {
                bail!("--role: must not be empty");
            }
            let password = read_password()?;
            let passwords = Passwords::new(&config.password)?;
            let user = LocalUser {
                id: Uuid::new_v4(),
                email,
                username,
                display_name: name.to_owned(),
                company_id,
                role: role.to_owned(),
                active: true,
                password_hash: passwords.hash(&password).await?,
                created_at: clock.now(),
            };
            let db = open().await?;
            match db.insert_user(&user).await {
                Ok(()) => {
                    let trail = Trail::open(&config, &db, &clock);
                    trail.record(
                        trail
                            .command("users add")
                            .user(user.id.to_string())
                            .company(user.company_id),
                    );
                    trail.close().await;
                    println!(
                        "added user {} <{}> ({})",
                        user.id, user.email, user.display_name
                    )
                }
                Err(AddUserError::Exists) => bail!(
                    "a user with email {} or that username already exists",
                    user.email
                ),
                Err(AddUserError::Other(e)) => return Err(e),
            }
        }
        UsersCommand::List => {
            println!(
                "{:<36}  {:<30}  {:<16}  {:<36}  {:<10}  state",
                "id", "email", "username", "company", "role"
            );
            for u in open().await?.list_users().await? {
                println!(
                    "{:<36}  {:<30}  {:<16}  {:<36}  {:<10}  {}",
                    u.id,
                    u.email,
                    u.username.as_deref().unwrap_or("-"),
                    u.company_id,
                    u.role,
                    if u.active { "active" } else { "disabled" }
                );
            }
        }
        UsersCommand::Disable { login } => {
            let db = open().await?;
            set_active(
                &db,
                Trail::open(&config, &db, &clock),
                &clock,
                &login,
                false,
            )
            .await?
        }
        UsersCommand::Enable { login } => {
            let db = open().await?;
            set_active(&db, Trail::open(&config, &db, &clock), &clock, &login, true).await?
        }
        UsersCommand::Logout { login } => {
            let db = open().await?;
            let Some(user) = db.find_user_by_login(&login).await? else {
                bail!("no user with email or username `{login}`");
            };
            let trail = Trail::open(&config, &db, &clock);
            let sessions = db.live_sessions_of(&user.id.to_string()).await?;
            for sid in &sessions {
                let ended = db
                    .end_sso_session(sid, OPERATOR_LOGOUT, clock.now())
                    .await?;
                if ended.is_some() {
                    trail.record(
                        trail
                            .event(Kind::SessionEnded)
                            .user(user.id.to_string())
                            .company(user.company_id)
                            .detail("reason", OPERATOR_LOGOUT),
                    );
                }
            }
            trail.record(
                trail
                    .command("users logout")
                    .user(user.id.to_string())
                    .company(user.company_id)
                    .detail("sessions_ended", sessions.len()),
            );
            trail.close().await;
            println!("ended {} session(s) of {}", sessions.len(), user.email);
        }
    }
    Ok(())
}

const OPERATOR_LOGOUT: &str = "revoked by an operator";

async fn set_active(
    db: &Db,
    trail: Trail,
    clock: &Clock,
    login: &str,
    active: bool,
) -> anyhow::Result<()> {
    let Some(user) = db.find_user_by_login(login).await? else {
        bail!("no user with email or username `{login}`");
    };
    db.set_user_active(&user.id.to_string(), active, clock.now())
        .await?;
    let (command, kind) = match active {
        true => ("users enable", Kind::UserEnabled),
        false => ("users disable", Kind::UserDisabled),
    };
    for event in [trail.command(command), trail.event(kind)] {
        trail.record(event.user(user.id.to_string()).company(user.company_id));
    }
    trail.close().await;
    println!(
        "{} <{}> is now {}",
        user.id,
        user.email,
        if active { "active" } else { "disabled" }
    );
    Ok(())
}

/// One line from standard input; on a terminal, prompted for twice without echo.
fn read_password() -> anyhow::Result<SecretString> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").context("reading the password")?;
        let second =
            rpassword::prompt_password("Repeat password: ").context("reading the password")?;
        if first != second {
            bail!("the passwords do not match");
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    let password = SecretString::from(password);
    let length = password.expose_secret().chars().count();
    if length < 8 {
        bail!("the password must be at least 8 characters");
    }
    if length > 1024 {
        bail!("the password must be at most 1024 characters");
    }
    Ok(password)
}
