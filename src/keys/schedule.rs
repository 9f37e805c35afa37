//! When each key of a set signs and how long it is published, from the keys' `signs_from`
//! alone: the running server and `keys list` (which has no key-encryption key, so no keys, only
//! their rows) read the schedule the same way.

use crate::clock::UnixTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Published, waiting for relying parties' caches to hold it; signs from then on.
    Next { signs_from: UnixTime },
    /// Signs new tokens.
    Signing,
    /// Rotated out, still published until the given time.
    Grace { until: UnixTime },
    /// No longer published.
    Retired,
}

/// The index of the signing key among keys whose `signs_from` are given oldest generation
/// first: the newest whose time has come, else the oldest (a node whose clock lags).
pub(super) fn signing_index(signs_from: &[UnixTime], now: UnixTime) -> usize {
    signs_from.iter().rposition(|&t| t <= now).unwrap_or(0)
}

/// The state at `now` of key `index`, among keys whose `signs_from` are given oldest
/// generation first. A key older than the signing one is published until its successor's
/// `signs_from` plus `grace_seconds`; a key newer than it is next.
pub fn key_state(
    signs_from: &[UnixTime],
    index: usize,
    grace_seconds: u64,
    now: UnixTime,
) -> KeyState {
    let signing = signing_index(signs_from, now);
    if index == signing {
        return KeyState::Signing;
    }
    if index > signing {
        return KeyState::Next {
            signs_from: signs_from[index],
        };
    }
    let until = signs_from[index + 1].saturating_add(grace_seconds as i64);
    if now < until {
        KeyState::Grace { until }
    } else {
        KeyState::Retired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: u64 = 1_000;

    fn states(signs_from: &[UnixTime], now: UnixTime) -> Vec<KeyState> {
        (0..signs_from.len())
            .map(|i| key_state(signs_from, i, GRACE, now))
            .collect()
    }

    #[test]
    fn one_key_signs_from_the_start() {
        assert_eq!(states(&[100], 100), vec![KeyState::Signing]);
        assert_eq!(states(&[100], 1_000_000), vec![KeyState::Signing]);
    }

    #[test]
    fn next_then_signing_then_grace_then_retired() {
        // Key 0 signs from 100; key 1 was added later to sign from 500.
        let keys = [100, 500];
        assert_eq!(
            states(&keys, 499),
            vec![KeyState::Signing, KeyState::Next { signs_from: 500 }]
        );
        assert_eq!(
            states(&keys, 500),
            vec![KeyState::Grace { until: 1_500 }, KeyState::Signing]
        );
        assert_eq!(
            states(&keys, 1_499),
            vec![KeyState::Grace { until: 1_500 }, KeyState::Signing]
        );
        assert_eq!(
            states(&keys, 1_500),
            vec![KeyState::Retired, KeyState::Signing]
        );
    }

    #[test]
    fn an_immediate_rotation_over_a_waiting_key_signs_at_once_and_both_older_keys_wind_down() {
        // Key 1 waits to sign from 900; at 600 key 2 is rotated in with `--now`.
        let keys = [100, 900, 600];
        assert_eq!(
            states(&keys, 600),
            vec![
                KeyState::Grace { until: 1_900 },
                KeyState::Grace { until: 1_600 },
                KeyState::Signing
            ]
        );
        // Key 1's time comes, but key 2 is newer: key 1 never signs.
        assert_eq!(
            states(&keys, 950),
            vec![
                KeyState::Grace { until: 1_900 },
                KeyState::Grace { until: 1_600 },
                KeyState::Signing
            ]
        );
        assert_eq!(
            states(&keys, 1_900),
            vec![KeyState::Retired, KeyState::Retired, KeyState::Signing]
        );
    }

    #[test]
    fn a_clock_behind_every_key_signs_with_the_oldest() {
        assert_eq!(
            states(&[100, 200], 50),
            vec![KeyState::Signing, KeyState::Next { signs_from: 200 }]
        );
    }
}
