//! `server` and `default-server` lines.
//!
//! A server starts from the `default-server` options accumulated so far in
//! its section (themselves inherited from `defaults`), then applies its own
//! options left to right, so a later option overrides an earlier one and the
//! `no-*`/`enabled` forms undo a default. As in HAProxy, only
//! `default-server` lines written BEFORE a `server` line affect it.

use std::time::Duration;

use super::addr;
use super::args::{arg, check_name, int_in, u32_arg};
use super::proxy::Ctx;
use super::{CheckSettings, ProxyVersion, Server, time};

/// Server options that `default-server` can preset.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct ServerOpts {
    pub weight: u32,
    pub maxconn: Option<u32>,
    /// `send-proxy` and `send-proxy-v2` are separate flags; v2 wins when
    /// both are set, as in HAProxy.
    pub proxy_v1: bool,
    pub proxy_v2: bool,
    pub backup: bool,
    pub disabled: bool,
    pub check: bool,
    /// Check settings are kept (and validated) even without `check`, so that
    /// a `default-server inter 1s` applies to servers that enable checks.
    pub check_settings: CheckSettings,
    /// `pool-max-conn`: `None` = unlimited (-1).
    pub pool_max_conn: Option<u32>,
    pub pool_purge_delay: Duration,
}

impl Default for ServerOpts {
    fn default() -> Self {
        ServerOpts {
            weight: 1,
            maxconn: None,
            proxy_v1: false,
            proxy_v2: false,
            backup: false,
            disabled: false,
            check: false,
            check_settings: CheckSettings::default(),
            pool_max_conn: None,
            pool_purge_delay: DEFAULT_POOL_PURGE_DELAY,
        }
    }
}

/// HAProxy's default `pool-purge-delay`.
const DEFAULT_POOL_PURGE_DELAY: Duration = Duration::from_secs(5);

/// Most a server weight may be (HAProxy's SRV_UWGHT_MAX).
const MAX_WEIGHT: u64 = 256;

/// `server NAME ADDR [options...]`.
pub(super) fn server_line(ctx: &mut Ctx<'_>, w: &[String]) -> Result<(), String> {
    ctx.draft.server_lines += 1;
    let (Some(name), Some(spec)) = (arg(w, 1), arg(w, 2)) else {
        return Err("'server' expects <name> and <addr>[:<port>] as arguments".to_string());
    };
    check_name("server name", name)?;
    if let Some(prev) = ctx.draft.servers.iter().find(|s| s.name == name) {
        return Err(format!(
            "server '{name}' has the same name as another server of {} '{}' (declared at {})",
            ctx.draft.kind.word(),
            ctx.draft.name,
            prev.loc
        ));
    }
    let mut o = ctx.draft.s.default_server.clone();
    apply(&mut o, w.get(3..).unwrap_or_default(), false)
        .map_err(|e| format!("server {name}: {e}"))?;
    let addr = addr::parse_server(spec, ctx.resolve).map_err(|e| format!("server {name}: {e}"))?;
    let send_proxy = match (o.proxy_v2, o.proxy_v1) {
        (true, _) => Some(ProxyVersion::V2),
        (false, true) => Some(ProxyVersion::V1),
        (false, false) => None,
    };
    ctx.draft.servers.push(Server {
        name: name.to_string(),
        loc: ctx.loc.clone(),
        addr,
        weight: o.weight,
        maxconn: o.maxconn,
        send_proxy,
        backup: o.backup,
        disabled: o.disabled,
        check: o.check.then_some(o.check_settings),
        pool_max_conn: o.pool_max_conn,
        pool_purge_delay: o.pool_purge_delay,
    });
    Ok(())
}

/// `default-server [options...]`: presets for the following servers.
pub(super) fn default_server_line(ctx: &mut Ctx<'_>, w: &[String]) -> Result<(), String> {
    apply(
        &mut ctx.draft.s.default_server,
        w.get(1..).unwrap_or_default(),
        true,
    )
}

/// Applies server options from `words` to `o`, left to right.
/// `default_server` refuses the per-server `id`.
fn apply(o: &mut ServerOpts, words: &[String], default_server: bool) -> Result<(), String> {
    let line = if default_server {
        "default-server"
    } else {
        "server"
    };
    let mut i = 0;
    while let Some(kw) = words.get(i) {
        let value = arg(words, i + 1);
        let takes_value = option(o, kw, value, line)?;
        i += 1 + usize::from(takes_value);
    }
    Ok(())
}

/// Applies one option; returns whether it consumed `value`.
fn option(o: &mut ServerOpts, kw: &str, value: Option<&str>, line: &str) -> Result<bool, String> {
    let cs = &mut o.check_settings;
    match kw {
        "weight" => o.weight = int_in(kw, value, 0, MAX_WEIGHT).map(|n| n as u32)?,
        "maxconn" => o.maxconn = u32_arg(kw, value).map(|n| (n > 0).then_some(n))?,
        "inter" => cs.inter = positive_time(kw, value)?,
        "fastinter" => cs.fastinter = Some(positive_time(kw, value)?),
        "downinter" => cs.downinter = Some(positive_time(kw, value)?),
        "rise" => cs.rise = int_in(kw, value, 1, u64::from(u32::MAX)).map(|n| n as u32)?,
        "fall" => cs.fall = int_in(kw, value, 1, u64::from(u32::MAX)).map(|n| n as u32)?,
        "port" => cs.port = Some(int_in(kw, value, 1, 65535).map(|n| n as u16)?),
        "addr" => {
            let ip = value.and_then(addr::parse_ip);
            cs.addr = Some(ip.ok_or("'addr' expects an IPv4 or IPv6 address")?);
        }
        "pool-max-conn" => o.pool_max_conn = pool_max_conn(value)?,
        "pool-purge-delay" => {
            let v = value.ok_or("'pool-purge-delay' expects a time value (e.g. 5s)")?;
            o.pool_purge_delay =
                time::parse_duration(v).map_err(|e| format!("'pool-purge-delay': {e}"))?;
        }
        "id" if line == "server" => {
            // Accepted for compatibility; ringproxy has no numeric ids yet.
            int_in(kw, value, 1, i32::MAX as u64)?;
        }
        _ => return flag(o, kw, line).map(|()| false),
    }
    Ok(true)
}

/// Applies a valueless option (`backup`, `no-backup`, ...).
fn flag(o: &mut ServerOpts, kw: &str, line: &str) -> Result<(), String> {
    match kw {
        "send-proxy" => o.proxy_v1 = true,
        "send-proxy-v2" => o.proxy_v2 = true,
        "no-send-proxy" => o.proxy_v1 = false,
        "no-send-proxy-v2" => o.proxy_v2 = false,
        "backup" => o.backup = true,
        "no-backup" => o.backup = false,
        "disabled" => o.disabled = true,
        "enabled" => o.disabled = false,
        "check" => o.check = true,
        "no-check" => o.check = false,
        _ => return Err(format!("unknown keyword '{kw}' on {line} line")),
    }
    Ok(())
}

/// `pool-max-conn N`: -1 (unlimited) or a count.
fn pool_max_conn(value: Option<&str>) -> Result<Option<u32>, String> {
    match value {
        Some("-1") => Ok(None),
        Some(v) if v.starts_with('-') => Err(format!("'pool-max-conn' must be >= -1 (got {v})")),
        v => u32_arg("pool-max-conn", v).map(Some),
    }
}

/// A check interval: a time value above zero (HAProxy refuses 0).
fn positive_time(kw: &str, value: Option<&str>) -> Result<Duration, String> {
    let v = value.ok_or_else(|| format!("'{kw}' expects a time value (e.g. 2s)"))?;
    let d = time::parse_duration(v).map_err(|e| format!("'{kw}': {e}"))?;
    if d.is_zero() {
        return Err(format!("'{kw}' has to be > 0"));
    }
    Ok(d)
}
