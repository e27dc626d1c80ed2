//! Smooth weighted round robin (nginx's algorithm).
//!
//! Each pick adds every candidate's weight to its `current` value, picks the
//! candidate with the highest `current`, and subtracts the sum of the
//! candidates' weights from the winner. Starting from all-zero state, every
//! window of `W` consecutive picks (`W` = total weight of an unchanged
//! candidate set) gives each server exactly its weight, interleaved rather
//! than in bursts (5,1,1 gives `a a b a c a a`).
//!
//! Non-candidates (ineligible, weight 0, avoided) keep their `current`
//! frozen, so they are skipped without disturbing the relative order of the
//! others and resume where they left off.

use super::{Filter, LbServer, PickCtx};

/// Smooth weighted round-robin state for one backend on one shard.
#[derive(Debug, Clone)]
pub struct SmoothWrr {
    /// nginx's `current_weight`, per server index.
    current: Vec<i64>,
    /// Rotates where ties are broken (from the shard's seed), so that shards
    /// starting from the same state do not all choose the same server.
    offset: usize,
}

impl SmoothWrr {
    pub fn new(n_servers: usize, seed: u64) -> SmoothWrr {
        SmoothWrr {
            current: vec![0; n_servers],
            // Truncation on 32-bit targets is fine: only used modulo n.
            offset: seed as usize,
        }
    }

    /// Keeps the state of existing indexes; new servers start at 0.
    pub fn resize(&mut self, n_servers: usize) {
        self.current.resize(n_servers, 0);
    }

    /// O(n), no allocation (unless `servers` is longer than the sized count).
    pub fn pick(&mut self, servers: &[LbServer], ctx: &PickCtx) -> Option<usize> {
        let n = servers.len();
        if n == 0 {
            return None;
        }
        if self.current.len() < n {
            self.resize(n);
        }
        let filter = Filter::new(servers, ctx.avoid);
        let start = self.offset % n;
        let mut total: i64 = 0;
        let mut best: Option<(usize, i64)> = None;
        for i in (start..n).chain(0..start) {
            let s = &servers[i];
            if !filter.admits(i, s) {
                continue;
            }
            let w = i64::from(s.weight);
            let c = &mut self.current[i];
            *c += w;
            total += w;
            if best.is_none_or(|(_, b)| *c > b) {
                best = Some((i, *c));
            }
        }
        let (i, _) = best?;
        self.current[i] -= total;
        Some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::lb::tests::srv;

    fn run(rr: &mut SmoothWrr, servers: &[LbServer], picks: usize) -> Vec<usize> {
        (0..picks)
            .map(|_| rr.pick(servers, &PickCtx::default()).unwrap())
            .collect()
    }

    fn counts(seq: &[usize], n: usize) -> Vec<usize> {
        let mut c = vec![0; n];
        for &i in seq {
            c[i] += 1;
        }
        c
    }

    #[test]
    fn distribution_is_exact() {
        let servers = [srv(1), srv(2), srv(3)];
        let mut rr = SmoothWrr::new(3, 0);
        let seq = run(&mut rr, &servers, 600);
        assert_eq!(counts(&seq, 3), [100, 200, 300]);
        // Every full cycle (6 picks) is exact, not just the total.
        for w in seq.chunks(6) {
            assert_eq!(counts(w, 3), [1, 2, 3]);
        }
    }

    #[test]
    fn every_cycle_exact_for_many_weights_and_offsets() {
        // Deterministic pseudo-random weight sets; any tie-break offset.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for round in 0..200 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = (x % 7 + 1) as usize;
            let servers: Vec<LbServer> = (0..n)
                .map(|k| srv(((x >> (8 * k)) % 9) as u32 + 1))
                .collect();
            let total: usize = servers.iter().map(|s| s.weight as usize).sum();
            let mut rr = SmoothWrr::new(n, round);
            let seq = run(&mut rr, &servers, total * 3);
            for w in seq.chunks(total) {
                let c = counts(w, n);
                for (k, s) in servers.iter().enumerate() {
                    assert_eq!(c[k], s.weight as usize, "{servers:?} seed {round}");
                }
            }
        }
    }

    #[test]
    fn smooth_sequence() {
        let servers = [srv(5), srv(1), srv(1)];
        let mut rr = SmoothWrr::new(3, 0);
        let seq = run(&mut rr, &servers, 14);
        assert_eq!(seq, [0, 0, 1, 0, 2, 0, 0, 0, 0, 1, 0, 2, 0, 0]);
        // Whatever the tie-break offset, within each cycle the heavy server
        // never runs more than 2 in a row (AAAAABC would be 5) and the light
        // ones are never adjacent.
        for seed in 0..3 {
            let mut rr = SmoothWrr::new(3, seed);
            let seq = run(&mut rr, &servers, 70);
            for cycle in seq.chunks(7) {
                let longest = cycle
                    .chunk_by(|a, b| a == b)
                    .filter(|r| r[0] == 0)
                    .map(<[usize]>::len)
                    .max()
                    .unwrap();
                assert!(longest <= 2, "seed {seed}: {seq:?}");
            }
            assert!(seq.windows(2).all(|w| w[0] == 0 || w[1] == 0));
        }
    }

    #[test]
    fn equal_weights_rotate_and_seed_spreads_start() {
        let servers = [srv(1), srv(1), srv(1)];
        let mut rr = SmoothWrr::new(3, 0);
        assert_eq!(run(&mut rr, &servers, 6), [0, 1, 2, 0, 1, 2]);
        let firsts: Vec<usize> = (0..3)
            .map(|seed| run(&mut SmoothWrr::new(3, seed), &servers, 1)[0])
            .collect();
        assert_eq!(firsts, [0, 1, 2]);
    }

    #[test]
    fn ineligible_skipped_without_disturbing_order() {
        // [A, X, B, C] with X ineligible picks exactly like [A, B, C].
        let plain = [srv(5), srv(1), srv(1)];
        let mut with_x = [srv(5), srv(4), srv(1), srv(1)];
        with_x[1].eligible = false;
        let mut a = SmoothWrr::new(3, 0);
        let mut b = SmoothWrr::new(4, 0);
        let map = [0, 2, 3];
        let expected: Vec<usize> = run(&mut a, &plain, 70)
            .into_iter()
            .map(|i| map[i])
            .collect();
        assert_eq!(run(&mut b, &with_x, 70), expected);

        // Weights 1,2,3 with the middle one out: exact 1:3 split.
        let mut servers = [srv(1), srv(2), srv(3)];
        servers[1].eligible = false;
        let mut rr = SmoothWrr::new(3, 0);
        assert_eq!(counts(&run(&mut rr, &servers, 400), 3), [100, 0, 300]);
    }

    #[test]
    fn toggled_server_rejoins_with_its_share() {
        let mut servers = [srv(1), srv(2), srv(3)];
        let mut rr = SmoothWrr::new(3, 0);
        run(&mut rr, &servers, 4);
        servers[2].eligible = false;
        let seq = run(&mut rr, &servers, 7);
        assert!(!seq.contains(&2));
        servers[2].eligible = true;
        let c = counts(&run(&mut rr, &servers, 6000), 3);
        // Frozen state only shifts the phase: at most one pick of error.
        for (k, want) in [1000usize, 2000, 3000].into_iter().enumerate() {
            assert!(c[k].abs_diff(want) <= 1, "{c:?}");
        }
    }

    #[test]
    fn avoid_excludes_index() {
        let servers = [srv(1), srv(1), srv(1)];
        let mut rr = SmoothWrr::new(3, 0);
        let ctx = PickCtx {
            src: None,
            avoid: Some(0),
            key: None,
        };
        let seq: Vec<usize> = (0..6).map(|_| rr.pick(&servers, &ctx).unwrap()).collect();
        assert!(!seq.contains(&0));
        assert_eq!(counts(&seq, 3), [0, 3, 3]);
    }

    #[test]
    fn weight_zero_and_weight_change() {
        let mut servers = [srv(0), srv(1), srv(1)];
        let mut rr = SmoothWrr::new(3, 0);
        assert_eq!(counts(&run(&mut rr, &servers, 10), 3), [0, 5, 5]);
        servers[0].weight = 2;
        let c = counts(&run(&mut rr, &servers, 4000), 3);
        assert!(
            c[0].abs_diff(2000) <= 2 && c[1].abs_diff(1000) <= 2,
            "{c:?}"
        );
    }

    #[test]
    fn resize_keeps_state_and_adds_server() {
        let mut servers = vec![srv(5), srv(1), srv(1)];
        let mut rr = SmoothWrr::new(3, 0);
        run(&mut rr, &servers, 7);
        servers.push(srv(3));
        rr.resize(4);
        let c = counts(&run(&mut rr, &servers, 100), 4);
        assert_eq!(c, [50, 10, 10, 30]);
    }
}
