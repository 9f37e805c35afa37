//! The signing keys a running process uses, shared by every service that signs or verifies.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use super::KeySet;

/// The current [`KeySet`] behind a lock, replaced whole on a reload; cheap to clone.
#[derive(Clone)]
pub struct KeyRing {
    current: Arc<RwLock<Arc<KeySet>>>,
    dir: PathBuf,
    grace_seconds: u64,
}

impl KeyRing {
    /// `keys`, as loaded from `dir`, which [`KeyRing::reload`] reads again.
    pub fn new(keys: KeySet, dir: PathBuf, grace_seconds: u64) -> Self {
        Self {
            current: Arc::new(RwLock::new(Arc::new(keys))),
            dir,
            grace_seconds,
        }
    }

    /// A snapshot: a reload never changes the keys under a request that holds one.
    pub fn current(&self) -> Arc<KeySet> {
        self.current.read().expect("key set lock poisoned").clone()
    }

    /// Reads the key directory again (after `keys rotate` by another process).
    pub fn reload(&self) -> anyhow::Result<()> {
        let keys = KeySet::load(&self.dir, self.grace_seconds)?;
        anyhow::ensure!(
            !keys.is_empty(),
            "no signing keys left in {}",
            self.dir.display()
        );
        *self.current.write().expect("key set lock poisoned") = Arc::new(keys);
        Ok(())
    }
}
