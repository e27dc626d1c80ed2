//! Health checks.
//!
//! `CheckShared` is the part of a server's health every shard reads on the
//! pick path (one relaxed atomic load); the checker that writes it lives off
//! the data path.

use std::sync::atomic::{AtomicBool, Ordering};

/// A server's operational state as its health checks see it. A server
/// without `check` is always up.
#[derive(Debug)]
pub struct CheckShared {
    up: AtomicBool,
}

impl CheckShared {
    pub fn new() -> CheckShared {
        CheckShared {
            up: AtomicBool::new(true),
        }
    }

    /// Up for load balancing (the default until a check says otherwise).
    #[inline]
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Relaxed);
    }
}

impl Default for CheckShared {
    fn default() -> Self {
        CheckShared::new()
    }
}
