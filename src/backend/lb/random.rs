//! `balance random(<draws>)`: power of `draws` choices. Each draw picks a
//! candidate at random, weighted by weight; among the drawn servers the one
//! with the lowest load/weight ratio wins (ties: the first drawn). With equal
//! weights this is simply the least loaded; comparing ratios (as HAProxy does)
//! keeps heavier servers from being penalised for their larger share.
//! `draws = 1` is plain weighted random.
//!
//! A pick is O(n + draws·log n): one pass fills the cumulative weights, each
//! draw is a binary search.

use super::{Filter, LbServer, PickCtx, lower_ratio};

/// Power-of-d-choices state for one backend on one shard.
#[derive(Debug, Clone)]
pub struct RandomDraws {
    /// xorshift64* state, never 0.
    state: u64,
    draws: u32,
    /// Scratch: cumulative candidate weight up to and including each index
    /// (non-candidates add 0). Sized by `new`/`resize`.
    cumulative: Vec<u64>,
}

impl RandomDraws {
    /// `draws` of 0 is treated as 1. The seed is mixed (splitmix64), so
    /// consecutive seeds such as shard indexes give unrelated sequences.
    pub fn new(n_servers: usize, draws: u32, seed: u64) -> RandomDraws {
        let mut state = splitmix64(seed);
        if state == 0 {
            state = 0x9e37_79b9_7f4a_7c15;
        }
        RandomDraws {
            state,
            draws: draws.max(1),
            cumulative: vec![0; n_servers],
        }
    }

    pub fn resize(&mut self, n_servers: usize) {
        self.cumulative.resize(n_servers, 0);
    }

    /// O(n + draws·log n), no allocation (unless `servers` is longer than the
    /// sized count).
    pub fn pick(&mut self, servers: &[LbServer], ctx: &PickCtx) -> Option<usize> {
        let n = servers.len();
        if self.cumulative.len() < n {
            self.resize(n);
        }
        let filter = Filter::new(servers, ctx.avoid);
        let mut total: u64 = 0;
        for (i, s) in servers.iter().enumerate() {
            if filter.admits(i, s) {
                total += u64::from(s.weight);
            }
            self.cumulative[i] = total;
        }
        if total == 0 {
            return None;
        }
        let mut best: Option<usize> = None;
        for _ in 0..self.draws {
            let point = self.below(total);
            // First index whose range `[cumulative[i-1], cumulative[i])`
            // contains `point`; zero-width (non-candidate) ranges never do.
            let i = self.cumulative[..n].partition_point(|&c| c <= point);
            if best.is_none_or(|b| lower_ratio(&servers[i], &servers[b])) {
                best = Some(i);
            }
        }
        best
    }

    /// xorshift64*.
    fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..bound` (multiply-shift; the bias is at most
    /// bound / 2^64, negligible for sums of server weights).
    fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }
}

fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
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

    fn counts(r: &mut RandomDraws, servers: &[LbServer], picks: u32) -> Vec<u32> {
        let mut c = vec![0; servers.len()];
        for _ in 0..picks {
            c[r.pick(servers, &PickCtx::default()).unwrap()] += 1;
        }
        c
    }

    fn near(got: u32, want: u32, tolerance: u32) -> bool {
        got.abs_diff(want) <= tolerance
    }

    #[test]
    fn single_draw_is_weighted_random() {
        let servers = [srv(1, 0), srv(3, 50), srv(0, 0), srv(4, 0)];
        let mut r = RandomDraws::new(4, 1, 42);
        let c = counts(&mut r, &servers, 80_000);
        assert!(near(c[0], 10_000, 600), "{c:?}");
        assert!(near(c[1], 30_000, 1_000), "{c:?}");
        assert_eq!(c[2], 0);
        assert!(near(c[3], 40_000, 1_000), "{c:?}");
    }

    #[test]
    fn equal_load_follows_weights_whatever_draws() {
        let servers = [srv(1, 0), srv(3, 0)];
        for draws in [2, 5] {
            let mut r = RandomDraws::new(2, draws, 7);
            let c = counts(&mut r, &servers, 40_000);
            assert!(near(c[0], 10_000, 600), "{draws}: {c:?}");
        }
    }

    #[test]
    fn two_choices_prefer_less_loaded() {
        // The busy server only wins when both draws land on it: 1/4.
        let servers = [srv(1, 100), srv(1, 0)];
        let mut r = RandomDraws::new(2, 2, 1);
        let c = counts(&mut r, &servers, 40_000);
        assert!(near(c[0], 10_000, 600), "{c:?}");
        // Plain random for comparison: half.
        let mut r = RandomDraws::new(2, 1, 1);
        let c = counts(&mut r, &servers, 40_000);
        assert!(near(c[0], 20_000, 800), "{c:?}");
        // Four draws: 1/16.
        let mut r = RandomDraws::new(2, 4, 1);
        let c = counts(&mut r, &servers, 40_000);
        assert!(near(c[0], 2_500, 300), "{c:?}");
    }

    #[test]
    fn load_is_compared_per_weight() {
        // 10/4 < 3/1: the heavier, busier server is the less loaded one.
        let servers = [srv(1, 3), srv(4, 10)];
        let mut r = RandomDraws::new(2, 8, 3);
        let c = counts(&mut r, &servers, 10_000);
        assert!(c[1] > 9_900, "{c:?}");
    }

    #[test]
    fn balances_when_load_tracks_picks() {
        let mut servers = [srv(1, 0), srv(1, 0), srv(1, 0), srv(1, 0)];
        let mut r = RandomDraws::new(4, 2, 9);
        for _ in 0..4_000 {
            let i = r.pick(&servers, &PickCtx::default()).unwrap();
            servers[i].load += 1;
        }
        let (lo, hi) = servers.iter().fold((u32::MAX, 0), |(lo, hi), s| {
            (lo.min(s.load), hi.max(s.load))
        });
        // p2c keeps the spread tiny (plain random would be ~±60).
        assert!(hi - lo <= 10, "{servers:?}");
    }

    #[test]
    fn seeds_differ_and_are_reproducible() {
        let servers = [srv(1, 0); 8];
        let seq = |seed| {
            let mut r = RandomDraws::new(8, 2, seed);
            (0..32)
                .map(|_| r.pick(&servers, &PickCtx::default()).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(seq(0), seq(0));
        assert_ne!(seq(0), seq(1));
        assert_ne!(seq(1), seq(2));
    }

    #[test]
    fn zero_draws_means_one() {
        let servers = [srv(1, 0), srv(1, 0)];
        let mut r = RandomDraws::new(2, 0, 5);
        let c = counts(&mut r, &servers, 1_000);
        assert_eq!(c.iter().sum::<u32>(), 1_000);
    }
}
