//! Brute-force defence for password logins, built so that neither a proxy nor an attacker can
//! turn it against the people it protects (OWASP's "Blocking Brute Force Attacks" and its
//! device cookies):
//!
//! - Only failures count. A successful login costs nothing, so an office of a hundred people
//!   behind one address is never throttled by its own logins. Each attempt takes its place in
//!   the limits when it is let in, before its password is checked, and gives it back when the
//!   password was right: so a burst of attempts sent at once cannot all slip in before the
//!   first of them fails.
//! - An account is limited per client address: failures from one address hold back that
//!   address's attempts on the account, not the owner's from anywhere else.
//! - A distributed attack (many addresses, one account) is held back by a higher limit on the
//!   account as a whole, which only applies to browsers that have never logged in to it. A
//!   browser that has (it holds the account's device cookie, `src/http/device_cookie.rs`) is
//!   limited on its own key, by its own failures only.
//! - An address is limited across accounts (password spraying), except for a browser with the
//!   account's device cookie.
//! - An IPv6 client is its /64: one host is usually given a whole /64, and could otherwise take
//!   a fresh allowance with each of its addresses.
//! - An account is one key however it is named: the caller passes the user's id when the login
//!   names a user, and the login folded as the directory folds it when it names nobody.
//!
//! Each limit is a GCRA (the generic cell rate algorithm, as in the governor crate, which has no
//! way to look without counting): `per_minute` failures in a burst, then one more each
//! `60 s / per_minute`. The limits are per process; with several nodes an attacker gets each
//! node's allowance, which the escalating delay and argon2's cost still keep small.
//!
//! Just over 400 lines, one file: the GCRA cell, the limiter and its tests carry out the one
//! policy above together, and the limiter reads only beside the cell it counts with.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::LoginLimitConfig;

/// The window each limit counts over.
const WINDOW: Duration = Duration::from_secs(60);
/// Consecutive failures older than this are forgotten by the escalating delay.
const FAILURE_MEMORY: Duration = Duration::from_secs(15 * 60);
const MAX_DELAY: Duration = Duration::from_secs(4);
/// Keys kept per limit before expired ones are swept out on the spot.
const SWEEP_ABOVE: usize = 100_000;

/// Who is trying to log in to which account.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    /// The account: the user's id, or `login:<folded login>` for a login that names nobody.
    pub account: &'a str,
    pub ip: IpAddr,
    /// The id of the browser's device cookie when it was issued for this same account.
    pub device: Option<&'a str>,
}

/// Refused before checking the password; try again after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after: Duration,
}

/// One GCRA limit over keys of type `K`: the theoretical arrival time of the next failure.
struct FailureLimit<K> {
    interval: Duration,
    next: Mutex<HashMap<K, Instant>>,
}

impl<K: Hash + Eq> FailureLimit<K> {
    fn new(per_minute: u32) -> Self {
        Self {
            interval: WINDOW / per_minute.max(1),
            next: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(wait)` while the key has used its burst.
    fn check(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let next = self.next.lock().expect("login limit lock");
        let allowed_until = now + (WINDOW - self.interval);
        match next.get(key) {
            Some(&tat) if tat > allowed_until => Err(tat - allowed_until),
            _ => Ok(()),
        }
    }

    /// Counts one attempt against the key.
    fn take(&self, key: K, now: Instant) {
        let mut next = self.next.lock().expect("login limit lock");
        if next.len() > SWEEP_ABOVE {
            next.retain(|_, tat| *tat > now);
        }
        let tat = next.entry(key).or_insert(now);
        *tat = (*tat).max(now) + self.interval;
    }

    /// Takes back an attempt counted by [`FailureLimit::take`].
    fn give_back(&self, key: &K) {
        if let Some(tat) = self.next.lock().expect("login limit lock").get_mut(key) {
            *tat = tat.checked_sub(self.interval).unwrap_or(*tat);
        }
    }

    fn shrink(&self, now: Instant) {
        self.next
            .lock()
            .expect("login limit lock")
            .retain(|_, tat| *tat > now);
    }
}

pub struct LoginLimiter {
    per_ip: FailureLimit<IpAddr>,
    per_account_at: FailureLimit<(String, IpAddr)>,
    per_account: FailureLimit<String>,
    per_device: FailureLimit<String>,
    /// Consecutive failures per attempt key, for the escalating delay.
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl LoginLimiter {
    pub fn new(config: &LoginLimitConfig) -> Self {
        Self {
            per_ip: FailureLimit::new(config.per_ip_per_minute),
            per_account_at: FailureLimit::new(config.per_account_per_minute),
            per_account: FailureLimit::new(config.per_account_all_addresses_per_minute),
            per_device: FailureLimit::new(config.per_account_per_minute),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `ip` is held back across accounts, asked before the login is looked up so that a
    /// held-back address costs the directory nothing. Counts nothing; [`LoginLimiter::attempt`]
    /// still decides.
    pub fn address(&self, ip: IpAddr) -> Result<(), Limited> {
        self.per_ip
            .check(&network(ip), Instant::now())
            .map_err(|wait| Limited {
                retry_after: wait.max(Duration::from_secs(1)),
            })
    }

    /// Lets `attempt` check a password now, counting it as a failure until it is known to be
    /// one ([`LoginLimiter::failed`]) or not ([`LoginLimiter::succeeded`], which takes it back).
    pub fn attempt(&self, attempt: &Attempt<'_>) -> Result<(), Limited> {
        self.attempt_at(attempt, Instant::now())
    }

    fn attempt_at(&self, attempt: &Attempt<'_>, now: Instant) -> Result<(), Limited> {
        // Checked and counted under one lock, so two attempts at once cannot both take the
        // last place.
        let _one_at_a_time = self.failures.lock().expect("login failures lock");
        let (account, ip) = (attempt.account.to_owned(), network(attempt.ip));
        let account_at = (account.clone(), ip);
        let waits = match attempt.device {
            Some(device) => vec![self.per_device.check(&device.to_owned(), now)],
            None => vec![
                self.per_ip.check(&ip, now),
                self.per_account_at.check(&account_at, now),
                self.per_account.check(&account, now),
            ],
        };
        if let Some(wait) = waits.into_iter().filter_map(Result::err).max() {
            return Err(Limited {
                retry_after: wait.max(Duration::from_secs(1)),
            });
        }
        match attempt.device {
            Some(device) => self.per_device.take(device.to_owned(), now),
            None => {
                self.per_ip.take(ip, now);
                self.per_account_at.take(account_at, now);
                self.per_account.take(account, now);
            }
        }
        Ok(())
    }

    /// The attempt failed: it stays counted. Says how long to hold the answer: 250 ms, doubling
    /// with each consecutive failure of the same attempt key, at most 4 s.
    pub fn failed(&self, attempt: &Attempt<'_>) -> Duration {
        self.failed_at(attempt, Instant::now())
    }

    fn failed_at(&self, attempt: &Attempt<'_>, now: Instant) -> Duration {
        let mut failures = self.failures.lock().expect("login failures lock");
        if failures.len() > SWEEP_ABOVE {
            failures.retain(|_, (_, at)| now.duration_since(*at) < FAILURE_MEMORY);
        }
        let entry = failures.entry(delay_key(attempt)).or_insert((0, now));
        if now.duration_since(entry.1) >= FAILURE_MEMORY {
            entry.0 = 0;
        }
        entry.0 = entry.0.saturating_add(1);
        entry.1 = now;
        let exponent = (entry.0 - 1).min(4);
        (Duration::from_millis(250) * 2u32.pow(exponent)).min(MAX_DELAY)
    }

    /// The password was right: the attempt is taken back from every limit, and the attempt
    /// key's consecutive failures are forgotten.
    pub fn succeeded(&self, attempt: &Attempt<'_>) {
        self.not_checked(attempt);
        self.failures
            .lock()
            .expect("login failures lock")
            .remove(&delay_key(attempt));
    }

    /// No password was checked after all (every hashing slot was busy): the attempt is taken
    /// back from every limit.
    pub fn not_checked(&self, attempt: &Attempt<'_>) {
        let _one_at_a_time = self.failures.lock().expect("login failures lock");
        let (account, ip) = (attempt.account.to_owned(), network(attempt.ip));
        match attempt.device {
            Some(device) => self.per_device.give_back(&device.to_owned()),
            None => {
                self.per_ip.give_back(&ip);
                self.per_account_at.give_back(&(account.clone(), ip));
                self.per_account.give_back(&account);
            }
        }
    }

    /// Forgets idle keys; called now and then so memory stays bounded.
    pub fn shrink(&self) {
        let now = Instant::now();
        self.per_ip.shrink(now);
        self.per_account_at.shrink(now);
        self.per_account.shrink(now);
        self.per_device.shrink(now);
        self.failures
            .lock()
            .expect("login failures lock")
            .retain(|_, (_, at)| now.duration_since(*at) < FAILURE_MEMORY);
    }
}

fn delay_key(attempt: &Attempt<'_>) -> String {
    match attempt.device {
        Some(device) => format!("device {device}"),
        None => format!("{} from {}", attempt.account, network(attempt.ip)),
    }
}

/// The address as the limits count it: an IPv4 address, or an IPv6 address's /64.
fn network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_account: u32, per_ip: u32, all_addresses: u32) -> LoginLimiter {
        LoginLimiter::new(&LoginLimitConfig {
            per_account_per_minute: per_account,
            per_ip_per_minute: per_ip,
            per_account_all_addresses_per_minute: all_addresses,
            device_cookie_days: 90,
        })
    }

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, n])
    }

    fn from(account: &str, n: u8) -> Attempt<'_> {
        Attempt {
            account,
            ip: ip(n),
            device: None,
        }
    }

    /// An attempt let in whose password turns out wrong.
    fn fail(limiter: &LoginLimiter, attempt: &Attempt<'_>, now: Instant) -> Duration {
        limiter.attempt_at(attempt, now).expect("let in");
        limiter.failed_at(attempt, now)
    }

    /// Whether an attempt would be let in now; it is taken back as a success.
    fn let_in(limiter: &LoginLimiter, attempt: &Attempt<'_>, now: Instant) -> bool {
        let ok = limiter.attempt_at(attempt, now).is_ok();
        if ok {
            limiter.succeeded(attempt);
        }
        ok
    }

    #[test]
    fn successes_count_against_no_limit() {
        let limiter = limiter(1, 1, 2);
        let now = Instant::now();
        for i in 0..100 {
            assert!(let_in(&limiter, &from("alice", 1), now), "login {i}");
        }
        fail(&limiter, &from("alice", 1), now);
        assert!(!let_in(&limiter, &from("alice", 1), now));
    }

    #[test]
    fn attempts_at_once_are_counted_before_their_passwords_are_checked() {
        let limiter = limiter(3, 100, 1000);
        let now = Instant::now();
        let let_in: Vec<bool> = (0..5)
            .map(|_| limiter.attempt_at(&from("alice", 1), now).is_ok())
            .collect();
        assert_eq!(let_in, [true, true, true, false, false]);
    }

    #[test]
    fn an_account_is_limited_per_address_after_its_quota_of_failures() {
        let limiter = limiter(3, 100, 1000);
        let now = Instant::now();
        for _ in 0..3 {
            fail(&limiter, &from("alice", 1), now);
        }
        let limited = limiter.attempt_at(&from("alice", 1), now).unwrap_err();
        assert!(limited.retry_after >= Duration::from_secs(1));
        assert!(let_in(&limiter, &from("bob", 1), now), "another account");
        assert!(
            let_in(&limiter, &from("alice", 2), now),
            "the owner, from another address"
        );
        // One failure's worth of time later, one more attempt.
        let later = now + Duration::from_secs(20);
        assert!(let_in(&limiter, &from("alice", 1), later));
    }

    #[test]
    fn an_address_is_limited_across_accounts() {
        let limiter = limiter(100, 2, 1000);
        let now = Instant::now();
        fail(&limiter, &from("a", 1), now);
        fail(&limiter, &from("b", 1), now);
        assert!(!let_in(&limiter, &from("c", 1), now));
        assert!(let_in(&limiter, &from("c", 3), now));
    }

    #[test]
    fn a_distributed_attack_holds_back_strangers_but_not_the_owners_browser() {
        let limiter = limiter(2, 100, 6);
        let now = Instant::now();
        for n in 1..=6 {
            fail(&limiter, &from("alice", n), now);
        }
        assert!(
            !let_in(&limiter, &from("alice", 50), now),
            "a browser the account has never seen, from a fresh address"
        );
        let owner = Attempt {
            account: "alice",
            ip: ip(50),
            device: Some("device-1"),
        };
        assert!(let_in(&limiter, &owner, now));
        // The device's own failures limit the device (a stolen cookie is no master key).
        fail(&limiter, &owner, now);
        fail(&limiter, &owner, now);
        assert!(!let_in(&limiter, &owner, now));
    }

    #[test]
    fn the_delay_escalates_per_attempt_key_and_resets_on_success() {
        let limiter = limiter(100, 100, 400);
        let now = Instant::now();
        let delays: Vec<_> = (0..7)
            .map(|_| fail(&limiter, &from("alice", 1), now))
            .collect();
        assert_eq!(delays[0], Duration::from_millis(250));
        assert_eq!(delays[1], Duration::from_millis(500));
        assert_eq!(delays[6], MAX_DELAY);
        assert_eq!(
            fail(&limiter, &from("alice", 2), now),
            Duration::from_millis(250),
            "the owner elsewhere is not slowed by the attacker's failures"
        );
        assert!(let_in(&limiter, &from("alice", 1), now));
        assert_eq!(
            fail(&limiter, &from("alice", 1), now),
            Duration::from_millis(250)
        );
    }

    #[test]
    fn an_ipv6_client_is_its_64() {
        let limiter = limiter(100, 2, 1000);
        let now = Instant::now();
        let host = |n: u16| Attempt {
            account: "someone",
            ip: IpAddr::from([0x2001, 0xdb8, 1, 2, 0, 0, 0, n]),
            device: None,
        };
        fail(&limiter, &host(1), now);
        fail(&limiter, &host(2), now);
        assert!(
            !let_in(&limiter, &host(3), now),
            "a fresh address of the same /64"
        );
        let elsewhere = Attempt {
            ip: IpAddr::from([0x2001, 0xdb8, 1, 3, 0, 0, 0, 1]),
            ..host(1)
        };
        assert!(let_in(&limiter, &elsewhere, now), "the next /64");
    }
}
