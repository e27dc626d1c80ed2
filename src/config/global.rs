//! Keywords of the `global` section.
//!
//! Process settings only. A few keywords that are common in real
//! configurations and harmless to skip for a data plane are accepted with a
//! warning; every other keyword is an error, so that nothing a user relies
//! on is silently dropped.

use super::args::{arg, int_in, no_extra, u32_arg};
use super::{
    ApiLevel, Global, IdSpec, Loc, LogTargetSpec, StatsAddr, StatsSocket, addr, proxy, time,
};

/// Runs one `global` keyword line; warnings go to `warnings`.
pub(super) fn keyword(
    g: &mut Global,
    w: &[String],
    loc: &Loc,
    warnings: &mut Vec<String>,
) -> Result<(), String> {
    let kw = w.first().map(String::as_str).unwrap_or_default();
    if kw == "log" {
        return log(g, w, loc);
    }
    if kw == "stats" {
        return stats(g, w, loc, warnings);
    }
    if let Some(why) = ignored(kw) {
        warnings.push(format!("'{kw}' ignored: {why}"));
        return Ok(());
    }
    match kw {
        "nbthread" => g.nbthread = Some(int_in(kw, arg(w, 1), 1, 4096)? as usize),
        // HAProxy: 0 = computed from the fd limit, i.e. not set.
        "maxconn" => g.maxconn = Some(u32_arg(kw, arg(w, 1))?).filter(|&n| n > 0),
        "daemon" => g.daemon = true,
        "pidfile" => return pidfile(g, w, warnings),
        "tune.bufsize" => g.bufsize = int_in(kw, arg(w, 1), 1024, 1_048_576)? as usize,
        "tune.ring.buffers" => g.ring_buffers = ring_size(kw, arg(w, 1))?,
        "tune.ring.entries" => g.ring_entries = ring_size(kw, arg(w, 1))?,
        "hard-stop-after" => {
            let v = arg(w, 1).ok_or("'hard-stop-after' expects <time> as argument")?;
            let d = time::parse_duration(v).map_err(|e| format!("'hard-stop-after' : {e}"))?;
            g.hard_stop_after = Some(d);
        }
        _ => return Err(format!("unknown keyword '{kw}' in 'global' section")),
    }
    no_extra(w, if kw == "daemon" { 1 } else { 2 }, kw)
}

/// Why an accepted-but-ignored global keyword does nothing, or `None` when
/// the keyword is not one of them.
fn ignored(kw: &str) -> Option<&'static str> {
    Some(match kw {
        "user" | "group" | "uid" | "gid" => "ringproxy does not change its user or group",
        "chroot" => "ringproxy does not chroot",
        "ulimit-n" => "ringproxy does not raise its fd limit (set it with ulimit or LimitNOFILE=)",
        "description" | "node" => "only the statistics page uses it",
        _ => return None,
    })
}

/// `log TARGET...`: kept for the proxies' `log global` lines.
fn log(g: &mut Global, w: &[String], loc: &Loc) -> Result<(), String> {
    let words = w.get(1..).unwrap_or_default();
    if arg(w, 1) == Some("global") {
        return Err("'log global' is only valid in proxy sections".to_string());
    }
    proxy::check_log_target(words)?;
    g.logs.push(LogTargetSpec {
        words: words.to_vec(),
        loc: loc.clone(),
    });
    Ok(())
}

/// `pidfile PATH`; like HAProxy, a second one is reported and the first kept.
fn pidfile(g: &mut Global, w: &[String], warnings: &mut Vec<String>) -> Result<(), String> {
    let path = arg(w, 1).ok_or("'pidfile' expects a file name")?;
    no_extra(w, 2, "pidfile")?;
    match &g.pidfile {
        Some(first) => warnings.push(format!(
            "'pidfile' already specified ('{first}'), ignoring '{path}'"
        )),
        None => g.pidfile = Some(path.to_string()),
    }
    Ok(())
}

/// `tune.ring.*`: a power of two in 64..=32768 (io_uring ring sizes).
fn ring_size(kw: &str, v: Option<&str>) -> Result<u32, String> {
    let n = int_in(kw, v, 0, u64::from(u32::MAX))?;
    if !(64..=32768).contains(&n) || !n.is_power_of_two() {
        return Err(format!(
            "'{kw}' must be a power of two between 64 and 32768 (got {n})"
        ));
    }
    Ok(n as u32)
}

/// `stats socket|timeout|maxconn|bind-process ...` (HAProxy's
/// `cli_parse_global`, with its wording).
fn stats(
    g: &mut Global,
    w: &[String],
    loc: &Loc,
    warnings: &mut Vec<String>,
) -> Result<(), String> {
    match arg(w, 1).unwrap_or_default() {
        "socket" => {
            let s = stats_socket(w, loc, warnings)?;
            if let Some(prev) = g.stats_sockets.iter().find(|p| same_file(&p.addr, &s.addr)) {
                return Err(format!(
                    "'stats socket' : '{}' is already used by the 'stats socket' at {}",
                    s.addr, prev.loc
                ));
            }
            g.stats_sockets.push(s);
            Ok(())
        }
        "timeout" => {
            let v = arg(w, 2).unwrap_or_default();
            let d = time::parse_duration(v).map_err(|e| format!("'stats timeout' : {e}"))?;
            if d.is_zero() {
                return Err("'stats timeout' expects a positive value".to_string());
            }
            g.stats_timeout = d;
            no_extra(w, 3, "stats timeout")
        }
        "maxconn" => {
            let n = int_in("stats maxconn", arg(w, 2), 1, u64::from(u32::MAX))
                .map_err(|_| "'stats maxconn' expects a positive value".to_string())?;
            g.stats_maxconn = n as u32;
            no_extra(w, 3, "stats maxconn")
        }
        "bind-process" => {
            warnings.push("'stats bind-process' ignored: ringproxy runs one process".to_string());
            Ok(())
        }
        other => Err(format!(
            "'stats' only supports 'socket', 'maxconn', 'bind-process' and 'timeout' (got '{other}')"
        )),
    }
}

/// Two sockets that would be the same file (or abstract name): the second
/// would remove the first one's file at startup. The same `fd@N` twice is
/// refused with the binds' (`build::inherited_fds_used_once`).
fn same_file(a: &StatsAddr, b: &StatsAddr) -> bool {
    match (a, b) {
        (StatsAddr::Unix(x), StatsAddr::Unix(y)) => x == y,
        (StatsAddr::Abstract(x), StatsAddr::Abstract(y)) => x == y,
        (StatsAddr::Tcp(x), StatsAddr::Tcp(y)) => x == y,
        _ => false,
    }
}

/// `stats socket ADDR [bind options]`.
fn stats_socket(
    w: &[String],
    loc: &Loc,
    warnings: &mut Vec<String>,
) -> Result<StatsSocket, String> {
    let spec = arg(w, 2)
        .ok_or("'stats socket' in global section expects an address or a path to a UNIX socket")?;
    let addr = stats_addr(spec).map_err(|e| format!("'stats socket' : {e}"))?;
    let mut s = StatsSocket {
        addr,
        mode: None,
        level: ApiLevel::Operator,
        owner: None,
        group: None,
        expose_fd_listeners: false,
        loc: loc.clone(),
    };
    let mut i = 3;
    while let Some(kw) = w.get(i).map(String::as_str) {
        let value = arg(w, i + 1);
        bind_option(&mut s, kw, value).map_err(|e| format!("'stats socket' : {e}"))?;
        i += 2;
    }
    let unix = matches!(s.addr, StatsAddr::Unix(_));
    if !unix && (s.mode.is_some() || s.owner.is_some() || s.group.is_some()) {
        warnings.push(format!(
            "'stats socket' : 'mode', 'user' and 'group' only apply to UNIX socket files, ignored for '{}'",
            s.addr
        ));
    }
    Ok(s)
}

/// One bind option of a `stats socket` line; all of them take a value.
fn bind_option(s: &mut StatsSocket, kw: &str, value: Option<&str>) -> Result<(), String> {
    match kw {
        "level" => {
            s.level = match value {
                None => return Err("'level' : missing level".to_string()),
                Some("user") => ApiLevel::User,
                Some("operator") => ApiLevel::Operator,
                Some("admin") => ApiLevel::Admin,
                Some(v) => {
                    return Err(format!(
                        "'level' only supports 'user', 'operator', and 'admin' (got '{v}')"
                    ));
                }
            }
        }
        "mode" => {
            let v = value.unwrap_or_default();
            let mode = u32::from_str_radix(v, 8).ok().filter(|m| *m <= 0o7777);
            s.mode = Some(mode.ok_or_else(|| {
                format!("'mode' : missing or invalid mode '{v}' (octal integer expected)")
            })?);
        }
        "user" | "group" => {
            let v = value.ok_or_else(|| format!("'{kw}' : missing {kw} name"))?;
            let id = Some(IdSpec::Name(v.to_string()));
            if kw == "user" {
                s.owner = id
            } else {
                s.group = id
            }
        }
        "uid" | "gid" => {
            let v = value.unwrap_or_default();
            let n = v
                .parse::<u32>()
                .map_err(|_| format!("'{kw}' : missing or invalid {kw} '{v}'"))?;
            let id = Some(IdSpec::Id(n));
            if kw == "uid" {
                s.owner = id
            } else {
                s.group = id
            }
        }
        "expose-fd" => match value {
            None => return Err("'expose-fd' : missing fd type".to_string()),
            Some("listeners") => s.expose_fd_listeners = true,
            Some(v) => return Err(format!("'expose-fd' only supports 'listeners' (got '{v}')")),
        },
        _ => return Err(format!("unknown keyword '{kw}'.")),
    }
    Ok(())
}

/// A `stats socket` address: a UNIX path (`/path`, `unix@path`), an
/// abstract socket (`abns@name`) or one TCP address (literal IP, optional
/// `ipv4@`/`ipv6@`/`tcp@` prefix) or an inherited listening socket
/// (`fd@N`). `sockpair@` and the datagram families are refused by name.
fn stats_addr(spec: &str) -> Result<StatsAddr, String> {
    if spec.starts_with('/') {
        return Ok(StatsAddr::Unix(spec.to_string()));
    }
    if let Some((family, rest)) = spec.split_once('@') {
        match family {
            "unix" if !rest.is_empty() => return Ok(StatsAddr::Unix(rest.to_string())),
            "abns" if !rest.is_empty() => return Ok(StatsAddr::Abstract(rest.to_string())),
            "unix" | "abns" => return Err(format!("missing path in '{spec}'")),
            "fd" => return proxy::inherited_fd(rest).map(StatsAddr::Fd),
            "ipv4" | "ipv6" | "tcp" | "tcp4" | "tcp6" => {}
            _ => {
                return Err(format!(
                    "address family '{family}@' is not supported for the runtime API \
                     (use a path, unix@, abns@, ipv4@, ipv6@ or fd@)"
                ));
            }
        }
    }
    let no_names = |host: &str, _: u16| -> Result<std::net::SocketAddr, String> {
        Err(format!(
            "host names are not supported here ('{host}'): use an IP address"
        ))
    };
    let addrs = addr::parse_bind(spec, &no_names)?;
    match addrs.as_slice() {
        [one] => Ok(StatsAddr::Tcp(*one)),
        _ => Err(format!("'{spec}' must be exactly one address and port")),
    }
}
