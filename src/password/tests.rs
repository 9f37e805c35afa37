//! The service as a login uses it: admission, the dummy hash for an unknown user, the floor.

use super::hashes::hash_with;
use super::hashes::tests::{BCRYPT_2A, DJANGO_PBKDF2, PASSLIB_PBKDF2};
use super::*;

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
    // The only slot is taken by a job that runs until the test lets it finish: not by a check
    // that might be over before the next one is asked for, as on a busy machine it can be.
    let (finish, wait) = std::sync::mpsc::channel::<()>();
    let running = passwords
        .hashers
        .submit(1, move |_| {
            let _ = wait.recv();
        })
        .map_err(|_| "the slot was free")
        .unwrap();
    assert_eq!(
        passwords.verify(&secret, Some(&hash)).await,
        Verification::Busy
    );
    assert!(passwords.is_full());
    finish.send(()).unwrap();
    running.await.unwrap();
    assert_eq!(
        passwords.verify(&secret, Some(&hash)).await,
        Verification::Match {
            needs_rehash: false
        }
    );
    assert!(!passwords.is_full(), "the slot came back");
    assert!(passwords.hash(&secret).await.is_ok(), "the slot came back");
    assert_eq!(passwords.hashers.pending(), 0);
    // The one hashing thread kept its work area, of the configured size, for the next check.
    let kept = passwords.hashers.run(|memory| memory.len()).await.unwrap();
    assert_eq!(kept, passwords.params.block_count());
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
