//! The deployment's signing keys at run time, joining the keys (`crate::keys`) and their table
//! (`crate::store::signing_keys`): the first start, the load every node does, the refresh that
//! lets `keys rotate` on one node reach all of them without a signal, and rotation, by an
//! operator or on a schedule.
//!
//! A node never makes a key or a KEK while the database holds keys: with the wrong KEK (or none)
//! it refuses to start, since a key of its own would split the deployment's JWKS. Of two nodes
//! writing at once, the UNIQUE generation lets one win; the other loads what the winner wrote.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::audit::{Event, Kind};
use crate::clock::UnixTime;
use crate::config::Config;
use crate::http::AppState;
use crate::keys::kek::{Found, Sealed, KEK_ENV, KEK_FILE};
use crate::keys::{
    legacy, two_stage_signs_from, Kek, KekSource, KeyPlace, KeyRing, KeySet, PrivateKey, SigningKey,
};
use crate::store::signing_keys::{Inserted, SigningKeyRow};
use crate::store::Db;

/// The actor of the rotations `key_rotation_days` makes.
pub const SCHEDULER: &str = "scheduler";

/// Loads the deployment's keys; on an empty database first makes the KEK file (unless the
/// environment gives a KEK) and stores the legacy PEM keys of `keys_dir`, or a new key.
pub async fn open(config: &Config, db: &Db, now: UnixTime) -> anyhow::Result<KeyRing> {
    let database = config.database_url.redacted();
    if db.signing_keys_generation().await? > 0 {
        let kek = match Kek::find(config.key_encryption_key.as_ref(), &config.keys_dir)? {
            Found::Kek(kek) => kek,
            Found::Missing(path) => bail!(
                "{}",
                refusal(
                    &database,
                    &KekSource::File(path),
                    "does not exist",
                    &config.keys_dir
                )
            ),
        };
        return load_ring(db, kek, config, &database).await;
    }
    // Read before anything is made: a corrupt key file stops the start with nothing beside it.
    let legacy = legacy::read_dir(&config.keys_dir)?;
    let (kek, created) = match Kek::find(config.key_encryption_key.as_ref(), &config.keys_dir)? {
        Found::Kek(kek) => (kek, false),
        Found::Missing(_) => match Kek::create_file(&config.keys_dir)? {
            Some(kek) => {
                tracing::info!(
                    path = %kek.source(),
                    "created the key-encryption key; back it up, and give every node the same one"
                );
                (kek, true)
            }
            // Another process on the same keys_dir made it a moment ago.
            None => match Kek::find(None, &config.keys_dir)? {
                Found::Kek(kek) => (kek, false),
                Found::Missing(path) => bail!("{} vanished while starting", path.display()),
            },
        },
    };
    store_first_keys(db, &kek, &legacy, now).await?;
    let kek_path = match (created, kek.source()) {
        (true, KekSource::File(path)) => Some(path.clone()),
        _ => None,
    };
    match load_ring(db, kek, config, &database).await {
        Ok(ring) => Ok(ring),
        Err(e) => {
            // Another node stored the first keys under its own KEK: the one made here is of no
            // use to anybody, and left in place it would look like this deployment's KEK.
            if let Some(path) = kek_path {
                let _ = std::fs::remove_file(path);
            }
            Err(e)
        }
    }
}

/// For `config check`: whether a node with this KEK could load the deployment's keys. `None`:
/// the database holds none yet (the first start makes them); an error says what is wrong as
/// start-up would.
pub async fn check(
    db: &Db,
    kek_env: Option<&secrecy::SecretString>,
    keys_dir: &Path,
    database: &str,
) -> anyhow::Result<Option<String>> {
    if db.signing_keys_generation().await? == 0 {
        return Ok(None);
    }
    let kek = match Kek::find(kek_env, keys_dir)? {
        Found::Kek(kek) => kek,
        Found::Missing(path) => bail!(
            "{}",
            refusal(database, &KekSource::File(path), "does not exist", keys_dir)
        ),
    };
    match load(db, &kek, 0).await {
        Ok((keys, _)) => Ok(Some(format!(
            "{} signing key(s) in the database, decrypted with the key-encryption key from {}",
            keys.all().len(),
            kek.source()
        ))),
        Err(e) if e.downcast_ref::<WrongKek>().is_some() => bail!(
            "{}",
            refusal(database, kek.source(), "does not decrypt them", keys_dir)
        ),
        Err(e) => Err(e),
    }
}

/// What an operator reads when this node cannot decrypt the database's keys.
fn refusal(database: &str, source: &KekSource, problem: &str, keys_dir: &Path) -> String {
    format!(
        "the database {database} holds the deployment's signing keys, but the key-encryption \
         key from {source} {problem}. Every node must use the same key-encryption key: copy \
         {KEK_FILE} from the keys_dir of the node that made the keys into {} (mode 0600), or set \
         {KEK_ENV} to the same value on every node. No key was made here.",
        keys_dir.display()
    )
}

/// The first keys of an empty database: the legacy PEM keys of `keys_dir`, else a new key.
/// Losing the race to another node is no error: its keys are loaded instead.
async fn store_first_keys(
    db: &Db,
    kek: &Kek,
    legacy: &[legacy::LegacyKey],
    now: UnixTime,
) -> anyhow::Result<()> {
    let rows = if legacy.is_empty() {
        let key = generate().await?;
        vec![row(kek, &key, 1, now, now)?]
    } else {
        legacy
            .iter()
            .zip(1..)
            .map(|(old, generation)| row(kek, &old.key, generation, old.created_at, old.created_at))
            .collect::<anyhow::Result<_>>()?
    };
    match db.insert_signing_keys(&rows).await? {
        Inserted::TakenByAnother => {
            tracing::info!("another node stored the first signing keys meanwhile; using those")
        }
        Inserted::Added if legacy.is_empty() => {
            tracing::info!(kid = %rows[0].kid, "generated the first signing key")
        }
        Inserted::Added => {
            for old in legacy {
                tracing::info!(
                    kid = %old.key.kid(),
                    path = %old.path.display(),
                    "imported the signing key into the database; the file is no longer read and may be removed"
                );
            }
        }
    }
    Ok(())
}

async fn generate() -> anyhow::Result<PrivateKey> {
    // Generating an RSA key takes a good part of a second: not on the runtime's threads.
    tokio::task::spawn_blocking(PrivateKey::generate)
        .await
        .context("generating an RSA key")?
}

fn row(
    kek: &Kek,
    key: &PrivateKey,
    generation: i64,
    created_at: UnixTime,
    signs_from: UnixTime,
) -> anyhow::Result<SigningKeyRow> {
    let sealed = kek.seal(key.kid(), key.der())?;
    Ok(SigningKeyRow {
        kid: key.kid().to_owned(),
        alg: "RS256".to_owned(),
        generation,
        created_at,
        signs_from,
        bits: key.bits() as i64,
        nonce: sealed.nonce,
        private_key: sealed.ciphertext,
    })
}

async fn load_ring(db: &Db, kek: Kek, config: &Config, database: &str) -> anyhow::Result<KeyRing> {
    let (keys, generation) = load(db, &kek, config.key_grace_seconds)
        .await
        .map_err(|e| match e.downcast_ref::<WrongKek>() {
            Some(_) => anyhow::anyhow!(
                "{}",
                refusal(
                    database,
                    kek.source(),
                    "does not decrypt them",
                    &config.keys_dir
                )
            ),
            None => e,
        })?;
    Ok(KeyRing::new(keys, generation, kek))
}

/// The marker of a key the KEK does not open, among the errors of [`load`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct WrongKek(String);

/// Every key of the database, decrypted, and the newest generation.
async fn load(db: &Db, kek: &Kek, grace_seconds: u64) -> anyhow::Result<(KeySet, i64)> {
    let rows = db.signing_keys().await?;
    let generation = rows.last().map_or(0, |r| r.generation);
    let mut keys = Vec::with_capacity(rows.len());
    for r in &rows {
        let sealed = Sealed {
            nonce: r.nonce.clone(),
            ciphertext: r.private_key.clone(),
        };
        let der = kek
            .open(&r.kid, &sealed)
            .map_err(|e| anyhow::Error::new(WrongKek(format!("{e:#}"))))?;
        let private = PrivateKey::from_pkcs8_der(&der, &format!("signing key {}", r.kid))?;
        if private.kid() != r.kid {
            bail!(
                "signing key {} in the database is another key (kid {})",
                r.kid,
                private.kid()
            );
        }
        let place = KeyPlace {
            generation: r.generation,
            created_at: r.created_at,
            signs_from: r.signs_from,
        };
        keys.push(SigningKey::new(&private, place)?);
    }
    if keys.is_empty() {
        bail!("no signing keys in the database");
    }
    Ok((KeySet::new(keys, grace_seconds), generation))
}

/// Reads every key again and puts them in the ring (SIGHUP, or a changed generation).
pub async fn reload(ring: &KeyRing, db: &Db, grace_seconds: u64) -> anyhow::Result<()> {
    let (keys, generation) = load(db, ring.kek(), grace_seconds).await?;
    ring.replace(keys, generation)
}

/// One cheap query; a full reload only when a key was added since the ring's. Whether it did.
pub async fn refresh(ring: &KeyRing, db: &Db, grace_seconds: u64) -> anyhow::Result<bool> {
    if db.signing_keys_generation().await? == ring.generation() {
        return Ok(false);
    }
    reload(ring, db, grace_seconds).await?;
    Ok(true)
}

/// When a rotated-in key signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Once relying parties' cached JWKS hold it (see `crate::keys::two_stage_signs_from`).
    TwoStage,
    /// At once, for a compromised key: tokens it signs fail at relying parties whose cached
    /// JWKS lacks it until they fetch it again.
    Now,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotated {
    pub kid: String,
    pub previous_kid: String,
    pub signs_from: UnixTime,
}

/// Adds a key after the ring's newest and reloads the ring. `None` when another node or
/// command added one at the same generation first (the ring then holds theirs).
pub async fn rotate(
    ring: &KeyRing,
    db: &Db,
    grace_seconds: u64,
    now: UnixTime,
    start: Start,
) -> anyhow::Result<Option<Rotated>> {
    let previous_kid = ring.current().signing(now).kid.clone();
    let key = generate().await?;
    let signs_from = match start {
        Start::TwoStage => two_stage_signs_from(now),
        Start::Now => now,
    };
    let row = row(ring.kek(), &key, ring.generation() + 1, now, signs_from)?;
    let inserted = db.insert_signing_keys(std::slice::from_ref(&row)).await?;
    reload(ring, db, grace_seconds).await?;
    Ok(match inserted {
        Inserted::Added => Some(Rotated {
            kid: row.kid,
            previous_kid,
            signs_from,
        }),
        Inserted::TakenByAnother => None,
    })
}

/// Follows the database every `key_refresh_seconds`, and rotates when `key_rotation_days` says
/// the newest key is old enough. Errors are logged; the keys in hand keep serving.
pub async fn run_refresher(state: AppState) {
    let mut every = tokio::time::interval(Duration::from_secs(state.config.key_refresh_seconds));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is at once: the keys were loaded a moment ago.
    every.tick().await;
    let mut signing = state.keys().signing(state.clock.now()).kid.clone();
    loop {
        every.tick().await;
        let grace = state.config.key_grace_seconds;
        match refresh(&state.keys, &state.db, grace).await {
            Ok(true) => tracing::info!(
                generation = state.keys.generation(),
                "signing keys changed in the database; reloaded"
            ),
            Ok(false) => {}
            Err(e) => tracing::warn!(
                error = format!("{e:#}"),
                "refreshing signing keys failed; keeping the old set"
            ),
        }
        if let Err(e) = rotate_if_due(&state).await {
            tracing::warn!(error = format!("{e:#}"), "scheduled key rotation failed");
        }
        let now_signing = state.keys().signing(state.clock.now()).kid.clone();
        if now_signing != signing {
            tracing::info!(kid = %now_signing, previous_kid = %signing, "signing with a new key");
            signing = now_signing;
        }
    }
}

/// A two-stage rotation when the newest key is `key_rotation_days` old.
async fn rotate_if_due(state: &AppState) -> anyhow::Result<()> {
    let Some(days) = state.config.key_rotation_days else {
        return Ok(());
    };
    let now = state.clock.now();
    let newest = state.keys().newest().created_at;
    if now.saturating_sub(newest) < (days as i64).saturating_mul(24 * 3600) {
        return Ok(());
    }
    let grace = state.config.key_grace_seconds;
    match rotate(&state.keys, &state.db, grace, now, Start::TwoStage).await? {
        Some(rotated) => {
            tracing::info!(
                kid = %rotated.kid,
                previous_kid = %rotated.previous_kid,
                signs_from = rotated.signs_from,
                "scheduled key rotation: the new key is published and signs from signs_from"
            );
            state.audit.record(
                Event::new(Kind::KeyRotated, SCHEDULER)
                    .detail("kid", rotated.kid.as_str())
                    .detail("previous_kid", rotated.previous_kid.as_str())
                    .detail("signs_from", rotated.signs_from),
            );
        }
        None => tracing::debug!("another node rotated the keys first"),
    }
    Ok(())
}
