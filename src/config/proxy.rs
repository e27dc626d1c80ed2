//! Keywords of `defaults`, `frontend`, `backend` and `listen` sections.
//!
//! Each keyword has the section applicability of HAProxy's keyword matrix; a
//! keyword in a section where it means nothing is an error (stricter than
//! HAProxy, which often only warns), except timeouts, which warn as HAProxy
//! does. Names of backends are only recorded here; `build` resolves them.

use std::time::Duration;

use super::addr::{self, Resolve};
use super::args::{arg, i32_arg, int_in, no_extra, u32_arg};
use super::parser::{Draft, Kind};
use super::{Balance, Bind, Loc, Mode, Timeouts, server, time};

/// What a keyword handler may touch: its section and the line's location.
/// Warnings are collected as text; the parser attaches the location.
pub(super) struct Ctx<'a> {
    pub draft: &'a mut Draft,
    pub loc: &'a Loc,
    pub resolve: &'a Resolve<'a>,
    pub warnings: Vec<String>,
    /// Listeners declared so far by the whole configuration (see
    /// `addr::MAX_LISTENERS`).
    pub listeners: &'a mut usize,
}

type Handler = fn(&mut Ctx<'_>, &[String]) -> Result<(), String>;

// Section bits for the applicability masks.
pub(super) const DEF: u8 = 1;
pub(super) const FE: u8 = 2;
pub(super) const BE: u8 = 4;
pub(super) const LI: u8 = 8;
const ALL: u8 = DEF | FE | BE | LI;

/// Every proxy-section keyword with the sections it is allowed in.
const KEYWORDS: &[(&str, u8, Handler)] = &[
    ("mode", ALL, mode),
    ("bind", FE | LI, bind),
    ("maxconn", DEF | FE | LI, maxconn),
    ("timeout", ALL, timeout),
    ("default_backend", DEF | FE | LI, default_backend),
    ("use_backend", FE | LI, use_backend),
    ("balance", DEF | BE | LI, balance),
    ("retries", DEF | BE | LI, retries),
    ("option", ALL, option),
    ("no", ALL, no),
    ("log", ALL, log),
    ("server", BE | LI, server::server_line),
    ("default-server", DEF | BE | LI, server::default_server_line),
    ("contimeout", ALL, old_timeout),
    ("clitimeout", ALL, old_timeout),
    ("srvtimeout", ALL, old_timeout),
];

pub(super) fn bit(kind: Kind) -> u8 {
    match kind {
        Kind::Defaults => DEF,
        Kind::Frontend => FE,
        Kind::Backend => BE,
        Kind::Listen => LI,
    }
}

/// Checks that `what` may appear in the current section.
pub(super) fn allowed(ctx: &Ctx<'_>, what: &str, mask: u8) -> Result<(), String> {
    let kind = ctx.draft.kind;
    if mask & bit(kind) == 0 {
        return Err(format!(
            "'{what}' is not supported in a '{}' section",
            kind.word()
        ));
    }
    Ok(())
}

/// Runs one keyword line (`words[0]` is the keyword) in a proxy section.
pub(super) fn keyword(ctx: &mut Ctx<'_>, words: &[String]) -> Result<(), String> {
    let kw = words.first().map(String::as_str).unwrap_or_default();
    let Some(&(_, mask, handler)) = KEYWORDS.iter().find(|k| k.0 == kw) else {
        return Err(format!(
            "unknown keyword '{kw}' in '{}' section",
            ctx.draft.kind.word()
        ));
    };
    allowed(ctx, kw, mask)?;
    handler(ctx, words)
}

fn mode(ctx: &mut Ctx<'_>, w: &[String]) -> Result<(), String> {
    ctx.draft.s.mode = match arg(w, 1) {
        Some("tcp") => Mode::Tcp,
        Some("http") => Mode::Http,
        Some(other) => {
            return Err(format!(
                "'mode' expects one of 'tcp' or 'http', got '{other}'"
            ));
        }
        None => return Err("'mode' expects one of 'tcp' or 'http'".to_string()),
    };
    no_extra(w, 2, "mode")
}

/// `bind ADDR [accept-proxy] [name NAME] [v6only]`: one `Bind` per address
/// and port of ADDR, all sharing the line's options.
fn bind(ctx: &mut Ctx<'_>, w: &[String]) -> Result<(), String> {
    ctx.draft.bind_lines += 1;
    let spec = arg(w, 1).ok_or("'bind' expects [addr]:port[-end][,...] as its first argument")?;
    let addrs = addr::parse_bind(spec, ctx.resolve)?;
    *ctx.listeners = ctx.listeners.saturating_add(addrs.len());
    if *ctx.listeners > addr::MAX_LISTENERS {
        return Err(format!(
            "too many listeners: the configuration declares more than {} bind addresses",
            addr::MAX_LISTENERS
        ));
    }
    let (mut accept_proxy, mut v6only, mut name) = (false, false, None);
    let mut i = 2;
    while let Some(opt) = w.get(i) {
        match opt.as_str() {
            "accept-proxy" => accept_proxy = true,
            "v6only" => v6only = true,
            "name" => {
                name = Some(arg(w, i + 1).ok_or("'name' on 'bind' line expects a name")?);
                i += 1;
            }
            other => return Err(format!("unknown keyword '{other}' on 'bind' line")),
        }
        i += 1;
    }
    for addr in addrs {
        ctx.draft.binds.push(Bind {
            addr,
            accept_proxy,
            name: name.map_or_else(|| addr.to_string(), str::to_string),
            v6only: v6only && addr.is_ipv6(),
            loc: ctx.loc.clone(),
        });
    }
    Ok(())
}

/// `maxconn N`; 0 means "not set" as in HAProxy (the global limit applies).
fn maxconn(ctx: &mut Ctx<'_>, w: &[String]) -> Result<(), String> {
    let n = u32_arg("maxconn", arg(w, 1))?;
    no_extra(w, 2, "maxconn")?;
    ctx.draft.s.maxconn = (n > 0).then_some(n);
    Ok(())
}

/// Which side of a proxy reads a timeout (HAProxy's capability for it).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Front,
    Back,
    Both,
}

const TIMEOUT_NAMES: &str = "'client', 'client-hs', 'client-fin', 'server', 'server-fin', \
                             'connect', 'queue', 'tunnel', 'check', 'http-request' and 'http-keep-alive'";

/// The field and side of `timeout NAME`, if ringproxy knows it.
fn timeout_slot<'t>(t: &'t mut Timeouts, name: &str) -> Option<(&'t mut Option<Duration>, Side)> {
    Some(match name {
        "client" => (&mut t.client, Side::Front),
        "client-hs" => (&mut t.client_hs, Side::Front),
        "client-fin" => (&mut t.client_fin, Side::Front),
        "http-request" => (&mut t.http_request, Side::Both),
        "http-keep-alive" => (&mut t.http_keep_alive, Side::Both),
        "connect" => (&mut t.connect, Side::Back),
        "server" => (&mut t.server, Side::Back),
        "server-fin" => (&mut t.server_fin, Side::Back),
        "queue" => (&mut t.queue, Side::Back),
        "tunnel" => (&mut t.tunnel, Side::Back),
        "check" => (&mut t.check, Side::Back),
        _ => return None,
    })
}

/// `timeout NAME VALUE`. A zero value unsets the timeout: in HAProxy 0 is
/// the "eternity" tick, i.e. no timeout. A timeout for the side the proxy
/// lacks is ignored with HAProxy's warning.
fn timeout(ctx: &mut Ctx<'_>, w: &[String]) -> Result<(), String> {
    let Some(name) = arg(w, 1) else {
        return Err(format!(
            "'timeout' expects {TIMEOUT_NAMES} followed by a time value"
        ));
    };
    let kw = format!("timeout {name}");
    let draft = &mut *ctx.draft;
    let kind = draft.kind;
    let Some((slot, side)) = timeout_slot(&mut draft.s.timeouts, name) else {
        if name == "tarpit" {
            ctx.warnings
                .push("'timeout tarpit' ignored: tarpit is not supported".to_string());
            return Ok(());
        }
        return Err(format!("'timeout' supports {TIMEOUT_NAMES} (got '{name}')"));
    };
    let value = arg(w, 2).ok_or_else(|| format!("'{kw}' expects a time value (e.g. 30s)"))?;
    let d = time::parse_duration(value).map_err(|e| format!("'{kw}': {e}"))?;
    no_extra(w, 3, &kw)?;
    let missing = match side {
        Side::Front if !kind.has_fe() => Some("frontend"),
        Side::Back if !kind.has_be() => Some("backend"),
        _ => None,
    };
    if let Some(cap) = missing {
        let msg = format!(
            "'{kw}' will be ignored because {} '{}' has no {cap} capability",
            kind.word(),
            draft.name
        );
        ctx.warnings.push(msg);
        return Ok(());
    }
    *slot = (!d.is_zero()).then_some(d);
    Ok(())
}

/// The pre-2.1 timeout keywords HAProxy itself no longer accepts.
fn old_timeout(_: &mut Ctx<'_>, w: &[String]) -> Result<(), String> {
    let kw = w.first().map(String::as_str).unwrap_or_default();
    let new = match kw {
        "contimeout" => "timeout connect",
        "clitimeout" => "timeout client",
        _ => "timeout server",
    };
    Err(format!(
        "'{kw}' is not supported anymore since HAProxy 2.1; use '{new}'"
    ))
}

fn default_backend(ctx: &mut Ctx<'_>, w: &[String]) -> Result<(), String> {
    let name = arg(w, 1).ok_or("'default_backend' expects a backend name")?;
    no_extra(w, 2, "default_backend")?;
    ctx.draft.s.default_backend = Some((name.to_string(), ctx.loc.clone()));
    Ok(())
}

/// `use_backend NAME`: only unconditional rules until ACLs exist.
fn use_backend(ctx: &mut Ctx<'_>, w: &[String]) -> Result<(), String> {
    let name = arg(w, 1).ok_or("'use_backend' expects a backend name")?;
    if matches!(arg(w, 2), Some("if" | "unless")) {
        return Err("conditions on 'use_backend' are not supported yet".to_string());
    }
    no_extra(w, 2, "use_backend")?;
    ctx.draft
        .use_backends
        .push((name.to_string(), ctx.loc.clone()));
    Ok(())
}

fn balance(ctx: &mut Ctx<'_>, w: &[String]) -> Result<(), String> {
    let algo = arg(w, 1)
        .ok_or("'balance' expects an algorithm (roundrobin, leastconn, source or random)")?;
    ctx.draft.s.balance = match algo {
        "roundrobin" => Balance::RoundRobin,
        "leastconn" => Balance::LeastConn,
        "source" => Balance::Source,
        a if a == "random" || a.starts_with("random(") => random_draws(a)?,
        other => {
            return Err(format!(
                "balance algorithm '{other}' is not supported (supported: roundrobin, leastconn, \
                 source, random)"
            ));
        }
    };
    no_extra(w, 2, "balance")
}

/// `random` (2 draws, HAProxy's default) or `random(N)` with N >= 1.
fn random_draws(algo: &str) -> Result<Balance, String> {
    let inner = match algo.strip_prefix("random") {
        Some("") => return Ok(Balance::Random { draws: 2 }),
        Some(rest) => rest.strip_prefix('(').and_then(|r| r.strip_suffix(')')),
        None => None,
    };
    let inner = inner
        .ok_or_else(|| format!("invalid balance algorithm '{algo}' (expected random(<draws>))"))?;
    let draws = int_in(
        "balance random(<draws>)",
        Some(inner),
        1,
        u64::from(u32::MAX),
    )?;
    Ok(Balance::Random {
        draws: u32::try_from(draws).unwrap_or(u32::MAX),
    })
}

fn retries(ctx: &mut Ctx<'_>, w: &[String]) -> Result<(), String> {
    ctx.draft.s.retries = u32_arg("retries", arg(w, 1))?;
    no_extra(w, 2, "retries")
}

fn option(ctx: &mut Ctx<'_>, w: &[String]) -> Result<(), String> {
    set_option(ctx, w.get(1..).unwrap_or_default(), false)
}

/// `no option NAME` and `no log`; other `no` forms do not exist here.
fn no(ctx: &mut Ctx<'_>, w: &[String]) -> Result<(), String> {
    match w.get(1).map(String::as_str) {
        Some("option") => set_option(ctx, w.get(2..).unwrap_or_default(), true),
        Some("log") => log(ctx, w),
        _ => Err("'no' expects 'option' or 'log'".to_string()),
    }
}

/// Applies `option NAME [ARGS]` (`rest` starts at NAME), negated by `no`.
///
/// Logging and keep-alive options are accepted and ignored with a warning
/// (rejecting them would reject nearly every existing configuration);
/// splicing options are ignored silently: ringproxy always splices where it
/// helps.
fn set_option(ctx: &mut Ctx<'_>, rest: &[String], negated: bool) -> Result<(), String> {
    let name = arg(rest, 0).ok_or("'option' expects an option name")?;
    let kw = format!("option {name}");
    match name {
        "redispatch" => {
            allowed(ctx, &kw, DEF | BE | LI)?;
            // HAProxy: bare = -1 (last retry); an interval of 0 disables.
            let interval = match arg(rest, 1) {
                Some(v) if !negated => {
                    no_extra(rest, 2, &kw)?;
                    i32_arg(&kw, v)?
                }
                _ => {
                    no_extra(rest, 1, &kw)?;
                    if negated { 0 } else { -1 }
                }
            };
            ctx.draft.s.redispatch = (interval != 0).then_some(interval);
        }
        "allbackups" => {
            allowed(ctx, &kw, DEF | BE | LI)?;
            no_extra(rest, 1, &kw)?;
            ctx.draft.s.allbackups = !negated;
        }
        "tcplog" | "httplog" | "dontlognull" => {
            ctx.warnings
                .push(format!("'{kw}' ignored: logging comes in a later version"));
        }
        "splice-auto" | "splice-request" | "splice-response" => no_extra(rest, 1, &kw)?,
        "tcpka" | "clitcpka" | "srvtcpka" => {
            no_extra(rest, 1, &kw)?;
            ctx.warnings.push(format!(
                "'{kw}' ignored: TCP keep-alive is not configurable yet"
            ));
        }
        other => return Err(format!("unknown option '{other}'")),
    }
    Ok(())
}

/// `log ...` and `no log`: accepted so that existing configurations load.
fn log(ctx: &mut Ctx<'_>, _: &[String]) -> Result<(), String> {
    ctx.warnings
        .push("'log' ignored: logging comes in a later version".to_string());
    Ok(())
}
