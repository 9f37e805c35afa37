//! Logged-in IMAP connections kept for a short while per mailbox, so that paging through an
//! inbox is not a TCP, TLS and login round trip each time.
//!
//! A request takes a connection out (a [`Lease`]) and gives it back when it is done with it in
//! good order; one that failed mid-command is dropped, closing it. At most
//! [`IN_USE_PER_MAILBOX`] connections of one mailbox are in use at once: a burst of one person's
//! requests waits for them rather than opening more (Dovecot refuses connections beyond its
//! `mail_max_userip_connections` per user and client address, 10 by default). A kept connection is probed
//! with NOOP before it is lent again: one that the server closed meanwhile (Dovecot logs idle
//! ones out, a restart drops them all) is dropped and a new one dialled, once.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{Connector, ImapSession, MailError, IMAP};

/// At most this many idle connections are kept per mailbox: one request rarely needs more
/// than one.
const IDLE_PER_MAILBOX: usize = 2;
/// At most this many connections of one mailbox are in use at once.
pub const IN_USE_PER_MAILBOX: usize = 4;
/// And this many in all, whatever the number of people.
const IDLE_IN_ALL: usize = 512;
/// A kept connection must answer NOOP within this, or it is taken for dead.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

struct Idle {
    session: ImapSession,
    since: Instant,
}

struct Shared {
    connector: Connector,
    idle_for: Duration,
    idle: Mutex<HashMap<String, Vec<Idle>>>,
    /// The permits of each mailbox's connections in use.
    in_use: Mutex<HashMap<String, Arc<Semaphore>>>,
    reaper: std::sync::Once,
}

/// The connections of every mailbox the hub reads.
#[derive(Clone)]
pub struct Pool {
    shared: Arc<Shared>,
}

/// A connection lent to one request; deref to use it, [`Lease::give_back`] when done.
pub struct Lease {
    session: Option<ImapSession>,
    address: String,
    shared: Arc<Shared>,
    _permit: OwnedSemaphorePermit,
}

impl Pool {
    /// Connections of `connector`, kept `idle_for` after their last use (zero: none kept).
    pub fn new(connector: Connector, idle_for: Duration) -> Self {
        Self {
            shared: Arc::new(Shared {
                connector,
                idle_for,
                idle: Mutex::new(HashMap::new()),
                in_use: Mutex::new(HashMap::new()),
                reaper: std::sync::Once::new(),
            }),
        }
    }

    /// A connection logged in as `address`: a kept one that still answers, or a new one; waits
    /// at most `wait` for one of the mailbox's connections to be free.
    pub async fn get(&self, address: &str, wait: Duration) -> Result<Lease, MailError> {
        let key = address.to_lowercase();
        let semaphore = self
            .shared
            .in_use
            .lock()
            .unwrap()
            .entry(key.clone())
            .or_insert_with(|| Arc::new(Semaphore::new(IN_USE_PER_MAILBOX)))
            .clone();
        let permit = tokio::time::timeout(wait, semaphore.acquire_owned())
            .await
            .map_err(|_| MailError::Timeout { service: IMAP })?
            .expect("the semaphore is never closed");
        while let Some(mut session) = self.take_idle(&key) {
            match tokio::time::timeout(PROBE_TIMEOUT, session.noop()).await {
                Ok(Ok(())) => {
                    drain(&mut session);
                    return Ok(self.lease(session, key, permit));
                }
                _ => tracing::debug!("a kept IMAP connection was closed; dialling anew"),
            }
        }
        let session = self.shared.connector.open(address).await?;
        Ok(self.lease(session, key, permit))
    }

    fn lease(&self, session: ImapSession, address: String, permit: OwnedSemaphorePermit) -> Lease {
        Lease {
            session: Some(session),
            address,
            shared: self.shared.clone(),
            _permit: permit,
        }
    }

    fn take_idle(&self, key: &str) -> Option<ImapSession> {
        let mut idle = self.shared.idle.lock().unwrap();
        let kept = idle.get_mut(key)?;
        let now = Instant::now();
        kept.retain(|i| now.duration_since(i.since) < self.shared.idle_for);
        let session = kept.pop().map(|i| i.session);
        if kept.is_empty() {
            idle.remove(key);
        }
        session
    }

    /// How many connections are kept now, for the tests of the pool.
    pub fn idle_count(&self) -> usize {
        self.shared
            .idle
            .lock()
            .unwrap()
            .values()
            .map(Vec::len)
            .sum()
    }
}

impl Lease {
    /// Done with the connection, which is in good order: kept for the next request.
    pub fn give_back(mut self) {
        let Some(mut session) = self.session.take() else {
            return;
        };
        if self.shared.idle_for.is_zero() {
            return;
        }
        drain(&mut session);
        let mut idle = self.shared.idle.lock().unwrap();
        let total: usize = idle.values().map(Vec::len).sum();
        let kept = idle.entry(std::mem::take(&mut self.address)).or_default();
        if kept.len() < IDLE_PER_MAILBOX && total < IDLE_IN_ALL {
            kept.push(Idle {
                session,
                since: Instant::now(),
            });
        }
        drop(idle);
        self.shared.reaper.call_once(|| {
            tokio::spawn(reap(Arc::downgrade(&self.shared)));
        });
    }

    /// Gives the connection back unless `result` says it may be broken.
    pub fn finish<T>(self, result: &Result<T, MailError>) {
        match result {
            Ok(_) => self.give_back(),
            Err(e) if e.keeps_connection() => self.give_back(),
            Err(_) => {}
        }
    }
}

impl Deref for Lease {
    type Target = ImapSession;
    fn deref(&self) -> &ImapSession {
        self.session.as_ref().expect("a lease holds its connection")
    }
}

impl DerefMut for Lease {
    fn deref_mut(&mut self) -> &mut ImapSession {
        self.session.as_mut().expect("a lease holds its connection")
    }
}

/// Unsolicited answers (EXISTS, EXPUNGE, …) are not read by anything here: cleared so that a
/// kept connection does not carry one request's into the next.
fn drain(session: &mut ImapSession) {
    while session.unsolicited_responses.try_recv().is_ok() {}
}

/// Closes connections idle for longer than `idle_for`, as long as the pool exists.
async fn reap(shared: Weak<Shared>) {
    let every = match shared.upgrade() {
        Some(s) => (s.idle_for / 2).max(Duration::from_secs(1)),
        None => return,
    };
    loop {
        tokio::time::sleep(every).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let now = Instant::now();
        let expired: Vec<ImapSession> = {
            let mut idle = shared.idle.lock().unwrap();
            let mut expired = Vec::new();
            for kept in idle.values_mut() {
                let (old, fresh): (Vec<Idle>, Vec<Idle>) = std::mem::take(kept)
                    .into_iter()
                    .partition(|i| now.duration_since(i.since) >= shared.idle_for);
                *kept = fresh;
                expired.extend(old.into_iter().map(|i| i.session));
            }
            idle.retain(|_, kept| !kept.is_empty());
            // A mailbox with nothing kept, and whose permits nobody holds or waits for (each
            // holds a clone), needs none until next time.
            shared.in_use.lock().unwrap().retain(|address, permits| {
                idle.contains_key(address) || Arc::strong_count(permits) > 1
            });
            expired
        };
        for mut session in expired {
            // A polite LOGOUT, not waited for long: the server closes its end either way.
            let _ = tokio::time::timeout(Duration::from_secs(1), session.logout()).await;
        }
    }
}
