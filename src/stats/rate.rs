//! Per-second rates for `show stat` (`rate`, `req_rate`, `conn_rate` and
//! their `_max`), the stats page and the exporter: HAProxy's `freq_ctr`
//! over one second, shared by every shard with relaxed atomics.
//!
//! Like `stick::Freq`, a rate read at `now` is the count of the current
//! second plus the previous second's weighted by what remains of the
//! current one. Rotation is a compare-and-swap on the period start: an
//! event that races a rotation may land in either second, which moves a
//! rate by at most one event; counts are never lost twice over.

use std::sync::atomic::{AtomicU64, Ordering};

const PERIOD_MS: u64 = 1000;

/// Events per second, and the highest rate seen.
#[derive(Debug, Default)]
pub struct Rate {
    /// Start of the current second (ms, CLOCK_MONOTONIC); 0 before the
    /// first event.
    tick: AtomicU64,
    curr: AtomicU64,
    prev: AtomicU64,
    max: AtomicU64,
}

impl Rate {
    /// One event at `now`.
    pub fn add(&self, now: u64) {
        self.rotate(now);
        self.curr.fetch_add(1, Ordering::Relaxed);
        self.max.fetch_max(self.read(now), Ordering::Relaxed);
    }

    fn rotate(&self, now: u64) {
        let tick = self.tick.load(Ordering::Acquire);
        if tick == 0 {
            let _ = self
                .tick
                .compare_exchange(0, now.max(1), Ordering::AcqRel, Ordering::Relaxed);
            return;
        }
        let elapsed = now.saturating_sub(tick);
        if elapsed < PERIOD_MS {
            return;
        }
        let next = now - elapsed % PERIOD_MS;
        if self
            .tick
            .compare_exchange(tick, next, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            let c = self.curr.swap(0, Ordering::AcqRel);
            let prev = if elapsed >= 2 * PERIOD_MS { 0 } else { c };
            self.prev.store(prev, Ordering::Release);
        }
    }

    /// Events per second at `now`.
    pub fn read(&self, now: u64) -> u64 {
        let tick = self.tick.load(Ordering::Acquire);
        if tick == 0 {
            return 0;
        }
        let (curr, prev) = (
            self.curr.load(Ordering::Relaxed),
            self.prev.load(Ordering::Relaxed),
        );
        let elapsed = now.saturating_sub(tick);
        let (curr, prev, start) = if elapsed >= 2 * PERIOD_MS {
            return 0;
        } else if elapsed >= PERIOD_MS {
            (0, curr, tick + PERIOD_MS)
        } else {
            (curr, prev, tick)
        };
        let remain = (start + PERIOD_MS).saturating_sub(now).min(PERIOD_MS);
        curr + prev * remain / PERIOD_MS
    }

    /// The highest rate seen.
    pub fn max(&self) -> u64 {
        self.max.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_slides() {
        let r = Rate::default();
        for _ in 0..10 {
            r.add(5000);
        }
        assert_eq!(r.read(5000), 10);
        assert_eq!(r.read(5999), 10);
        // Half-way through the next second, half of the previous counts.
        assert_eq!(r.read(6500), 5);
        r.add(6500);
        assert_eq!(r.read(6500), 6);
        assert_eq!(r.read(8000), 0);
        assert_eq!(r.max(), 10);
    }

    #[test]
    fn threads_lose_no_event_within_a_second() {
        let r = std::sync::Arc::new(Rate::default());
        let ts: Vec<_> = (0..4)
            .map(|_| {
                let r = r.clone();
                std::thread::spawn(move || (0..1000).for_each(|_| r.add(10_000)))
            })
            .collect();
        ts.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(r.read(10_000), 4000);
        assert_eq!(r.max(), 4000);
    }
}

/// HAProxy's `swrate`: a sliding average over the last `AVG_SAMPLES`
/// samples, kept as a sum (`sum - sum/N + v`): `qtime`, `ctime`, `rtime`,
/// `ttime` of `show stat`. Until `AVG_SAMPLES` samples arrived it is the
/// plain mean of those seen (HAProxy's `swrate_add_dynamic`), so a fresh
/// process reports real averages at once.
#[derive(Debug, Default)]
pub struct Avg {
    sum: AtomicU64,
    samples: AtomicU64,
}

/// HAProxy's `TIME_STATS_SAMPLES`.
pub const AVG_SAMPLES: u64 = 1024;

impl Avg {
    pub fn add(&self, v: u64) {
        let seen = self.samples.fetch_add(1, Ordering::Relaxed);
        let _ = self
            .sum
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |sum| {
                Some(if seen < AVG_SAMPLES {
                    sum + v
                } else {
                    sum - sum.div_ceil(AVG_SAMPLES).min(sum) + v
                })
            });
    }

    /// The average.
    pub fn get(&self) -> u64 {
        let n = self.samples.load(Ordering::Relaxed).min(AVG_SAMPLES);
        if n == 0 {
            return 0;
        }
        self.sum.load(Ordering::Relaxed) / n
    }
}

#[cfg(test)]
mod avg_tests {
    use super::*;

    #[test]
    fn converges_to_a_steady_value() {
        let a = Avg::default();
        assert_eq!(a.get(), 0);
        a.add(30);
        a.add(50);
        assert_eq!(a.get(), 40, "the plain mean of the first samples");
        for _ in 0..20_000 {
            a.add(40);
        }
        assert!((39..=41).contains(&a.get()), "{}", a.get());
        for _ in 0..20_000 {
            a.add(10);
        }
        assert!((9..=11).contains(&a.get()), "{}", a.get());
    }
}
