//! Password hashing and verification.
//!
//! New hashes are argon2id. Verification also accepts what an ERP is likely to hold: bcrypt
//! (`$2a$`, `$2b$`, `$2y$`), passlib's `$pbkdf2-sha256$`/`$pbkdf2-sha512$`, Django's
//! `pbkdf2_sha256$`, and any argon2 PHC string (`hashes`). Hashing runs on threads of its own,
//! one per slot (`max_concurrent`, `hashers`), so a burst of logins cannot starve the async
//! runtime; a login that would wait longer than `max_queue_ms` for a slot is refused at once
//! ([`Verification::Busy`]) rather than queued without bound. Each hashing thread keeps one
//! argon2 work area (19 MiB by default) and reuses it, so memory stays at `max_concurrent` work
//! areas however many logins come. On Linux the hashing threads run at a lower scheduling
//! priority (nice +10) than the threads serving requests: a hash takes the CPU that is left, and
//! a page, a token, or the prompt refusal of a login is not kept waiting behind one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use argon2::Params;
use secrecy::{ExposeSecret, SecretString};

use crate::config::PasswordConfig;
use crate::telemetry::HashLoad;

mod hashers;
mod hashes;
#[cfg(test)]
mod tests;

use hashers::Hashers;
pub use hashes::verify_hash;
use hashes::{has_params, hash_with};

/// What checking a password against a stored hash found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// The password is right; `needs_rehash` when the hash is legacy or weaker than configured.
    Match {
        needs_rehash: bool,
    },
    Mismatch,
    /// The stored hash is of an unknown format or corrupt: a failed login, never a server error.
    Unusable,
    /// Every hashing slot is taken and the wait would be too long: nothing was checked.
    Busy,
}

/// Every hashing slot is taken and the wait for one would exceed `max_queue_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many password checks at once")]
pub struct Busy;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HashFormatError {
    #[error("unknown password hash format")]
    UnknownFormat,
    #[error("corrupt {0} hash")]
    Corrupt(&'static str),
}

#[derive(Clone)]
pub struct Passwords {
    params: Params,
    slots: usize,
    /// The longest wait to let a caller in for, and a moving average of one hash, in µs: their
    /// ratio times the slots is how many may wait.
    max_queue_us: u64,
    hash_us: Arc<AtomicU64>,
    hashers: Arc<Hashers>,
    /// Verified against when the user does not exist, so that costs what a real check costs.
    dummy_hash: Arc<str>,
    /// Every check takes at least this long (µs); 0: as long as the average check, `hash_us`.
    min_verify_us: u64,
}

impl Passwords {
    pub fn new(config: &PasswordConfig) -> anyhow::Result<Self> {
        let params = Params::new(
            config.memory_kib,
            config.iterations,
            config.parallelism,
            None,
        )
        .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
        let permits = match config.max_concurrent {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let started = Instant::now();
        let dummy_hash =
            hash_with(&params, b"a password nobody has").context("computing the dummy hash")?;
        let hash_us = started.elapsed().as_micros().max(1) as u64;
        Ok(Self {
            params,
            slots: permits,
            max_queue_us: config.max_queue_ms.saturating_mul(1000),
            hash_us: Arc::new(AtomicU64::new(hash_us)),
            hashers: Arc::new(Hashers::start(permits)?),
            dummy_hash: dummy_hash.into(),
            min_verify_us: config.min_verify_ms.saturating_mul(1000),
        })
    }

    /// How long a password check takes at least: what an argon2id check with the configured
    /// parameters takes on average here, or the configured floor.
    pub fn verify_floor(&self) -> Duration {
        Duration::from_micros(match self.min_verify_us {
            0 => self.hash_us.load(Ordering::Relaxed),
            floor => floor,
        })
    }

    /// How many checks may be let in at once: one per slot, and as many waiting as the slots
    /// finish within `max_queue_ms` (each finishes a hash per `hash_us` on average).
    fn max_pending(&self) -> usize {
        let one = self.hash_us.load(Ordering::Relaxed).max(1);
        let waiting = (self.max_queue_us / one).saturating_mul(self.slots as u64);
        usize::try_from(waiting)
            .unwrap_or(usize::MAX)
            .saturating_add(self.slots)
    }

    /// Whether a check asked for now would be refused: every slot taken and no room to wait.
    /// A login looks at this before it looks the user up, so that a refusal costs no database
    /// round trip; the check itself may still be refused if others got in first.
    pub fn is_full(&self) -> bool {
        self.hashers.pending() >= self.max_pending()
    }

    /// The hashing threads now, for the metrics. The two counts are read one after the other,
    /// so a job that finishes between the reads may leave the queue one short for that scrape.
    pub fn load(&self) -> HashLoad {
        let in_flight = self.hashers.running();
        HashLoad {
            slots: self.slots,
            in_flight,
            queued: self.hashers.pending().saturating_sub(in_flight),
        }
    }

    /// Counts as `slots` checks let in until it is dropped, as a burst of them would.
    #[cfg(test)]
    pub(crate) fn hold_every_slot(&self) -> impl Drop + '_ {
        self.hashers.hold(self.slots)
    }

    /// A new argon2id hash in PHC form.
    pub async fn hash(&self, password: &SecretString) -> anyhow::Result<String> {
        let params = self.params.clone();
        let password = password.clone();
        self.hashers
            .submit(self.max_pending(), move |_| {
                hash_with(&params, password.expose_secret().as_bytes())
            })?
            .await
            .context("password hashing thread")?
    }

    /// Checks `password` against `stored`; with `None` (no such user) it checks against a dummy
    /// hash and reports a mismatch, taking the same time as a real check.
    ///
    /// Whatever the stored hash, the answer comes no sooner than [`Passwords::verify_floor`]
    /// after the check began: a bcrypt or pbkdf2 hash from the ERP, or a corrupt one, is checked
    /// in a fraction of an argon2id check's time, and would otherwise tell who has an account
    /// and what kind (Rauthy pads its logins the same way). The padding is a sleep on the async
    /// side, after the hashing thread is free again, so it costs no hashing capacity.
    pub async fn verify(&self, password: &SecretString, stored: Option<&str>) -> Verification {
        let (verification, took) = self.verify_timed(password, stored).await;
        if verification != Verification::Busy {
            if let Some(rest) = self.verify_floor().checked_sub(took) {
                tokio::time::sleep(rest).await;
            }
        }
        verification
    }

    /// [`Passwords::verify`] without the floor, with how long the check itself took.
    async fn verify_timed(
        &self,
        password: &SecretString,
        stored: Option<&str>,
    ) -> (Verification, Duration) {
        let params = self.params.clone();
        let password = password.clone();
        let hash_us = self.hash_us.clone();
        let (stored, real) = match stored {
            Some(s) => (s.to_owned(), true),
            None => (self.dummy_hash.to_string(), false),
        };
        let submitted = self.hashers.submit(self.max_pending(), move |memory| {
            let started = Instant::now();
            let result = verify_hash(
                password.expose_secret().as_bytes(),
                &stored,
                &params,
                memory,
            );
            // Only argon2 hashes with the configured parameters tell the typical cost (a bcrypt
            // or pbkdf2 check leaves the work area as it was, and is faster: counted, it pulled
            // the average, and so the floor, down), and only their work areas are kept: one
            // that a legacy hash needed is dropped, not kept at its size.
            if has_params(&stored, &params) {
                let took = started.elapsed().as_micros() as u64;
                let average = hash_us.load(Ordering::Relaxed);
                hash_us.store((average * 7 + took) / 8, Ordering::Relaxed);
            }
            if memory.len() != params.block_count() {
                *memory = Vec::new();
            }
            (result, started.elapsed())
        });
        let Ok(answer) = submitted else {
            return (Verification::Busy, Duration::ZERO);
        };
        match answer.await {
            Ok((Ok(Some(needs_rehash)), took)) if real => {
                (Verification::Match { needs_rehash }, took)
            }
            Ok((Ok(_), took)) => (Verification::Mismatch, took),
            Ok((Err(e), took)) => {
                tracing::warn!(error = %e, "stored password hash cannot be used; login refused");
                (Verification::Unusable, took)
            }
            Err(e) => {
                tracing::error!(error = %e, "password verification failed");
                (Verification::Unusable, Duration::ZERO)
            }
        }
    }
}
