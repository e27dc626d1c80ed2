//! Per-shard load-balancing state.
//!
//! Every shard owns one [`Lb`] per backend and drives it with a slice of
//! [`LbServer`] snapshots built from its local server table, so nothing here
//! is shared between shards. The pick path is O(n) in the number of servers
//! (or better) and never allocates: every state vector is sized by
//! [`Lb::new`] / [`Lb::resize`].
//!
//! All algorithms apply the same filter (see [`LbServer`] and
//! [`PickCtx::avoid`]): a server is a candidate when it is eligible, has a
//! weight above 0, and is not the avoided index (unless it is the only
//! usable server).

use crate::config::Balance;

pub mod leastconn;
pub mod random;
pub mod roundrobin;
pub mod source;

/// What the LB needs to know about one server at pick time. The caller
/// builds the slice in server-index order; index i in the slice is server i.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LbServer {
    /// Current effective weight; 0 takes no load-balanced traffic.
    pub weight: u32,
    /// Usable now: not in maintenance/drain/down, not full (maxconn), and in
    /// the current tier (active, or backup when no active is usable — the
    /// caller decides the tier).
    pub eligible: bool,
    /// Current load used by leastconn/random: connections currently served
    /// by this server (process-wide).
    pub load: u32,
}

impl LbServer {
    /// Eligible with a weight above 0: may be picked at all.
    #[inline]
    fn usable(&self) -> bool {
        self.eligible && self.weight > 0
    }
}

/// Per-request input to [`Lb::pick`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PickCtx {
    /// The client's address, for `balance source`.
    pub src: Option<std::net::IpAddr>,
    /// Server index to avoid when another eligible one exists (redispatch
    /// after a failed connect).
    pub avoid: Option<usize>,
    /// A precomputed hash key for the map-based hashes of `balance uri` and
    /// `balance hdr(name)` (see `hash_bytes`); None: that request has no
    /// such key and the pick falls back to round robin.
    pub key: Option<u32>,
}

/// HAProxy's default hash function for map-based balancing (sdbm), over
/// the bytes `balance uri`/`hdr` select.
pub fn hash_bytes(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0u32, |h, &c| {
        u32::from(c)
            .wrapping_add(h << 6)
            .wrapping_add(h << 16)
            .wrapping_sub(h)
    })
}

/// The candidate filter shared by every algorithm.
#[derive(Debug, Clone, Copy)]
struct Filter {
    /// The avoided index, only when another usable server exists.
    skip: Option<usize>,
}

impl Filter {
    /// O(n) at worst; stops at the first usable server other than `avoid`.
    fn new(servers: &[LbServer], avoid: Option<usize>) -> Filter {
        let skip = avoid.filter(|&a| {
            servers
                .iter()
                .enumerate()
                .any(|(i, s)| i != a && s.usable())
        });
        Filter { skip }
    }

    #[inline]
    fn admits(self, i: usize, s: &LbServer) -> bool {
        s.usable() && self.skip != Some(i)
    }
}

/// `load_a / weight_a < load_b / weight_b`, without division or overflow.
/// Both weights must be non-zero (candidates only).
#[inline]
fn lower_ratio(a: &LbServer, b: &LbServer) -> bool {
    u64::from(a.load) * u64::from(b.weight) < u64::from(b.load) * u64::from(a.weight)
}

/// One backend's LB state on one shard.
#[derive(Debug, Clone)]
pub enum Lb {
    RoundRobin(roundrobin::SmoothWrr),
    LeastConn(leastconn::LeastConn),
    Source(source::SourceHash),
    Random(random::RandomDraws),
}

impl Lb {
    /// `seed` should differ between shards (the shard index is fine): it
    /// seeds `random`'s generator and rotates the tie-break start of
    /// roundrobin/leastconn so that shards do not all send their first
    /// connection to the same server. It never affects `source` hashing, so
    /// every shard maps a client address to the same server.
    pub fn new(balance: &Balance, n_servers: usize, seed: u64) -> Lb {
        match *balance {
            Balance::RoundRobin => Lb::RoundRobin(roundrobin::SmoothWrr::new(n_servers, seed)),
            Balance::LeastConn => Lb::LeastConn(leastconn::LeastConn::new(n_servers, seed)),
            // uri and hdr are the same map-based hash, over a key the
            // stream computes from the request.
            Balance::Source | Balance::Uri { .. } | Balance::Hdr { .. } => {
                Lb::Source(source::SourceHash::new(n_servers, seed))
            }
            Balance::Random { draws } => {
                Lb::Random(random::RandomDraws::new(n_servers, draws, seed))
            }
        }
    }

    /// Server count changed (servers are only appended; a removed server
    /// stays as a slot with eligible=false). Keeps state for existing
    /// indexes. May allocate.
    pub fn resize(&mut self, n_servers: usize) {
        match self {
            Lb::RoundRobin(s) => s.resize(n_servers),
            Lb::LeastConn(s) => s.resize(n_servers),
            Lb::Source(s) => s.resize(n_servers),
            Lb::Random(s) => s.resize(n_servers),
        }
    }

    /// Chooses among eligible servers with weight > 0; `None` when there is
    /// none. Does not allocate as long as `servers.len()` does not exceed the
    /// count given to `new`/`resize` (a longer slice grows the state once).
    pub fn pick(&mut self, servers: &[LbServer], ctx: &PickCtx) -> Option<usize> {
        match self {
            Lb::RoundRobin(s) => s.pick(servers, ctx),
            Lb::LeastConn(s) => s.pick(servers, ctx),
            Lb::Source(s) => s.pick(servers, ctx),
            Lb::Random(s) => s.pick(servers, ctx),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    pub(crate) fn srv(weight: u32) -> LbServer {
        LbServer {
            weight,
            eligible: true,
            load: 0,
        }
    }

    fn all_balances() -> [Balance; 5] {
        [
            Balance::RoundRobin,
            Balance::LeastConn,
            Balance::Source,
            Balance::Random { draws: 2 },
            Balance::Random { draws: 1 },
        ]
    }

    fn ctxs() -> [PickCtx; 2] {
        [
            PickCtx::default(),
            PickCtx {
                src: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))),
                avoid: None,
                key: None,
            },
        ]
    }

    #[test]
    fn empty_and_unusable_give_none() {
        for b in all_balances() {
            for ctx in ctxs() {
                let mut lb = Lb::new(&b, 3, 7);
                assert_eq!(lb.pick(&[], &ctx), None, "{b:?} empty");
                let mut off = [srv(1), srv(2), srv(3)];
                for s in &mut off {
                    s.eligible = false;
                }
                assert_eq!(lb.pick(&off, &ctx), None, "{b:?} ineligible");
                let zero = [srv(0), srv(0), srv(0)];
                assert_eq!(lb.pick(&zero, &ctx), None, "{b:?} weight 0");
                let avoid_only = PickCtx {
                    avoid: Some(0),
                    ..ctx
                };
                assert_eq!(lb.pick(&off, &avoid_only), None, "{b:?} avoid");
            }
        }
    }

    #[test]
    fn never_picks_ineligible_or_weight_zero() {
        for b in all_balances() {
            for ctx in ctxs() {
                let mut lb = Lb::new(&b, 4, 3);
                let mut servers = [srv(1), srv(0), srv(5), srv(2)];
                servers[2].eligible = false;
                for _ in 0..200 {
                    let i = lb.pick(&servers, &ctx).unwrap();
                    assert!(i == 0 || i == 3, "{b:?} picked {i}");
                }
            }
        }
    }

    #[test]
    fn avoid_is_honoured_unless_alone() {
        for b in all_balances() {
            for ctx in ctxs() {
                let mut lb = Lb::new(&b, 3, 11);
                let servers = [srv(1), srv(3), srv(1)];
                let ctx_avoid = PickCtx {
                    avoid: Some(1),
                    ..ctx
                };
                for _ in 0..100 {
                    assert_ne!(lb.pick(&servers, &ctx_avoid), Some(1), "{b:?}");
                }
                // The avoided server is still used when it is the only one.
                let mut alone = servers;
                alone[0].eligible = false;
                alone[2].weight = 0;
                assert_eq!(lb.pick(&alone, &ctx_avoid), Some(1), "{b:?}");
                // An out-of-range avoid is harmless.
                let far = PickCtx {
                    avoid: Some(99),
                    ..ctx
                };
                assert!(lb.pick(&servers, &far).is_some(), "{b:?}");
            }
        }
    }

    #[test]
    fn resize_keeps_working() {
        for b in all_balances() {
            for ctx in [PickCtx::default()] {
                let mut lb = Lb::new(&b, 2, 5);
                let mut servers = vec![srv(1), srv(1)];
                for _ in 0..10 {
                    assert!(lb.pick(&servers, &ctx).unwrap() < 2);
                }
                servers.push(srv(1));
                lb.resize(3);
                let mut seen = [0u32; 3];
                for _ in 0..300 {
                    seen[lb.pick(&servers, &ctx).unwrap()] += 1;
                }
                assert!(seen.iter().all(|&c| c > 0), "{b:?} {seen:?}");
                // A removed server stays as an ineligible slot.
                servers[0].eligible = false;
                for _ in 0..50 {
                    assert_ne!(lb.pick(&servers, &ctx), Some(0), "{b:?}");
                }
                // Slice longer than the declared count: still correct.
                servers.push(srv(1));
                let mut seen = [0u32; 4];
                for _ in 0..300 {
                    seen[lb.pick(&servers, &ctx).unwrap()] += 1;
                }
                assert!(seen[1..].iter().all(|&c| c > 0), "{b:?} {seen:?}");
            }
        }
    }

    #[test]
    fn lower_ratio_is_exact_and_overflow_free() {
        let a = LbServer {
            weight: 2,
            eligible: true,
            load: 4,
        };
        let b = LbServer {
            weight: 1,
            eligible: true,
            load: 3,
        };
        assert!(lower_ratio(&a, &b));
        assert!(!lower_ratio(&b, &a));
        let big = LbServer {
            weight: 256,
            eligible: true,
            load: u32::MAX,
        };
        let small = LbServer {
            weight: 1,
            eligible: true,
            load: u32::MAX - 1,
        };
        assert!(lower_ratio(&big, &small));
        assert!(!lower_ratio(&a, &a));
    }
}
