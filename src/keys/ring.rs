//! The signing keys a running process uses, shared by every service that signs or verifies.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use super::{Kek, KeySet};

/// The current [`KeySet`] behind a lock, replaced whole when the database's keys change; cheap
/// to clone. It holds the KEK that decrypted them, for the reloads and rotations that follow
/// (`crate::app::keys`), and the generation it was loaded at.
#[derive(Clone)]
pub struct KeyRing {
    current: Arc<RwLock<Arc<KeySet>>>,
    generation: Arc<AtomicI64>,
    kek: Arc<Kek>,
}

impl KeyRing {
    /// `keys`, as loaded at `generation` (the newest key's) with `kek`.
    pub fn new(keys: KeySet, generation: i64, kek: Kek) -> Self {
        Self {
            current: Arc::new(RwLock::new(Arc::new(keys))),
            generation: Arc::new(AtomicI64::new(generation)),
            kek: Arc::new(kek),
        }
    }

    /// A snapshot: a reload never changes the keys under a request that holds one.
    pub fn current(&self) -> Arc<KeySet> {
        self.current.read().expect("key set lock poisoned").clone()
    }

    /// The generation of the newest key of [`KeyRing::current`].
    pub fn generation(&self) -> i64 {
        self.generation.load(Ordering::SeqCst)
    }

    pub fn kek(&self) -> &Kek {
        &self.kek
    }

    /// Puts a freshly loaded set in place. An empty set is refused: the ring always signs.
    pub fn replace(&self, keys: KeySet, generation: i64) -> anyhow::Result<()> {
        anyhow::ensure!(!keys.is_empty(), "no signing keys in the database");
        let mut current = self.current.write().expect("key set lock poisoned");
        *current = Arc::new(keys);
        self.generation.store(generation, Ordering::SeqCst);
        Ok(())
    }
}
