//! `balance source`, HAProxy's map-based hash: the client address is hashed
//! to 32 bits, reduced modulo the total weight of the candidates, and mapped
//! to the candidate whose weight range (in index order) contains it. The same
//! address lands on the same server as long as the candidate set and weights
//! do not change; any change remaps many clients (hence not dynamic).
//!
//! The hash does not depend on the shard's seed, so every shard agrees.
//! Without a source address (e.g. a UNIX socket client), picks fall back to
//! smooth weighted round robin.

use std::net::IpAddr;

use super::roundrobin::SmoothWrr;
use super::{Filter, LbServer, PickCtx};

/// Source-hash state for one backend on one shard (only the round-robin
/// fallback has state).
#[derive(Debug, Clone)]
pub struct SourceHash {
    fallback: SmoothWrr,
}

impl SourceHash {
    pub fn new(n_servers: usize, seed: u64) -> SourceHash {
        SourceHash {
            fallback: SmoothWrr::new(n_servers, seed),
        }
    }

    pub fn resize(&mut self, n_servers: usize) {
        self.fallback.resize(n_servers);
    }

    /// O(n), no allocation.
    pub fn pick(&mut self, servers: &[LbServer], ctx: &PickCtx) -> Option<usize> {
        match (ctx.key, ctx.src) {
            (Some(key), _) => pick_hashed(servers, ctx.avoid, key),
            (None, Some(ip)) => pick_hashed(servers, ctx.avoid, hash_addr(ip)),
            (None, None) => self.fallback.pick(servers, ctx),
        }
    }
}

/// Maps `hash` onto the candidates' concatenated weight ranges.
fn pick_hashed(servers: &[LbServer], avoid: Option<usize>, hash: u32) -> Option<usize> {
    let filter = Filter::new(servers, avoid);
    let admitted = || {
        servers
            .iter()
            .enumerate()
            .filter(move |&(i, s)| filter.admits(i, s))
    };
    let total: u64 = admitted().map(|(_, s)| u64::from(s.weight)).sum();
    if total == 0 {
        return None;
    }
    let mut point = u64::from(hash) % total;
    for (i, s) in admitted() {
        let w = u64::from(s.weight);
        if point < w {
            return Some(i);
        }
        point -= w;
    }
    // Unreachable: `point < total` and the ranges cover `0..total`.
    None
}

/// 32-bit hash of a client address, stable across shards and restarts.
/// IPv4-mapped IPv6 addresses hash like the IPv4 address, so a client keeps
/// its server whether it reaches a dual-stack or an IPv4 listener. IPv4 is
/// murmur3's finalizer over the address; IPv6 is murmur3_32 (seed 0) over its
/// four big-endian words.
pub fn hash_addr(ip: IpAddr) -> u32 {
    match ip.to_canonical() {
        IpAddr::V4(v4) => fmix32(u32::from(v4)),
        IpAddr::V6(v6) => {
            let b = v6.octets();
            let mut h: u32 = 0;
            for w in b.chunks_exact(4) {
                let mut k = u32::from_be_bytes([w[0], w[1], w[2], w[3]]);
                k = k
                    .wrapping_mul(0xcc9e_2d51)
                    .rotate_left(15)
                    .wrapping_mul(0x1b87_3593);
                h ^= k;
                h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
            }
            fmix32(h ^ 16)
        }
    }
}

/// murmur3's 32-bit finalizer: a bijection with full avalanche.
fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::lb::tests::srv;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn ctx(ip: IpAddr) -> PickCtx {
        PickCtx {
            src: Some(ip),
            avoid: None,
            key: None,
        }
    }

    fn v4(i: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i))
    }

    fn v6(i: u32) -> IpAddr {
        IpAddr::V6(Ipv6Addr::new(
            0x2001,
            0xdb8,
            0,
            0,
            0,
            0,
            (i >> 16) as u16,
            i as u16,
        ))
    }

    #[test]
    fn murmur3_reference_values() {
        // Published murmur3_x86_32 vectors: ("", seed 1) is fmix32(1).
        assert_eq!(fmix32(0), 0);
        assert_eq!(fmix32(1), 0x514e_28b7);
        assert_eq!(murmur3_bytes(&[0; 4]), 0x2362_f9de);
        assert_eq!(murmur3_bytes(b"test"), 0xba6b_d213);
        // The IPv6 hash is murmur3_x86_32 over the address's four words
        // (murmur3 reads little-endian words; we feed big-endian ones).
        for a in ["::", "2001:db8::1:2:3", "fe80::dead:beef"] {
            let a: Ipv6Addr = a.parse().unwrap();
            let mut le = [0u8; 16];
            for (d, w) in le.chunks_exact_mut(4).zip(a.octets().chunks_exact(4)) {
                d.copy_from_slice(&[w[3], w[2], w[1], w[0]]);
            }
            assert_eq!(hash_addr(IpAddr::V6(a)), murmur3_bytes(&le));
        }
    }

    /// Textbook murmur3_x86_32, seed 0, length multiple of 4.
    fn murmur3_bytes(data: &[u8]) -> u32 {
        let mut h: u32 = 0;
        for c in data.chunks_exact(4) {
            let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            k = k.wrapping_mul(0xcc9e_2d51);
            k = k.rotate_left(15);
            k = k.wrapping_mul(0x1b87_3593);
            h ^= k;
            h = h.rotate_left(13);
            h = h.wrapping_mul(5).wrapping_add(0xe654_6b64);
        }
        h ^= data.len() as u32;
        fmix32(h)
    }

    #[test]
    fn sticky_per_source_and_across_shards() {
        let servers = [srv(1), srv(2), srv(3), srv(1)];
        let mut a = SourceHash::new(4, 0);
        let mut b = SourceHash::new(4, 12345);
        for i in 0..500 {
            for ip in [v4(i * 7919), v6(i * 104_729)] {
                let first = a.pick(&servers, &ctx(ip)).unwrap();
                for _ in 0..3 {
                    assert_eq!(a.pick(&servers, &ctx(ip)), Some(first));
                }
                assert_eq!(b.pick(&servers, &ctx(ip)), Some(first));
            }
        }
    }

    #[test]
    fn mapped_v6_hashes_like_v4() {
        let v4a = Ipv4Addr::new(198, 51, 100, 23);
        assert_eq!(
            hash_addr(IpAddr::V4(v4a)),
            hash_addr(IpAddr::V6(v4a.to_ipv6_mapped()))
        );
    }

    fn spread(addr: fn(u32) -> IpAddr) {
        let servers = [srv(1), srv(2), srv(3)];
        let mut sh = SourceHash::new(3, 0);
        let mut c = [0u32; 3];
        // Sequential addresses: the worst case for a weak hash.
        for i in 0..60_000 {
            c[sh.pick(&servers, &ctx(addr(i))).unwrap()] += 1;
        }
        for (k, want) in [10_000u32, 20_000, 30_000].into_iter().enumerate() {
            assert!(c[k].abs_diff(want) < want / 20, "{c:?}");
        }
    }

    #[test]
    fn spread_over_many_v4() {
        spread(v4);
    }

    #[test]
    fn spread_over_many_v6() {
        spread(v6);
        // Only the high 64 bits varying (distinct /64 prefixes).
        spread(|i| {
            IpAddr::V6(Ipv6Addr::new(
                0x2001,
                0xdb8,
                (i >> 16) as u16,
                i as u16,
                0,
                0,
                0,
                1,
            ))
        });
    }

    #[test]
    fn ineligible_server_only_moves_its_clients_or_fewer() {
        // Map-based: stable while the set is unchanged; a server going
        // ineligible never receives traffic, and its clients go elsewhere.
        let mut servers = [srv(1), srv(1), srv(1)];
        let mut sh = SourceHash::new(3, 0);
        let before: Vec<_> = (0..300)
            .map(|i| sh.pick(&servers, &ctx(v4(i))).unwrap())
            .collect();
        servers[1].eligible = false;
        for i in 0..300 {
            let now = sh.pick(&servers, &ctx(v4(i))).unwrap();
            assert_ne!(now, 1);
        }
        servers[1].eligible = true;
        for i in 0..300 {
            assert_eq!(sh.pick(&servers, &ctx(v4(i))), Some(before[i as usize]));
        }
    }

    #[test]
    fn avoid_moves_client_elsewhere() {
        let servers = [srv(1), srv(1), srv(1)];
        let mut sh = SourceHash::new(3, 0);
        for i in 0..100 {
            let ip = v4(i);
            let home = sh.pick(&servers, &ctx(ip)).unwrap();
            let redispatch = PickCtx {
                src: Some(ip),
                avoid: Some(home),
                key: None,
            };
            let other = sh.pick(&servers, &redispatch).unwrap();
            assert_ne!(other, home);
        }
    }

    #[test]
    fn weight_zero_never_chosen() {
        let servers = [srv(0), srv(1), srv(0)];
        let mut sh = SourceHash::new(3, 0);
        for i in 0..200 {
            assert_eq!(sh.pick(&servers, &ctx(v6(i))), Some(1));
        }
    }

    #[test]
    fn no_source_falls_back_to_round_robin() {
        let servers = [srv(1), srv(2), srv(3)];
        let mut sh = SourceHash::new(3, 0);
        let mut c = [0u32; 3];
        for _ in 0..600 {
            c[sh.pick(&servers, &PickCtx::default()).unwrap()] += 1;
        }
        assert_eq!(c, [100, 200, 300]);
    }
}
