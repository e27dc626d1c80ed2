//! Socket addresses of `bind` and `server` lines (HAProxy's `str2sa_range()`
//! subset for TCP over IPv4/IPv6).
//!
//! Forms: `:PORT` and `*:PORT` (any IPv4 address), `IPv4:PORT`,
//! `[IPv6]:PORT`, bare `IPv6:PORT` where the LAST colon separates the port
//! (`:::80` is `[::]:80`), `HOST:PORT` resolved by the caller's resolver, an
//! optional family prefix `ipv4@`/`ipv6@` (also `tcp@`, `tcp4@`, `tcp6@`), and
//! for binds only, comma-separated lists and port ranges `LOW-HIGH`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Resolves a host name for a port; the loader passes a real resolver, tests
/// a fake one. Only called for names that are not IP literals.
pub(super) type Resolve<'a> = dyn Fn(&str, u16) -> Result<SocketAddr, String> + 'a;

/// Most listeners a whole configuration (hence one `bind` line) may declare.
/// HAProxy has no such limit, but every listener costs one socket per shard,
/// so more than one address's worth of ports is always a mistake; the cap
/// also bounds memory on hostile input (fuzzing).
pub(super) const MAX_LISTENERS: usize = 65536;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Family {
    Any,
    V4,
    V6,
}

/// Parses a `bind` address list into one socket address per port.
pub(super) fn parse_bind(spec: &str, resolve: &Resolve<'_>) -> Result<Vec<SocketAddr>, String> {
    let mut out = Vec::new();
    for item in spec.split(',') {
        if item.is_empty() {
            return Err(format!("empty address in list '{spec}'"));
        }
        let (fam, rest) = strip_family(item)?;
        let (host, port) = split_host_port(rest)?;
        let port = match port {
            Some(p) if !p.is_empty() => p,
            _ => return Err(missing_port(rest, item)),
        };
        let (lo, hi) = port_range(port, item)?;
        let ip = if host.is_empty() || host == "*" {
            match fam {
                Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                Family::Any | Family::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            }
        } else {
            host_ip(fam, host, rest, lo, item, resolve)?
        };
        let count = usize::from(hi - lo) + 1;
        if out.len() + count > MAX_LISTENERS {
            return Err(format!(
                "too many addresses on one 'bind' line (at most {MAX_LISTENERS})"
            ));
        }
        out.extend((lo..=hi).map(|p| SocketAddr::new(ip, p)));
    }
    Ok(out)
}

/// Parses a `server` address: one host (literal or name) and a mandatory
/// port. Errors are phrased to follow "server NAME: ".
pub(super) fn parse_server(spec: &str, resolve: &Resolve<'_>) -> Result<SocketAddr, String> {
    let (fam, rest) = strip_family(spec)?;
    let (host, port) = split_host_port(rest)?;
    let port = match port {
        Some(p) if !p.is_empty() => p,
        _ => return Err(missing_port(rest, spec)),
    };
    if host.is_empty() || host == "*" {
        return Err(format!(
            "invalid address '{spec}': a host is required before the port"
        ));
    }
    if port.starts_with('+') || port.starts_with('-') {
        return Err(format!("relative port '{port}' is not supported"));
    }
    if port.contains('-') {
        return Err(format!(
            "port range '{port}' is not supported on a server address"
        ));
    }
    let port = parse_port(port, spec)?;
    let ip = host_ip(fam, host, rest, port, spec, resolve)?;
    Ok(SocketAddr::new(ip, port))
}

/// Parses an IP literal, with or without IPv6 brackets (`addr` option).
pub(super) fn parse_ip(s: &str) -> Option<IpAddr> {
    let inner = s.strip_prefix('[').and_then(|r| r.strip_suffix(']'));
    inner.unwrap_or(s).parse().ok()
}

/// Splits off a `family@` prefix. Only TCP over IPv4/IPv6 is supported, so
/// every other HAProxy family (`unix@`, `fd@`, `udp@`, ...) is refused by
/// name rather than misread as a host.
fn strip_family(spec: &str) -> Result<(Family, &str), String> {
    if spec.starts_with('/') {
        return Err(format!("UNIX socket address '{spec}' is not supported"));
    }
    let Some((prefix, rest)) = spec.split_once('@') else {
        return Ok((Family::Any, spec));
    };
    match prefix {
        "ipv4" | "tcp4" => Ok((Family::V4, rest)),
        "ipv6" | "tcp6" => Ok((Family::V6, rest)),
        "tcp" => Ok((Family::Any, rest)),
        _ => Err(format!(
            "address family '{prefix}@' is not supported (use ipv4@, ipv6@ or a plain address)"
        )),
    }
}

/// Splits `host:port` at the last colon, or `[host]:port`. The port is
/// `None` when absent; an empty port (`host:`) is returned as `Some("")`.
fn split_host_port(s: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("missing ']' in address '{s}'"))?;
        if after.is_empty() {
            return Ok((host, None));
        }
        return match after.strip_prefix(':') {
            Some(port) => Ok((host, Some(port))),
            None => Err(format!("unexpected '{after}' after ']' in address '{s}'")),
        };
    }
    Ok(match s.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (s, None),
    })
}

/// The error for an address without a port, with a hint for bare IPv6
/// addresses (whose last colon would be taken as the port separator).
fn missing_port(rest: &str, spec: &str) -> String {
    if rest.parse::<Ipv6Addr>().is_ok() {
        format!(
            "port is required in '{spec}' (an IPv6 address takes its port after the last \
             colon: '[{rest}]:PORT' or '{rest}:PORT')"
        )
    } else {
        format!("port is required in '{spec}' (expected [addr]:port)")
    }
}

/// Parses one port, 1..=65535 (port 0 would mean "any" to the kernel).
fn parse_port(p: &str, spec: &str) -> Result<u16, String> {
    let valid = !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    match p.parse::<u16>() {
        Ok(n) if valid && n > 0 => Ok(n),
        _ => Err(format!(
            "invalid port '{p}' in '{spec}' (expected 1 to 65535)"
        )),
    }
}

/// Parses `PORT` or `LOW-HIGH` with LOW <= HIGH.
fn port_range(p: &str, spec: &str) -> Result<(u16, u16), String> {
    let Some((lo, hi)) = p.split_once('-') else {
        let port = parse_port(p, spec)?;
        return Ok((port, port));
    };
    let (lo, hi) = (parse_port(lo, spec)?, parse_port(hi, spec)?);
    if lo > hi {
        return Err(format!(
            "invalid port range '{p}' in '{spec}' (start is after end)"
        ));
    }
    Ok((lo, hi))
}

/// Turns a non-wildcard host into an IP of the requested family: a literal
/// as is, anything that looks like a DNS name through `resolve`.
fn host_ip(
    fam: Family,
    host: &str,
    rest: &str,
    port: u16,
    spec: &str,
    resolve: &Resolve<'_>,
) -> Result<IpAddr, String> {
    let ip = match host.parse::<IpAddr>() {
        Ok(ip) => ip,
        Err(_) if rest.parse::<Ipv6Addr>().is_ok() => return Err(missing_port(rest, spec)),
        Err(_) if rest.starts_with('[') => {
            return Err(format!("invalid IP address '[{host}]' in '{spec}'"));
        }
        Err(_) if !is_hostname(host) => {
            return Err(format!("invalid address '{host}' in '{spec}'"));
        }
        Err(_) => resolve(host, port)
            .map_err(|e| format!("could not resolve address '{host}': {e}"))?
            .ip(),
    };
    match (fam, ip) {
        (Family::V4, IpAddr::V6(_)) => Err(format!("'{spec}' is not an IPv4 address")),
        (Family::V6, IpAddr::V4(_)) => Err(format!("'{spec}' is not an IPv6 address")),
        _ => Ok(ip),
    }
}

/// DNS-name syntax (letters, digits, `-`, `_`, `.`), checked before asking a
/// resolver so that typos like `1.2.3.4.5:80:x` get a clear message and
/// garbage never reaches the system resolver.
fn is_hostname(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
        match host {
            "db.local" => Ok(SocketAddr::from(([10, 0, 0, 5], port))),
            "v6.local" => Ok(SocketAddr::new("fd00::5".parse().unwrap(), port)),
            _ => Err("Name or service not known".into()),
        }
    }

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn bind_forms() {
        let cases: &[(&str, &[&str])] = &[
            (":80", &["0.0.0.0:80"]),
            ("*:80", &["0.0.0.0:80"]),
            ("0.0.0.0:80", &["0.0.0.0:80"]),
            ("127.0.0.1:8080", &["127.0.0.1:8080"]),
            ("[::]:80", &["[::]:80"]),
            ("[::1]:443", &["[::1]:443"]),
            (":::80", &["[::]:80"]),
            ("::1:80", &["[::1]:80"]),
            ("fe80::1:80", &["[fe80::1]:80"]),
            ("2001:db8::1:65535", &["[2001:db8::1]:65535"]),
            ("ipv4@:80", &["0.0.0.0:80"]),
            ("ipv6@:80", &["[::]:80"]),
            ("ipv6@*:80", &["[::]:80"]),
            ("ipv4@10.1.2.3:80", &["10.1.2.3:80"]),
            ("ipv6@[::1]:80", &["[::1]:80"]),
            ("tcp6@:::80", &["[::]:80"]),
            ("tcp@1.2.3.4:80", &["1.2.3.4:80"]),
            (":80,:443", &["0.0.0.0:80", "0.0.0.0:443"]),
            ("10.0.0.1:80,[::1]:81", &["10.0.0.1:80", "[::1]:81"]),
            (
                ":8000-8003",
                &[
                    "0.0.0.0:8000",
                    "0.0.0.0:8001",
                    "0.0.0.0:8002",
                    "0.0.0.0:8003",
                ],
            ),
            (":9-9", &["0.0.0.0:9"]),
            ("[::1]:1-2,:3", &["[::1]:1", "[::1]:2", "0.0.0.0:3"]),
            ("db.local:80", &["10.0.0.5:80"]),
            ("ipv6@v6.local:80", &["[fd00::5]:80"]),
        ];
        for (spec, want) in cases {
            let want: Vec<SocketAddr> = want.iter().map(|s| sa(s)).collect();
            assert_eq!(parse_bind(spec, &resolve), Ok(want), "spec {spec:?}");
        }
        assert_eq!(parse_bind(":1-65535", &resolve).map(|v| v.len()), Ok(65535));
    }

    #[test]
    fn bind_errors() {
        let cases: &[(&str, &str)] = &[
            ("", "empty address in list ''"),
            (":80,", "empty address in list ':80,'"),
            (",:80", "empty address"),
            ("1.2.3.4", "port is required in '1.2.3.4'"),
            ("1.2.3.4:", "port is required in '1.2.3.4:'"),
            ("::1", "an IPv6 address takes its port after the last colon"),
            ("2001:db8::", "an IPv6 address takes its port"),
            ("[::1]", "port is required in '[::1]'"),
            ("[::1", "missing ']'"),
            ("[::1]x:80", "unexpected 'x:80' after ']'"),
            (":0", "invalid port '0'"),
            (":65536", "invalid port '65536'"),
            (":http", "invalid port 'http'"),
            (":+80", "invalid port '+80'"),
            (":8003-8000", "invalid port range '8003-8000'"),
            (":80-", "invalid port ''"),
            (":-80", "invalid port ''"),
            ("1.2.3.256:80", "could not resolve address '1.2.3.256'"),
            ("1.2.3.4.5:80:x", "invalid port 'x'"),
            ("a b:80", "invalid address 'a b'"),
            ("[zz]:80", "invalid IP address '[zz]'"),
            ("ipv4@[::1]:80", "'ipv4@[::1]:80' is not an IPv4 address"),
            ("ipv6@1.2.3.4:80", "is not an IPv6 address"),
            ("ipv4@v6.local:80", "is not an IPv4 address"),
            (
                "unix@/run/x.sock",
                "address family 'unix@' is not supported",
            ),
            ("fd@3", "address family 'fd@' is not supported"),
            ("foo@:80", "address family 'foo@' is not supported"),
            ("/run/x.sock", "UNIX socket address"),
            (
                "nosuch.host:80",
                "could not resolve address 'nosuch.host': Name or service not known",
            ),
            (":1-65535,:1-2", "too many addresses on one 'bind' line"),
        ];
        for (spec, want) in cases {
            let err = parse_bind(spec, &resolve).expect_err(spec);
            assert!(err.contains(want), "spec {spec:?}: {err:?} lacks {want:?}");
        }
    }

    #[test]
    fn server_forms() {
        let cases: &[(&str, &str)] = &[
            ("10.0.0.1:80", "10.0.0.1:80"),
            ("[::1]:8080", "[::1]:8080"),
            ("::1:8080", "[::1]:8080"),
            ("ipv4@127.0.0.1:1", "127.0.0.1:1"),
            ("ipv6@[fd00::1]:22", "[fd00::1]:22"),
            ("db.local:5432", "10.0.0.5:5432"),
            ("v6.local:5432", "[fd00::5]:5432"),
        ];
        for (spec, want) in cases {
            assert_eq!(parse_server(spec, &resolve), Ok(sa(want)), "spec {spec:?}");
        }
    }

    #[test]
    fn server_errors() {
        let cases: &[(&str, &str)] = &[
            ("10.0.0.1", "port is required"),
            ("db.local", "port is required"),
            ("10.0.0.1:", "port is required"),
            ("::1", "port is required"),
            (":80", "a host is required"),
            ("*:80", "a host is required"),
            ("10.0.0.1:0", "invalid port '0'"),
            ("10.0.0.1:+1", "relative port '+1' is not supported"),
            ("10.0.0.1:-1", "relative port '-1'"),
            ("10.0.0.1:80-81", "port range '80-81' is not supported"),
            ("10.0.0.1:99999", "invalid port '99999'"),
            ("nosuch:80", "could not resolve address 'nosuch'"),
            ("ipv6@db.local:1", "is not an IPv6 address"),
            ("unix@/x", "'unix@' is not supported"),
            ("[::1:80", "missing ']'"),
        ];
        for (spec, want) in cases {
            let err = parse_server(spec, &resolve).expect_err(spec);
            assert!(err.contains(want), "spec {spec:?}: {err:?} lacks {want:?}");
        }
    }

    #[test]
    fn ip_literals() {
        assert_eq!(parse_ip("10.1.1.1"), Some(IpAddr::from([10, 1, 1, 1])));
        assert_eq!(parse_ip("[::1]"), Some(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        assert_eq!(parse_ip("::1"), Some(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        assert_eq!(parse_ip("host"), None);
        assert_eq!(parse_ip("[1.2.3.4"), None);
    }
}
