//! Keywords of the `global` section.
//!
//! Process settings only. A few keywords that are common in real
//! configurations and harmless to skip for a data plane are accepted with a
//! warning; every other keyword is an error, so that nothing a user relies
//! on is silently dropped.

use super::args::{arg, int_in, no_extra, u32_arg};
use super::{Global, Loc, LogTargetSpec, proxy};

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
        "stats" => "the runtime API comes in a later version",
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
