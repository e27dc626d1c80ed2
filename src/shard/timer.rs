//! The shard's timer facility: one min-heap serves every timeout (handshake,
//! connect, queue, client/server/tunnel inactivity, retry turn-around).
//!
//! Entries are lazy: an owner that pushes its deadline later does not touch
//! the heap; when an entry fires, the owner compares it with its current
//! deadline and re-arms if needed. Only a deadline moved *earlier* than the
//! one already scheduled costs a heap push. So per-chunk activity costs a
//! field store, never a heap operation.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::token::Key;

/// Who a timer entry belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TimerOwner {
    Session,
    Stream,
    /// The shard's own periodic housekeeping (idle pool purge).
    Maintenance,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimerEntry {
    pub at_ms: u64,
    pub owner: TimerOwner,
    pub slot: u32,
    pub generation: u32,
}

impl TimerEntry {
    pub fn key(&self) -> Key {
        Key {
            slot: self.slot,
            generation: self.generation,
        }
    }
}

/// Reads CLOCK_MONOTONIC (a vDSO call, no syscall).
fn monotonic() -> libc::timespec {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer to a timespec; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts
}

/// Monotonic microseconds since the origin of [`now_ms`].
pub fn now_us() -> u64 {
    let ts = monotonic();
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000
}

/// Monotonic milliseconds since an arbitrary origin (CLOCK_MONOTONIC).
pub fn now_ms() -> u64 {
    let ts = monotonic();
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

/// A deadline held by an owner, with what has been scheduled for it.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    /// When the owner wants to be woken (u64::MAX: never).
    pub at_ms: u64,
    /// Earliest entry currently in the heap for this owner (u64::MAX: none).
    scheduled: u64,
}

impl Default for Deadline {
    fn default() -> Self {
        Deadline {
            at_ms: u64::MAX,
            scheduled: u64::MAX,
        }
    }
}

#[derive(Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<TimerEntry>>,
}

impl Timers {
    pub fn new() -> Timers {
        Timers::default()
    }

    /// Sets `dl` to `at_ms` and makes sure an entry fires no later than it.
    pub fn set(&mut self, dl: &mut Deadline, at_ms: u64, owner: TimerOwner, key: Key) {
        dl.at_ms = at_ms;
        if at_ms < dl.scheduled {
            dl.scheduled = at_ms;
            self.heap.push(Reverse(TimerEntry {
                at_ms,
                owner,
                slot: key.slot,
                generation: key.generation,
            }));
        }
    }

    /// Called by the owner when `entry` fired. Returns true when the owner's
    /// deadline has really passed; otherwise re-arms for the later deadline.
    pub fn fired(&mut self, dl: &mut Deadline, entry: &TimerEntry, now: u64) -> bool {
        if entry.at_ms != dl.scheduled {
            // A superseded entry; the one matching `scheduled` will come.
            return false;
        }
        dl.scheduled = u64::MAX;
        if dl.at_ms <= now {
            return true;
        }
        if dl.at_ms != u64::MAX {
            let at = dl.at_ms;
            self.set(dl, at, entry.owner, entry.key());
        }
        false
    }

    pub fn next_at(&self) -> Option<u64> {
        self.heap.peek().map(|Reverse(e)| e.at_ms)
    }

    /// Pops the next entry due at `now`, if any.
    pub fn pop_due(&mut self, now: u64) -> Option<TimerEntry> {
        match self.heap.peek() {
            Some(Reverse(e)) if e.at_ms <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k() -> Key {
        Key {
            slot: 3,
            generation: 9,
        }
    }

    #[test]
    fn later_deadline_costs_no_push_and_rearms_on_fire() {
        let mut t = Timers::new();
        let mut dl = Deadline::default();
        t.set(&mut dl, 100, TimerOwner::Stream, k());
        t.set(&mut dl, 200, TimerOwner::Stream, k());
        assert_eq!(t.len(), 1);
        let e = t.pop_due(100).unwrap();
        assert!(!t.fired(&mut dl, &e, 100));
        assert_eq!(t.next_at(), Some(200));
        let e = t.pop_due(200).unwrap();
        assert!(t.fired(&mut dl, &e, 200));
    }

    #[test]
    fn earlier_deadline_supersedes() {
        let mut t = Timers::new();
        let mut dl = Deadline::default();
        t.set(&mut dl, 300, TimerOwner::Session, k());
        t.set(&mut dl, 50, TimerOwner::Session, k());
        let e = t.pop_due(50).unwrap();
        assert!(t.fired(&mut dl, &e, 50));
        // The stale 300 entry is ignored.
        let e = t.pop_due(300).unwrap();
        assert!(!t.fired(&mut dl, &e, 300));
        assert!(t.pop_due(u64::MAX).is_none());
    }

    #[test]
    fn cleared_deadline_never_fires() {
        let mut t = Timers::new();
        let mut dl = Deadline::default();
        t.set(&mut dl, 10, TimerOwner::Stream, k());
        dl.at_ms = u64::MAX;
        let e = t.pop_due(10).unwrap();
        assert!(!t.fired(&mut dl, &e, 10));
        assert!(t.is_empty());
    }
}
