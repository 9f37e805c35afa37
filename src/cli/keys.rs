//! `keys list` and `keys rotate`, and the SIGHUP handler of `serve` that reloads the keys.
//!
//! The keys live in the database (docs/operating/keys.md): `list` reads their rows and needs no
//! key-encryption key; `rotate` needs it, to encrypt the new key, and first checks that it opens
//! the keys already there, so that it never adds a key the other nodes cannot use.

use anyhow::Context;

use super::{KeysCommand, Trail};
use crate::app::signing_keys::{self, Start};
use crate::app::AppState;
use crate::audit::Kind;
use crate::clock::{format_time, Clock};
use crate::config::Config;
use crate::keys::{key_state, JWKS_MAX_AGE_SECONDS};
use crate::store::Db;

pub(super) async fn keys(config: Config, command: KeysCommand) -> anyhow::Result<()> {
    let db = Db::connect(&config.database_url).await?;
    db.migrate()
        .await
        .with_context(|| format!("preparing the database {}", config.database_url.redacted()))?;
    let outcome = match command {
        KeysCommand::List => list(&config, &db).await,
        KeysCommand::Rotate { now } => rotate(&config, &db, now).await,
    };
    db.close().await;
    outcome
}

async fn list(config: &Config, db: &Db) -> anyhow::Result<()> {
    let now = Clock::System.now();
    let rows = db.signing_keys().await?;
    if rows.is_empty() {
        println!(
            "no keys in {} (serve creates the first one)",
            config.database_url.redacted()
        );
        return Ok(());
    }
    let signs_from: Vec<_> = rows.iter().map(|r| r.signs_from).collect();
    println!("{:<43}  {:<5}  {:<40}  created", "kid", "alg", "state");
    for (i, row) in rows.iter().enumerate().rev() {
        let state = key_state(&signs_from, i, config.key_grace_seconds, now);
        println!(
            "{:<43}  {:<5}  {:<40}  {}",
            row.kid,
            row.alg,
            state.to_string(),
            format_time(row.created_at)
        );
    }
    Ok(())
}

async fn rotate(config: &Config, db: &Db, at_once: bool) -> anyhow::Result<()> {
    let clock = Clock::System;
    // Loading first: with a KEK that does not open the keys there, nothing is added.
    let ring = signing_keys::open(config, db, clock.now())
        .await
        .context("loading the signing keys")?;
    let start = if at_once { Start::Now } else { Start::TwoStage };
    let now = clock.now();
    let rotated = signing_keys::rotate(&ring, db, config.key_grace_seconds, now, start)
        .await?
        .context(
            "another node or command added a key at the same moment; see `bheem-sso keys list`",
        )?;
    let trail = Trail::open(config, db, &clock);
    trail.record(
        trail
            .command(if at_once {
                "keys rotate --now"
            } else {
                "keys rotate"
            })
            .detail("kid", rotated.kid.as_str()),
    );
    trail.record(
        trail
            .event(Kind::KeyRotated)
            .detail("kid", rotated.kid.as_str())
            .detail("previous_kid", rotated.previous_kid.as_str())
            .detail("signs_from", rotated.signs_from),
    );
    trail.close().await;
    println!(
        "new key {} in {}, published now; every node picks it up within {} s",
        rotated.kid,
        config.database_url.redacted(),
        config.key_refresh_seconds
    );
    if at_once {
        println!(
            "it signs from now on: relying parties that cached the JWKS in the last {JWKS_MAX_AGE_SECONDS} s \
             reject its tokens until they fetch the JWKS again"
        );
    } else {
        println!(
            "it signs from {}, once relying parties' cached JWKS (max-age {JWKS_MAX_AGE_SECONDS} s) hold it",
            format_time(rotated.signs_from)
        );
    }
    println!(
        "previous key {} stays published for {} s after the new one signs",
        rotated.previous_kid, config.key_grace_seconds
    );
    Ok(())
}

/// Reloads the signing keys on SIGHUP, at once rather than at the next refresh. The handler is
/// installed before this returns, so a SIGHUP sent after start-up never meets the default
/// action, which would end the process.
pub(super) fn spawn_key_reloader(state: AppState) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hangup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
        tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                let grace = state.config.key_grace_seconds;
                match signing_keys::reload(&state.keys, &state.db, grace).await {
                    Ok(()) => tracing::info!(
                        kid = %state.keys().signing(state.clock.now()).kid,
                        "signing keys reloaded"
                    ),
                    Err(e) => tracing::error!(
                        error = format!("{e:#}"),
                        "reloading signing keys failed; keeping the old set"
                    ),
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = state;
    Ok(())
}
