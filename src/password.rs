//! Password hashing and verification.
//!
//! New hashes are argon2id. Verification also accepts what an ERP is likely to hold: bcrypt
//! (`$2a$`, `$2b$`, `$2y$`), passlib's `$pbkdf2-sha256$`/`$pbkdf2-sha512$`, Django's
//! `pbkdf2_sha256$`, and any argon2 PHC string. Hashing runs on threads of its own, one per
//! slot (`max_concurrent`), so a burst of logins cannot starve the async runtime; a login that
//! would wait longer than `max_queue_ms` for a slot is refused at once ([`Verification::Busy`])
//! rather than queued without bound. Each hashing thread keeps one argon2 work area (19 MiB by
//! default) and reuses it, so memory stays at `max_concurrent` work areas however many logins
//! come. On Linux the hashing threads run at a lower scheduling priority (nice +10) than the
//! threads serving requests: a hash takes the CPU that is left, and a page, a token, or the
//! prompt refusal of a login is not kept waiting behind one.
//!
//! Over 500 lines: about half of it is tests (vectors made by passlib, Django, node argon2) that
//! belong beside the formats they check. Splitting the hashing threads from the formats is a
//! candidate for the architecture work (issue 16).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use crate::config::PasswordConfig;

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

    /// Counts as `slots` checks let in until it is dropped, as a burst of them would.
    #[cfg(test)]
    pub(crate) fn hold_every_slot(&self) -> impl Drop + '_ {
        struct Held<'a>(&'a Hashers, usize);
        impl Drop for Held<'_> {
            fn drop(&mut self) {
                self.0.pending.fetch_sub(self.1, Ordering::AcqRel);
            }
        }
        self.hashers.pending.fetch_add(self.slots, Ordering::AcqRel);
        Held(&self.hashers, self.slots)
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

/// How much a hashing thread lowers its scheduling priority (Linux keeps a nice value per
/// thread): a hash then yields the CPU to any request that is ready to run.
#[cfg(target_os = "linux")]
const HASHING_NICENESS: i32 = 10;

/// A job returns whether its work panicked, after which its thread drops the work area.
type Job = Box<dyn FnOnce(&mut Vec<Block>) -> bool + Send>;

/// The hashing threads, one per slot, each with its own work area, and the queue they take their
/// jobs from. A thread that finishes a hash takes the next job itself, so no hand-off through the
/// async runtime (which is busiest exactly when logins queue) stands between two hashes.
/// `pending` counts the jobs let in and not yet finished: it is what admission looks at. The
/// threads end when the last [`Passwords`] clone is dropped.
struct Hashers {
    jobs: mpsc::Sender<Job>,
    pending: Arc<AtomicUsize>,
}

#[derive(Debug, thiserror::Error)]
#[error("the hashing thread stopped before answering")]
struct HasherGone;

impl Hashers {
    fn start(threads: usize) -> anyhow::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("bheem-hash-{n}"))
                .spawn(move || {
                    lower_priority();
                    let mut memory = Vec::new();
                    loop {
                        let job = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
                        let Ok(job) = job else { return };
                        if job(&mut memory) {
                            memory = Vec::new();
                        }
                    }
                })
                .context("starting a password hashing thread")?;
        }
        Ok(Self {
            jobs,
            pending: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Jobs let in and not yet finished, running or queued.
    fn pending(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }

    /// Lets `work` in if fewer than `limit` jobs are pending, else `Busy`; the answer comes from
    /// a hashing thread, which lends `work` its work area. A job whose caller has gone (the
    /// request was dropped while it waited) is skipped. A panic ends the job (the caller sees
    /// `HasherGone`), not the thread.
    fn submit<T: Send + 'static>(
        &self,
        limit: usize,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<impl std::future::Future<Output = Result<T, HasherGone>>, Busy> {
        if self.pending.fetch_add(1, Ordering::AcqRel) >= limit {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            return Err(Busy);
        }
        let (answer, answered) = tokio::sync::oneshot::channel();
        let pending = self.pending.clone();
        let job: Job = Box::new(move |memory| {
            let outcome = (!answer.is_closed())
                .then(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(memory))));
            // Finished before it answers: a caller holding its answer is no longer counted.
            pending.fetch_sub(1, Ordering::AcqRel);
            match outcome {
                Some(Ok(value)) => {
                    let _ = answer.send(value);
                    false
                }
                Some(Err(_)) => true,
                None => false,
            }
        });
        if self.jobs.send(job).is_err() {
            // No thread left to run it (they only end with the last sender, so not while this
            // one lives); the dropped job's answer reads as `HasherGone`.
            self.pending.fetch_sub(1, Ordering::AcqRel);
        }
        Ok(async move { answered.await.map_err(|_| HasherGone) })
    }

    /// Runs `work` whatever is pending, for tests that look at the threads themselves.
    #[cfg(test)]
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, HasherGone> {
        match self.submit(usize::MAX, work) {
            Ok(answer) => answer.await,
            Err(Busy) => unreachable!("no limit"),
        }
    }
}

fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: nice(2) only changes the calling thread's nice value; -1 with errno set is a
        // failure, after which the thread runs at its old priority, which is still correct.
        let _ = unsafe { libc::nice(HASHING_NICENESS) };
    }
}

fn hash_with(params: &Params, password: &[u8]) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    argon
        .hash_password(password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))
}

/// `Ok(Some(needs_rehash))` on a match, `Ok(None)` on a mismatch. `memory` is an argon2 work area
/// to reuse, resized to what the hash needs (any empty `Vec` will do).
pub fn verify_hash(
    password: &[u8],
    stored: &str,
    current: &Params,
    memory: &mut Vec<Block>,
) -> Result<Option<bool>, HashFormatError> {
    let stored = stored.trim();
    if stored.starts_with("$argon2") {
        verify_argon2(password, stored, current, memory)
    } else if ["$2a$", "$2b$", "$2y$", "$2x$"]
        .iter()
        .any(|p| stored.starts_with(p))
    {
        bcrypt::verify(password, stored)
            .map(|ok| ok.then_some(true))
            .map_err(|_| HashFormatError::Corrupt("bcrypt"))
    } else if let Some(rest) = stored.strip_prefix("$pbkdf2-sha256$") {
        verify_passlib_pbkdf2(password, rest, Sha::Sha256)
    } else if let Some(rest) = stored.strip_prefix("$pbkdf2-sha512$") {
        verify_passlib_pbkdf2(password, rest, Sha::Sha512)
    } else if let Some(rest) = stored.strip_prefix("pbkdf2_sha256$") {
        verify_django_pbkdf2(password, rest)
    } else {
        Err(HashFormatError::UnknownFormat)
    }
}

fn verify_argon2(
    password: &[u8],
    stored: &str,
    current: &Params,
    memory: &mut Vec<Block>,
) -> Result<Option<bool>, HashFormatError> {
    let corrupt = |_: argon2::password_hash::Error| HashFormatError::Corrupt("argon2");
    let hash = PasswordHash::new(stored).map_err(corrupt)?;
    let algorithm = Algorithm::try_from(hash.algorithm).map_err(corrupt)?;
    let version = hash
        .version
        .map_or(Ok(Version::V0x13), Version::try_from)
        .map_err(|_| HashFormatError::Corrupt("argon2"))?;
    let params = Params::try_from(&hash).map_err(corrupt)?;
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return Err(HashFormatError::Corrupt("argon2"));
    };
    let mut salt_bytes = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_bytes).map_err(corrupt)?;
    let weaker = algorithm != Algorithm::Argon2id
        || params.m_cost() < current.m_cost()
        || params.t_cost() < current.t_cost();
    // The same computation as `Argon2::verify_password`, in a work area that outlives it.
    if memory.len() != params.block_count() {
        *memory = vec![Block::default(); params.block_count()];
    }
    let mut derived = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password, salt, &mut derived, &mut memory[..])
        .map_err(|_| HashFormatError::Corrupt("argon2"))?;
    Ok(bool::from(derived.ct_eq(expected.as_bytes())).then_some(weaker))
}

/// Whether `stored` is an argon2id hash made with `params`, so its check costs what a check
/// of a hash made here costs.
fn has_params(stored: &str, params: &Params) -> bool {
    PasswordHash::new(stored.trim()).is_ok_and(|hash| {
        Algorithm::try_from(hash.algorithm) == Ok(Algorithm::Argon2id)
            && Params::try_from(&hash).is_ok_and(|p| {
                (p.m_cost(), p.t_cost(), p.p_cost())
                    == (params.m_cost(), params.t_cost(), params.p_cost())
            })
    })
}

/// passlib: `$pbkdf2-sha256$<rounds>$<salt>$<checksum>`, salt and checksum in passlib's
/// "adapted base64" (`.` for `+`, no padding).
fn verify_passlib_pbkdf2(
    password: &[u8],
    rest: &str,
    sha: Sha,
) -> Result<Option<bool>, HashFormatError> {
    let corrupt = || HashFormatError::Corrupt("pbkdf2");
    let mut parts = rest.split('$');
    let (Some(rounds), Some(salt), Some(checksum), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(corrupt());
    };
    let rounds: u32 = rounds.parse().map_err(|_| corrupt())?;
    let ab64 = |s: &str| {
        base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(s.replace('.', "+"))
            .map_err(|_| corrupt())
    };
    let salt = ab64(salt)?;
    let expected = ab64(checksum)?;
    if rounds == 0 || expected.len() != sha.output_len() {
        return Err(corrupt());
    }
    let mut derived = vec![0u8; expected.len()];
    match sha {
        Sha::Sha256 => pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, &salt, rounds, &mut derived),
        Sha::Sha512 => pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password, &salt, rounds, &mut derived),
    }
    Ok(bool::from(derived.ct_eq(&expected)).then_some(true))
}

/// Django: `pbkdf2_sha256$<iterations>$<salt>$<base64 hash>`, the salt used as its text.
fn verify_django_pbkdf2(password: &[u8], rest: &str) -> Result<Option<bool>, HashFormatError> {
    let corrupt = || HashFormatError::Corrupt("pbkdf2");
    let mut parts = rest.split('$');
    let (Some(rounds), Some(salt), Some(checksum), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(corrupt());
    };
    let rounds: u32 = rounds.parse().map_err(|_| corrupt())?;
    let expected = base64::engine::general_purpose::STANDARD
        .decode(checksum)
        .map_err(|_| corrupt())?;
    if rounds == 0 || expected.len() != 32 {
        return Err(corrupt());
    }
    let mut derived = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt.as_bytes(), rounds, &mut derived);
    Ok(bool::from(derived.ct_eq(&expected[..])).then_some(true))
}

#[derive(Clone, Copy)]
enum Sha {
    Sha256,
    Sha512,
}

impl Sha {
    fn output_len(self) -> usize {
        match self {
            Sha::Sha256 => 32,
            Sha::Sha512 => 64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        Params::new(8 * 1024, 1, 1, None).unwrap()
    }

    fn check(stored: &str, password: &str) -> Result<Option<bool>, HashFormatError> {
        verify_hash(password.as_bytes(), stored, &params(), &mut Vec::new())
    }

    // Vectors made by Python's passlib 1.7 and bcrypt 4, not by this code.
    const PASSLIB_PBKDF2: &str =
        "$pbkdf2-sha256$1000$kjJmbI0xhhAC4PxfSwkBwA$yVsSrURvV9B3iMY1x51AhjCpOoFpKoJJE1rqRH3os2A";
    const DJANGO_PBKDF2: &str =
        "pbkdf2_sha256$1000$MNNPNMiVw5mk$1bgZfplmHOnucjlsmU8eCuoDbUfwdHKXpXjzn0P/QqI=";
    const BCRYPT_2A: &str = "$2a$04$cvq90/JR5kRh/fY0PfEx1On8UBH5xiQ3yEzACqVllXbfoRnsxvSUS";

    #[test]
    fn passlib_pbkdf2_sha256_verifies() {
        assert_eq!(check(PASSLIB_PBKDF2, "correct horse"), Ok(Some(true)));
        assert_eq!(check(PASSLIB_PBKDF2, "wrong horse"), Ok(None));
    }

    #[test]
    fn django_pbkdf2_sha256_verifies() {
        assert_eq!(check(DJANGO_PBKDF2, "correct horse"), Ok(Some(true)));
        assert_eq!(check(DJANGO_PBKDF2, "Correct horse"), Ok(None));
    }

    #[test]
    fn bcrypt_variants_verify() {
        assert_eq!(check(BCRYPT_2A, "correct horse"), Ok(Some(true)));
        assert_eq!(
            check(&BCRYPT_2A.replacen("$2a$", "$2y$", 1), "correct horse"),
            Ok(Some(true))
        );
        assert_eq!(
            check(&BCRYPT_2A.replacen("$2a$", "$2b$", 1), "correct horse"),
            Ok(Some(true))
        );
        assert_eq!(check(BCRYPT_2A, "correct hors"), Ok(None));
    }

    #[test]
    fn argon2id_with_current_params_needs_no_rehash() {
        let hash = hash_with(&params(), b"s3cret").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert_eq!(check(&hash, "s3cret"), Ok(Some(false)));
        assert_eq!(check(&hash, "s3cret!"), Ok(None));
        let stronger = Params::new(16 * 1024, 2, 1, None).unwrap();
        assert_eq!(
            verify_hash(b"s3cret", &hash, &stronger, &mut Vec::new()),
            Ok(Some(true))
        );
    }

    #[test]
    fn corrupt_and_unknown_hashes_are_errors_not_panics() {
        assert_eq!(
            check("plaintext", "plaintext"),
            Err(HashFormatError::UnknownFormat)
        );
        assert_eq!(check("", ""), Err(HashFormatError::UnknownFormat));
        assert!(check("$2b$04$short", "x").is_err());
        assert!(check("$argon2id$v=19$m=abc", "x").is_err());
        assert!(check("$pbkdf2-sha256$notanumber$abc$def", "x").is_err());
        assert!(check("$pbkdf2-sha256$1000$!!!$def", "x").is_err());
        assert!(check("$pbkdf2-sha256$1000$kjJmbI0xhhAC4PxfSwkBwA$c2hvcnQ", "x").is_err());
    }

    // Made by the reference C implementation (node `argon2` 0.45), not by this code.
    const REFERENCE_ARGON2: [&str; 4] = [
        "$argon2id$v=19$m=8192,p=1,t=1$H5GU16dHj6Dm/7Z0Hj8oDw$UJ0/ZVDFNaq3a+fC9OoZZwvkvLCiXklApJzEvK3NI/w",
        "$argon2i$v=19$m=8192,p=1,t=1$zymHPzDIYLTnU1NW/R2q4Q$mHN8BIZWPQzTTyQQZEWoKf3X10DNmwOl+F5KTZt6deY",
        "$argon2d$v=19$m=8192,p=1,t=1$S9/IdB6JgVcWN+LvDjVotg$svbUtEOzZxswxVoVkzL88SjgPgGqKlUZacwQFxHBteE",
        "$argon2id$v=19$m=4096,p=2,t=3$wSt3Xo3464D2Z7m5kNagOg$wKpvdlShskQUma9YVr5JBLfQvAnU4JSN",
    ];

    #[test]
    fn reference_argon2_hashes_verify_in_one_reused_work_area() {
        let mut memory = Vec::new();
        for stored in REFERENCE_ARGON2 {
            let current = params();
            let ok = verify_hash(b"correct horse", stored, &current, &mut memory);
            // argon2i/argon2d, and fewer passes or less memory than configured, want a rehash.
            let weaker = !stored.starts_with("$argon2id$v=19$m=8192");
            assert_eq!(ok, Ok(Some(weaker)), "{stored}");
            assert_eq!(
                verify_hash(b"correct horsE", stored, &current, &mut memory),
                Ok(None),
                "{stored}"
            );
        }
        // The work area was resized for the last hash's parameters, not kept at the first's.
        assert_eq!(
            memory.len(),
            Params::new(4096, 3, 2, None).unwrap().block_count()
        );
    }

    fn small_config(max_concurrent: usize, max_queue_ms: u64) -> PasswordConfig {
        PasswordConfig {
            memory_kib: 8 * 1024,
            iterations: 1,
            max_concurrent,
            max_queue_ms,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn a_check_that_would_wait_too_long_is_refused_at_once_and_nothing_leaks() {
        let passwords = Passwords::new(&small_config(1, 0)).unwrap();
        let secret = SecretString::from("s3cret");
        let hash = hash_with(&passwords.params, b"s3cret").unwrap();
        // The first check takes the only slot; the second finds it taken and no room to wait.
        let (first, second) = tokio::join!(
            passwords.verify(&secret, Some(&hash)),
            passwords.verify(&secret, Some(&hash)),
        );
        assert_eq!(
            first,
            Verification::Match {
                needs_rehash: false
            }
        );
        assert_eq!(second, Verification::Busy);
        assert!(!passwords.is_full(), "the slot came back");
        assert!(passwords.hash(&secret).await.is_ok(), "the slot came back");
        assert_eq!(passwords.hashers.pending(), 0);
        // The one hashing thread kept its work area, of the configured size, for the next check.
        let kept = passwords.hashers.run(|memory| memory.len()).await.unwrap();
        assert_eq!(kept, passwords.params.block_count());
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_run_below_the_priority_of_the_request_threads() {
        let passwords = Passwords::new(&small_config(2, 0)).unwrap();
        let nice = || {
            // SAFETY: getpriority(2) reads the calling thread's nice value.
            unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
        };
        let here = nice();
        let there = passwords.hashers.run(move |_| nice()).await.unwrap();
        assert_eq!(there, (here + HASHING_NICENESS).min(19));
    }

    #[tokio::test]
    async fn a_panicking_job_is_an_error_and_the_thread_goes_on() {
        let passwords = Passwords::new(&small_config(1, 0)).unwrap();
        let panicked = passwords
            .hashers
            .run(|_| -> () { panic!("a job that fails") });
        assert!(panicked.await.is_err());
        assert_eq!(passwords.hashers.pending(), 0);
        assert_eq!(passwords.hashers.run(|_| 7).await.unwrap(), 7);
    }

    /// The second job starts when the first ends, on the hashing thread, while the runtime that
    /// submitted both is blocked: no task of the runtime has to run between two hashes.
    #[tokio::test]
    async fn a_hashing_thread_takes_the_next_job_without_the_runtime() {
        let passwords = Passwords::new(&small_config(1, 60_000)).unwrap();
        let first = passwords
            .hashers
            .submit(2, |_| {
                std::thread::sleep(std::time::Duration::from_millis(20))
            })
            .unwrap();
        let second = passwords.hashers.submit(2, |_| Instant::now()).unwrap();
        // The only runtime thread is blocked here, so nothing of the runtime runs meanwhile.
        std::thread::sleep(std::time::Duration::from_millis(500));
        let woke = Instant::now();
        first.await.unwrap();
        assert!(second.await.unwrap() < woke);
        assert_eq!(passwords.hashers.pending(), 0);
    }

    #[tokio::test]
    async fn a_job_whose_caller_has_gone_is_skipped_and_leaves_the_count() {
        let passwords = Passwords::new(&small_config(1, 60_000)).unwrap();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let blocker = passwords
            .hashers
            .submit(3, move |_| released.recv().unwrap())
            .unwrap();
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = ran.clone();
        let abandoned = passwords
            .hashers
            .submit(3, move |_| flag.store(true, Ordering::SeqCst))
            .unwrap();
        assert_eq!(passwords.hashers.pending(), 2);
        drop(abandoned);
        release.send(()).unwrap();
        blocker.await.unwrap();
        // Jobs run in order, so the abandoned one has been taken by the time this one answers.
        passwords.hashers.run(|_| ()).await.unwrap();
        assert!(
            !ran.load(Ordering::SeqCst),
            "a job nobody waits for was run"
        );
        assert_eq!(passwords.hashers.pending(), 0);
    }

    #[tokio::test]
    async fn checks_within_the_queue_bound_wait_for_a_slot() {
        let passwords = Passwords::new(&small_config(1, 60_000)).unwrap();
        let secret = SecretString::from("s3cret");
        let hash = hash_with(&passwords.params, b"s3cret").unwrap();
        let (a, b, unknown) = tokio::join!(
            passwords.verify(&secret, Some(&hash)),
            passwords.verify(&secret, Some(&hash)),
            passwords.verify(&secret, None),
        );
        let right = Verification::Match {
            needs_rehash: false,
        };
        assert_eq!((a, b, unknown), (right, right, Verification::Mismatch));
        assert_eq!(passwords.hashers.pending(), 0);
    }

    #[tokio::test]
    async fn unknown_user_is_a_mismatch_after_a_real_check() {
        let config = PasswordConfig {
            memory_kib: 8 * 1024,
            iterations: 1,
            ..Default::default()
        };
        let passwords = Passwords::new(&config).unwrap();
        let secret = SecretString::from("a password nobody has");
        assert_eq!(
            passwords.verify(&secret, None).await,
            Verification::Mismatch
        );
        let hash = passwords.hash(&secret).await.unwrap();
        assert_eq!(
            passwords.verify(&secret, Some(&hash)).await,
            Verification::Match {
                needs_rehash: false
            }
        );
        assert_eq!(
            passwords.verify(&secret, Some("garbage")).await,
            Verification::Unusable
        );
    }

    /// Every kind of check answers after the floor: an argon2id user, an unknown user (the dummy
    /// hash), a bcrypt and a pbkdf2 user from the ERP, and a corrupt hash. Lower bounds only,
    /// which a loaded machine cannot break.
    #[tokio::test]
    async fn every_check_answers_no_sooner_than_the_floor() {
        let passwords = Passwords::new(&PasswordConfig {
            min_verify_ms: 300,
            ..small_config(2, 10_000)
        })
        .unwrap();
        let secret = SecretString::from("correct horse");
        let argon = passwords.hash(&secret).await.unwrap();
        for stored in [
            Some(argon.as_str()),
            None,
            Some(BCRYPT_2A),
            Some(PASSLIB_PBKDF2),
            Some(DJANGO_PBKDF2),
            Some("$2b$04$corrupt"),
        ] {
            let started = Instant::now();
            passwords.verify(&secret, stored).await;
            let took = started.elapsed();
            assert!(
                took >= Duration::from_millis(300),
                "{stored:?} answered after {took:?}"
            );
        }
    }

    /// Without a configured floor, a fast legacy hash takes as long as the average argon2id check.
    #[tokio::test]
    async fn by_default_the_floor_is_the_average_argon2_check() {
        let passwords = Passwords::new(&small_config(2, 10_000)).unwrap();
        let secret = SecretString::from("correct horse");
        for _ in 0..4 {
            passwords.verify(&secret, None).await;
        }
        let floor = passwords.verify_floor();
        assert!(floor > Duration::ZERO);
        let started = Instant::now();
        let verification = passwords.verify(&secret, Some(BCRYPT_2A)).await;
        assert_eq!(verification, Verification::Match { needs_rehash: true });
        // The average moves only with argon2 checks of the configured parameters.
        assert_eq!(passwords.verify_floor(), floor);
        assert!(
            started.elapsed() >= floor,
            "{:?} < {floor:?}",
            started.elapsed()
        );
    }
}
