//! Least connections, weighted: the candidate with the lowest load/weight
//! ratio wins. Ties are broken round-robin: the scan starts at a rotating
//! cursor (just after the previous pick), so equally loaded servers
//! alternate instead of the lowest index always winning.

use super::{Filter, LbServer, PickCtx, lower_ratio};

/// Weighted least-connections state for one backend on one shard.
#[derive(Debug, Clone)]
pub struct LeastConn {
    /// Where the next scan starts; taken modulo the server count.
    cursor: usize,
}

impl LeastConn {
    /// `seed` sets the initial cursor, so shards start on different servers.
    pub fn new(_n_servers: usize, seed: u64) -> LeastConn {
        LeastConn {
            // Truncation on 32-bit targets is fine: only used modulo n.
            cursor: seed as usize,
        }
    }

    /// No per-server state: nothing to do.
    pub fn resize(&mut self, _n_servers: usize) {}

    /// O(n), no allocation.
    pub fn pick(&mut self, servers: &[LbServer], ctx: &PickCtx) -> Option<usize> {
        let n = servers.len();
        if n == 0 {
            return None;
        }
        let filter = Filter::new(servers, ctx.avoid);
        let start = self.cursor % n;
        let mut best: Option<usize> = None;
        for i in (start..n).chain(0..start) {
            let s = &servers[i];
            if filter.admits(i, s) && best.is_none_or(|b| lower_ratio(s, &servers[b])) {
                best = Some(i);
            }
        }
        let i = best?;
        self.cursor = i.wrapping_add(1);
        Some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn srv(weight: u32, load: u32) -> LbServer {
        LbServer {
            weight,
            eligible: true,
            load,
        }
    }

    #[test]
    fn prefers_lower_load_over_weight() {
        let mut lc = LeastConn::new(3, 0);
        let ctx = PickCtx::default();
        // Ratios 4/2 = 2, 3/1 = 3, 10/4 = 2.5.
        let servers = [srv(2, 4), srv(1, 3), srv(4, 10)];
        for _ in 0..5 {
            assert_eq!(lc.pick(&servers, &ctx), Some(0));
        }
        // Higher weight absorbs more load: 9/10 < 1/1.
        let servers = [srv(1, 1), srv(10, 9)];
        assert_eq!(lc.pick(&servers, &ctx), Some(1));
        // An idle server always wins over a loaded one.
        let servers = [srv(100, 1), srv(1, 0)];
        assert_eq!(lc.pick(&servers, &ctx), Some(1));
    }

    #[test]
    fn alternates_among_ties() {
        let mut lc = LeastConn::new(3, 0);
        let ctx = PickCtx::default();
        let servers = [srv(1, 0), srv(1, 0), srv(1, 0)];
        let seq: Vec<_> = (0..6).map(|_| lc.pick(&servers, &ctx).unwrap()).collect();
        assert_eq!(seq, [0, 1, 2, 0, 1, 2]);
        // Only the tied minimum alternates: 2 is busier.
        let servers = [srv(1, 3), srv(1, 5), srv(2, 6)];
        let seq: Vec<_> = (0..4).map(|_| lc.pick(&servers, &ctx).unwrap()).collect();
        assert_eq!(seq, [0, 2, 0, 2]);
    }

    #[test]
    fn converges_to_weights_when_load_tracks_picks() {
        let mut lc = LeastConn::new(3, 0);
        let ctx = PickCtx::default();
        let mut servers = [srv(1, 0), srv(2, 0), srv(3, 0)];
        for _ in 0..600 {
            let i = lc.pick(&servers, &ctx).unwrap();
            servers[i].load += 1;
        }
        assert_eq!(servers.map(|s| s.load), [100, 200, 300]);
    }

    #[test]
    fn skips_ineligible_avoid_and_weight_zero() {
        let mut lc = LeastConn::new(4, 0);
        let mut servers = [srv(1, 0), srv(0, 0), srv(1, 9), srv(1, 5)];
        servers[0].eligible = false;
        let ctx = PickCtx::default();
        assert_eq!(lc.pick(&servers, &ctx), Some(3));
        let avoid = PickCtx {
            src: None,
            avoid: Some(3),
            key: None,
        };
        assert_eq!(lc.pick(&servers, &avoid), Some(2));
    }

    #[test]
    fn seed_rotates_first_choice() {
        let servers = [srv(1, 0), srv(1, 0), srv(1, 0)];
        let ctx = PickCtx::default();
        let firsts: Vec<_> = (0..3)
            .map(|seed| LeastConn::new(3, seed).pick(&servers, &ctx).unwrap())
            .collect();
        assert_eq!(firsts, [0, 1, 2]);
    }
}
