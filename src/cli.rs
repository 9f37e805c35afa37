//! The command line: `serve`, `migrate`, `users …`, `keys …`, `provisioning …`, `audit`, `backup`,
//! `config check`.
//!
//! The argument types at the top are its table of contents, and each command's handler below
//! is short; `users` and `audit`, the two longest, have files of their own. The admin commands
//! say what they act on before they act, and refuse the built-in defaults without `--dev`
//! (`admin`).

mod admin;
mod audit;
mod config_check;
mod keys;
mod users;

use keys::{keys, spawn_key_reloader};

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use uuid::Uuid;

use crate::app::{self, AppState};
use crate::audit::{Audit, Event, Kind};
use crate::clock::{format_time, Clock};
use crate::config::{Config, LogFormat};
use crate::store::Db;
use admin::{Invocation, Needs};

#[derive(Debug, Parser)]
#[command(
    name = "bheem-sso",
    version,
    about = "OpenID Connect provider and SSO hub of Bheem Workspace"
)]
pub struct Cli {
    /// Configuration file. Defaults to $BHEEM_SSO_CONFIG, then ./bheem-sso.toml, then built-in
    /// development defaults (SQLite in ./data, keys in ./keys, http://127.0.0.1:8080). Relative
    /// paths in the file are taken from the file's folder.
    #[arg(long, short, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Let admin commands (users, keys, provisioning, audit, backup, migrate) act on the
    /// built-in development defaults, ./data and ./keys, when no configuration file is found.
    /// Without it they refuse, so that a command typed in the wrong folder does not quietly
    /// act on an empty development database.
    #[arg(long, global = true)]
    pub dev: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the provider: migrate the database, load or create signing keys, serve HTTP.
    /// SIGHUP reloads the signing keys from the database.
    Serve,
    /// Apply database migrations and exit (safe to run again).
    Migrate,
    /// Manage users of the embedded directory (not the ERP's auth.users).
    #[command(subcommand)]
    Users(UsersCommand),
    /// Inspect and rotate signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The outbox of work for other systems (back-channel logout notices).
    #[command(subcommand)]
    Provisioning(ProvisioningCommand),
    /// Copy the embedded SQLite database to FILE, online and consistent, while the server runs.
    /// On PostgreSQL it says how to use pg_dump instead.
    Backup {
        /// Where the copy goes (mode 0600); an existing file is never overwritten.
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
    /// The audit trail: logins, logouts, tokens, consents, disabled users, key rotations,
    /// provisioning and operators' commands, newest first.
    Audit(audit::AuditArgs),
    /// Check the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Report every problem at once, one line each naming its key: values, secrets from the
    /// environment, whether the database answers and is migrated, whether the ERP table has
    /// the configured columns and grants, and whether downstream URLs answer. Exits non-zero
    /// if there is any.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum ProvisioningCommand {
    /// Each job: kind, target, state (pending, running, done, failed), attempts, last error.
    Status,
    /// Put failed jobs back in line: all of them, or those whose id or key contains FILTER.
    Retry { filter: Option<String> },
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add a user. The password is read from standard input (prompted for, without echo, on a
    /// terminal), never from the command line.
    Add(AddUser),
    /// List users.
    List,
    /// Stop a user from logging in.
    Disable {
        /// Email or username.
        login: String,
    },
    /// Let a disabled user log in again.
    Enable {
        /// Email or username.
        login: String,
    },
    /// End every SSO session of a user (their clients are told by back-channel logout).
    Logout {
        /// Email or username.
        login: String,
    },
}

#[derive(Debug, Args)]
pub struct AddUser {
    #[arg(long)]
    pub email: String,
    /// Display name.
    #[arg(long)]
    pub name: String,
    /// The user's company (a UUID); every token they get carries it.
    #[arg(long, value_name = "UUID")]
    pub company_id: String,
    #[arg(long)]
    pub username: Option<String>,
    #[arg(long, default_value = "member")]
    pub role: String,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Show each key: kid, algorithm, state, created.
    List,
    /// Add a key. It is published at once and signs once relying parties' cached JWKS have it
    /// (after the JWKS max-age and a margin); the previous one stays published for
    /// key_grace_seconds after that. Every running node picks it up within key_refresh_seconds.
    Rotate {
        /// Sign with the new key at once (a compromised key): relying parties whose cached JWKS
        /// lacks it reject its tokens until they fetch the JWKS again.
        #[arg(long)]
        now: bool,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Config(ConfigCommand::Check) = cli.command {
        return config_check::run(cli.config.as_deref()).await;
    }
    let config = Config::load(cli.config.as_deref())?;
    crate::logging::init(config.log_format, config.access_log);
    let admin = match &cli.command {
        Command::Serve | Command::Config(_) => None,
        Command::Migrate => Some(("migrate", Needs::CreatesDatabase)),
        Command::Users(_) => Some(("users", Needs::Database)),
        Command::Keys(KeysCommand::List) => Some(("keys list", Needs::Database)),
        Command::Keys(KeysCommand::Rotate { .. }) => Some(("keys rotate", Needs::KeysAndDatabase)),
        Command::Provisioning(_) => Some(("provisioning", Needs::Database)),
        Command::Backup { .. } => Some(("backup", Needs::Database)),
        Command::Audit(_) => Some(("audit", Needs::Database)),
    };
    if let Some((name, needs)) = admin {
        admin::announce_and_check(&config, name, needs, cli.dev, &Config::process_env())?;
    }
    match cli.command {
        // Answered above, before the configuration is loaded: `config check` is for one that
        // may not load.
        Command::Config(_) => Ok(()),
        Command::Serve => serve(config).await,
        Command::Migrate => {
            let db = Db::connect(&config.database_url).await?;
            db.migrate().await?;
            println!("migrations applied to {}", config.database_url.redacted());
            Ok(())
        }
        Command::Users(command) => users::run(config, command).await,
        Command::Keys(command) => keys(config, command).await,
        Command::Provisioning(command) => provisioning(config, command).await,
        Command::Backup { to } => {
            let copy = crate::store::backup::backup(&config.database_url, &to).await?;
            let db = Db::connect(&config.database_url).await?;
            let trail = Trail::open(&config, &db, &Clock::System);
            trail.record(
                trail
                    .command("backup")
                    .detail("to", copy.file.display().to_string().as_str()),
            );
            trail.close().await;
            println!(
                "backed up {} to {} ({} bytes)",
                config.database_url.redacted(),
                copy.file.display(),
                copy.bytes
            );
            Ok(())
        }
        Command::Audit(args) => audit::show(config, args).await,
    }
}

/// The trail a command records on: the operator is its actor. Flushed by [`Trail::close`]
/// before the command ends.
struct Trail {
    audit: Audit,
    operator: String,
}

impl Trail {
    fn open(config: &Config, db: &Db, clock: &Clock) -> Self {
        Self {
            audit: Audit::start(db.clone(), clock.clone(), config.audit.retention_days),
            operator: audit::operator(),
        }
    }

    fn event(&self, kind: Kind) -> Event {
        Event::new(kind, self.operator.as_str())
    }

    /// `admin_command`, with what the command was.
    fn command(&self, command: &str) -> Event {
        self.event(Kind::AdminCommand).detail("command", command)
    }

    fn record(&self, event: Event) {
        self.audit.record(event);
    }

    async fn close(self) {
        self.audit.flush().await;
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let source = config.source.clone();
    let listen = config.listen;
    let state = app::build_state(config, Clock::System).await?;
    // Before the port is bound: a signal sent once the server answers must find its handler.
    let shutdown = app::shutdown_signal()?;
    spawn_key_reloader(state.clone())?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let address = listener.local_addr()?;
    tracing::info!(
        %address,
        issuer = state.config.issuer.as_str(),
        database = %state.config.database_url.redacted(),
        directory = state.directory.kind(),
        config = %source,
        "bheem-sso listening"
    );
    print_first_user_hint(&state).await;
    app::serve(state, listener, shutdown).await
}

/// On the embedded directory with nobody in it, say how to add the first user.
async fn print_first_user_hint(state: &AppState) {
    if state.config.directory.is_some() {
        return;
    }
    match state.db.list_users().await {
        Ok(users) if users.is_empty() => {
            let command = admin::command_line(
                Invocation::from_env(&Config::process_env()),
                &state.config.source,
                &format!(
                    "users add --email you@example.com --name \"Your Name\" --company-id {}",
                    Uuid::new_v4()
                ),
            );
            let discovery = format!(
                "{}/.well-known/openid-configuration",
                state.config.issuer.as_str()
            );
            match state.config.log_format {
                // A log pipeline reads stderr line by line as JSON: the hint is a line too.
                LogFormat::Json => tracing::warn!(
                    %command,
                    %discovery,
                    "no users yet: create the first one (the password is asked for, not echoed)"
                ),
                LogFormat::Text => eprintln!(
                    "\nNo users yet. Create the first one (the password is asked for, not echoed):\n\n    \
                     {command}\n\nDiscovery: {discovery}\n"
                ),
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = format!("{e:#}"), "could not count users"),
    }
}

async fn provisioning(config: Config, command: ProvisioningCommand) -> anyhow::Result<()> {
    let db = Db::connect(&config.database_url).await?;
    db.migrate().await?;
    match command {
        ProvisioningCommand::Status => {
            let jobs = db.job_statuses().await?;
            if jobs.is_empty() {
                println!("no jobs");
            }
            for job in jobs {
                println!(
                    "{}  {:<20}  {:<8}  attempts {:<3} updated {}  {}{}",
                    job.id,
                    job.kind,
                    job.state,
                    job.attempts,
                    format_time(job.updated_at),
                    job.dedupe_key,
                    job.last_error
                        .map(|e| format!("\n    last error: {e}"))
                        .unwrap_or_default()
                );
            }
        }
        ProvisioningCommand::Retry { filter } => {
            let n = db
                .retry_failed_jobs(filter.as_deref(), Clock::System.now())
                .await?;
            let trail = Trail::open(&config, &db, &Clock::System);
            trail.record(
                trail
                    .command("provisioning retry")
                    .detail("filter", filter)
                    .detail("jobs", n),
            );
            trail.close().await;
            println!("{n} failed job(s) queued again");
        }
    }
    Ok(())
}
