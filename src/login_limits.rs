//! Brute-force defence for password logins: a limit per account and per client IP (GCRA from
//! the governor crate), and an escalating delay on consecutive failures of one account.
//!
//! The limits are per process; with several nodes an attacker gets each node's allowance, which
//! the escalating delay and argon2's cost still keep small.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::Clock as _;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::LoginLimitConfig;

pub struct LoginLimiter {
    per_account: DefaultKeyedRateLimiter<String>,
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

/// Refused before checking the password; try again after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after: Duration,
}

/// Consecutive failures older than this are forgotten.
const FAILURE_MEMORY: Duration = Duration::from_secs(15 * 60);
const MAX_DELAY: Duration = Duration::from_secs(4);

impl LoginLimiter {
    pub fn new(config: &LoginLimitConfig) -> Self {
        let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n).expect("validated above 0"));
        Self {
            per_account: RateLimiter::keyed(quota(config.per_account_per_minute)),
            per_ip: RateLimiter::keyed(quota(config.per_ip_per_minute)),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an attempt for `account` (a normalised login) from `ip`.
    pub fn attempt(&self, account: &str, ip: IpAddr) -> Result<(), Limited> {
        // Each limiter's own clock: `DefaultClock::default()` made a new one on every attempt,
        // which asks the CPU for a usable TSC with CPUID instructions, each a trap to the
        // hypervisor on a virtual machine (0.25 % of the login row's CPU time in its profile).
        let refused = |e: governor::NotUntil<_>, now| Limited {
            retry_after: e.wait_time_from(now).max(Duration::from_secs(1)),
        };
        self.per_ip
            .check_key(&ip)
            .map_err(|e| refused(e, self.per_ip.clock().now()))?;
        self.per_account
            .check_key(&account.to_owned())
            .map_err(|e| refused(e, self.per_account.clock().now()))?;
        Ok(())
    }

    /// Records a failure and says how long to hold the answer: 250 ms, doubling with each
    /// consecutive failure, at most 4 s.
    pub fn failed(&self, account: &str) -> Duration {
        let mut failures = self.failures.lock().expect("login failures lock");
        let now = Instant::now();
        if failures.len() > 100_000 {
            failures.retain(|_, (_, at)| now.duration_since(*at) < FAILURE_MEMORY);
        }
        let entry = failures.entry(account.to_owned()).or_insert((0, now));
        if now.duration_since(entry.1) >= FAILURE_MEMORY {
            entry.0 = 0;
        }
        entry.0 = entry.0.saturating_add(1);
        entry.1 = now;
        let exponent = (entry.0 - 1).min(4);
        (Duration::from_millis(250) * 2u32.pow(exponent)).min(MAX_DELAY)
    }

    pub fn succeeded(&self, account: &str) {
        self.failures
            .lock()
            .expect("login failures lock")
            .remove(account);
    }

    /// Forgets idle keys; called now and then so memory stays bounded.
    pub fn shrink(&self) {
        self.per_account.retain_recent();
        self.per_ip.retain_recent();
        let now = Instant::now();
        self.failures
            .lock()
            .expect("login failures lock")
            .retain(|_, (_, at)| now.duration_since(*at) < FAILURE_MEMORY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_limited_after_its_quota_and_others_are_not() {
        let limiter = LoginLimiter::new(&LoginLimitConfig {
            per_account_per_minute: 3,
            per_ip_per_minute: 100,
        });
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            assert!(limiter.attempt("alice", ip).is_ok());
        }
        let limited = limiter.attempt("alice", ip).unwrap_err();
        assert!(limited.retry_after >= Duration::from_secs(1));
        assert!(limiter.attempt("bob", ip).is_ok());
    }

    #[test]
    fn an_ip_is_limited_across_accounts() {
        let limiter = LoginLimiter::new(&LoginLimitConfig {
            per_account_per_minute: 100,
            per_ip_per_minute: 2,
        });
        let ip: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(limiter.attempt("a", ip).is_ok());
        assert!(limiter.attempt("b", ip).is_ok());
        assert!(limiter.attempt("c", ip).is_err());
        assert!(limiter.attempt("c", "192.0.2.3".parse().unwrap()).is_ok());
    }

    #[test]
    fn the_delay_escalates_and_resets_on_success() {
        let limiter = LoginLimiter::new(&LoginLimitConfig::default());
        let delays: Vec<_> = (0..7).map(|_| limiter.failed("alice")).collect();
        assert_eq!(delays[0], Duration::from_millis(250));
        assert_eq!(delays[1], Duration::from_millis(500));
        assert_eq!(delays[6], MAX_DELAY);
        limiter.succeeded("alice");
        assert_eq!(limiter.failed("alice"), Duration::from_millis(250));
    }
}
