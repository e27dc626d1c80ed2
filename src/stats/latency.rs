//! Latency histograms of backends, which HAProxy's counters do not have:
//! the response time (request sent to the server -> response head
//! received, HAProxy's Tr) and the total time (first byte of the request ->
//! transaction end, HAProxy's Ta) of every HTTP transaction a server
//! answered, in microseconds.
//!
//! Shards share nothing mutable per request: each shard owns one
//! [`ShardLatency`], a mutex over its own histograms (one pair per backend
//! slot, created at the shard's first transaction in that backend). Only
//! the shard records into it, so the lock is never contended except for
//! the brief moment an exporter reads it; the exporter merges every
//! shard's counts ([`Latency::merged`]). The registry lives in the
//! `Runtime` and is shared by every snapshot, as backend slots are.
//!
//! Precision: `hdrhistogram` with 2 significant digits, 1 us to 100 s
//! (longer times count as 100 s in the buckets; `sum` and `max` are
//! exact). A bucket bound `le` counts the values whose histogram cell
//! starts at or below it, so a value at most 1% above a bound may be
//! counted in it.

use std::sync::{Arc, Mutex, MutexGuard};

use hdrhistogram::Histogram;

/// Upper bounds (`le`) of the exported buckets, in microseconds (`+Inf`
/// is implied).
pub const BUCKETS_US: [u64; 15] = [
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 10_000_000, 30_000_000,
];

/// Largest value the histograms resolve (100 s).
const HIGHEST_US: u64 = 100_000_000;

/// One measured duration: its histogram plus exact count, sum and max.
#[derive(Debug, Clone)]
pub struct Timer {
    hist: Histogram<u64>,
    count: u64,
    sum_us: u64,
    max_us: u64,
}

impl Timer {
    fn new() -> Option<Timer> {
        Some(Timer {
            hist: Histogram::new_with_bounds(1, HIGHEST_US, 2).ok()?,
            count: 0,
            sum_us: 0,
            max_us: 0,
        })
    }

    fn record(&mut self, us: u64) {
        self.hist.saturating_record(us.clamp(1, HIGHEST_US));
        self.count += 1;
        self.sum_us = self.sum_us.saturating_add(us);
        self.max_us = self.max_us.max(us);
    }

    /// Adds this timer's counts to `into`.
    fn add_to(&self, into: &mut Cumulative) {
        for v in self.hist.iter_recorded() {
            let low = self.hist.lowest_equivalent(v.value_iterated_to());
            let n = v.count_at_value();
            match BUCKETS_US.iter().position(|&le| low <= le) {
                Some(i) => into.buckets[i] += n,
                None => into.overflow += n,
            }
        }
        into.count += self.count;
        into.sum_us = into.sum_us.saturating_add(self.sum_us);
        into.max_us = into.max_us.max(self.max_us);
    }
}

/// The two timers of one backend on one shard.
#[derive(Debug, Clone)]
pub struct BackendTimes {
    pub response: Timer,
    pub total: Timer,
}

/// A timer merged over shards, per bucket (not cumulative yet: see
/// [`Cumulative::cumulative`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cumulative {
    pub buckets: [u64; BUCKETS_US.len()],
    /// Values above the last bound.
    pub overflow: u64,
    pub count: u64,
    pub sum_us: u64,
    pub max_us: u64,
}

impl Cumulative {
    /// Prometheus' cumulative counts: values `<= BUCKETS_US[i]`.
    pub fn cumulative(&self) -> [u64; BUCKETS_US.len()] {
        let mut acc = 0;
        self.buckets.map(|n| {
            acc += n;
            acc
        })
    }
}

/// Both timers of a backend merged over every shard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Merged {
    pub response: Cumulative,
    pub total: Cumulative,
}

/// One shard's histograms, by backend slot.
#[derive(Debug, Default)]
pub struct ShardLatency(Mutex<Vec<Option<Box<BackendTimes>>>>);

impl ShardLatency {
    fn lock(&self) -> MutexGuard<'_, Vec<Option<Box<BackendTimes>>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records one transaction of backend slot `backend`: its response
    /// time when a server answered (`response_us`), and its total time.
    /// Allocates only at the first transaction of a backend on this shard.
    pub fn record(&self, backend: usize, response_us: Option<u64>, total_us: u64) {
        let mut slots = self.lock();
        if slots.len() <= backend {
            slots.resize_with(backend + 1, || None);
        }
        let Some(slot) = slots.get_mut(backend) else {
            return;
        };
        if slot.is_none() {
            let (Some(response), Some(total)) = (Timer::new(), Timer::new()) else {
                return;
            };
            *slot = Some(Box::new(BackendTimes { response, total }));
        }
        if let Some(t) = slot.as_mut() {
            if let Some(r) = response_us {
                t.response.record(r);
            }
            t.total.record(total_us);
        }
    }
}

/// Every shard's histograms (shared by the snapshots of a process).
#[derive(Debug)]
pub struct Latency {
    shards: Vec<Arc<ShardLatency>>,
}

impl Latency {
    pub fn new(shards: usize) -> Latency {
        Latency {
            shards: (0..shards.max(1)).map(|_| Arc::default()).collect(),
        }
    }

    /// The histograms shard `id` records into.
    pub fn shard(&self, id: usize) -> &ShardLatency {
        &self.shards[id % self.shards.len()]
    }

    /// Backend slot `backend` merged over every shard; None when no shard
    /// recorded anything for it. Holds each shard's lock only while
    /// adding its counts.
    pub fn merged(&self, backend: usize) -> Option<Merged> {
        let mut m = Merged::default();
        let mut any = false;
        for s in &self.shards {
            let slots = s.lock();
            if let Some(Some(t)) = slots.get(backend) {
                t.response.add_to(&mut m.response);
                t.total.add_to(&mut m.total);
                any = true;
            }
        }
        any.then_some(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_shards_into_prometheus_buckets() {
        let l = Latency::new(2);
        l.shard(0).record(1, Some(400), 900);
        l.shard(1).record(1, Some(1_000), 3_000);
        l.shard(1).record(1, None, 200_000_000);
        assert_eq!(l.merged(0), None);
        let m = l.merged(1).expect("recorded");
        assert_eq!(m.response.count, 2);
        assert_eq!(m.response.sum_us, 1_400);
        assert_eq!(m.response.max_us, 1_000);
        let c = m.response.cumulative();
        assert_eq!((c[0], c[1], c[14]), (1, 2, 2));
        assert_eq!(m.total.count, 3);
        assert_eq!(m.total.max_us, 200_000_000);
        let c = m.total.cumulative();
        // 900 us <= 1 ms; 3 ms <= 5 ms; 200 s above every bound.
        assert_eq!((c[0], c[1], c[2], c[3], c[14]), (0, 1, 1, 2, 2));
        assert_eq!(m.total.overflow, 1);
    }
}
