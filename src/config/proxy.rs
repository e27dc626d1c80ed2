//! Keywords of `defaults`, `frontend`, `backend` and `listen` sections.
//!
//! Each keyword has the section applicability of HAProxy's keyword matrix; a
//! keyword in a section where it means nothing is an error (stricter than
//! HAProxy, which often only warns), except timeouts, which warn as HAProxy
//! does. Names of backends are only recorded here; `build` resolves them.

use std::sync::Arc;
use std::time::Duration;

use super::ListenOn;
use super::addr::{self, Resolve};
use super::args::{arg, i32_arg, int_in, no_extra, u32_arg};
use super::parser::{Draft, Kind};
use super::{
    Balance, Bind, ForwardFor, HttpConnMode, HttpReuse, Loc, LogStyle, LogTargetSpec, Mode,
    ReadFile, Timeouts, check, server, services, time,
};
use crate::http::{self, Acl, ERRORFILE_CODES, IpNet, ParseCx};

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
    /// The global section's `log` lines so far (`log global` copies them).
    pub global_logs: &'a [LogTargetSpec],
    /// Reads files named by `errorfile`, `return file`, `acl -f`.
    pub read: &'a ReadFile<'a>,
    /// `tune.bufsize` as set so far.
    pub bufsize: usize,
    /// Stick tables declared and referred to so far.
    pub tables: &'a mut super::stick::TableRefs,
}

/// Runs an `http` parser with the proxy's ACLs, keeping its warnings.
pub(super) fn with_pcx<R>(ctx: &mut Ctx<'_>, f: impl FnOnce(&mut ParseCx<'_>) -> R) -> R {
    let mut p = ParseCx {
        read_file: ctx.read,
        bufsize: ctx.bufsize,
        acls: &ctx.draft.acls,
        tables: ctx.tables,
        warnings: Vec::new(),
    };
    let result = f(&mut p);
    let warnings = p.warnings;
    ctx.warnings.extend(warnings);
    result
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
    ("acl", FE | BE | LI, acl),
    ("http-request", FE | BE | LI, http_rule),
    ("http-response", FE | BE | LI, http_rule),
    ("http-reuse", DEF | BE | LI, http_reuse),
    ("stick-table", FE | BE | LI, stick_table),
    ("tcp-request", FE | BE | LI, tcp_request),
    ("stick", BE | LI, stick),
    ("errorfile", ALL, errorfile),
    ("http-check", DEF | BE | LI, check::http_check),
    ("server", BE | LI, server::server_line),
    ("default-server", DEF | BE | LI, server::default_server_line),
    ("contimeout", ALL, old_timeout),
    ("clitimeout", ALL, old_timeout),
    ("srvtimeout", ALL, old_timeout),
    ("stats", services::STATS_SECTIONS, services::stats),
    (
        "monitor-uri",
        services::MONITOR_URI_SECTIONS,
        services::monitor_uri,
    ),
    ("monitor", services::MONITOR_SECTIONS, services::monitor),
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
    let addrs = match spec.strip_prefix("fd@") {
        Some(n) => vec![ListenOn::Fd(inherited_fd(n)?)],
        None => addr::parse_bind(spec, ctx.resolve)?
            .into_iter()
            .map(ListenOn::Addr)
            .collect(),
    };
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
    for on in addrs {
        let ipv6 = matches!(on, ListenOn::Addr(a) if a.is_ipv6());
        ctx.draft.binds.push(Bind {
            on,
            accept_proxy,
            name: name.map_or_else(|| on.to_string(), str::to_string),
            v6only: v6only && ipv6,
            loc: ctx.loc.clone(),
        });
    }
    Ok(())
}

/// The N of `fd@N`: a file descriptor number the process inherited (0, 1
/// and 2 are stdin, stdout and stderr, never listeners).
pub(super) fn inherited_fd(n: &str) -> Result<i32, String> {
    match n.parse::<i32>() {
        Ok(fd) if fd > 2 => Ok(fd),
        _ => Err(format!(
            "'fd@{n}': expects an inherited file descriptor number above 2"
        )),
    }
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

/// `use_backend NAME [if|unless COND]`.
fn use_backend(ctx: &mut Ctx<'_>, w: &[String]) -> Result<(), String> {
    let name = arg(w, 1).ok_or("'use_backend' expects a backend name")?;
    if name.contains("%[") {
        return Err("dynamic 'use_backend' names (log-format) are not supported yet".to_string());
    }
    let cond = match arg(w, 2) {
        Some("if" | "unless") => {
            let rest = w.get(2..).unwrap_or_default();
            let cond = with_pcx(ctx, |p| {
                http::parse_condition(rest, http::Side::Request, "use_backend rules", p)
            })
            .map_err(|e| format!("error detected while parsing switching rule : {e}"))?;
            Some(cond)
        }
        _ => {
            no_extra(w, 2, "use_backend")?;
            None
        }
    };
    ctx.draft
        .use_backends
        .push((name.to_string(), ctx.loc.clone(), cond));
    Ok(())
}

/// `acl NAME CRITERION [FLAGS] [PATTERNS]`: lines with the same name are
/// OR-ed into one ACL.
fn acl(ctx: &mut Ctx<'_>, w: &[String]) -> Result<(), String> {
    let (name, expr) = with_pcx(ctx, |p| http::parse_acl_line(w, p))?;
    let existing = ctx
        .draft
        .acls
        .iter_mut()
        .find(|a| a.name.as_deref() == Some(name.as_str()));
    match existing {
        Some(acl) => Arc::make_mut(acl).exprs.push(expr),
        None => ctx.draft.acls.push(Arc::new(Acl {
            name: Some(name),
            exprs: vec![expr],
        })),
    }
    Ok(())
}

/// `http-request ...` / `http-response ...`.
fn http_rule(ctx: &mut Ctx<'_>, w: &[String]) -> Result<(), String> {
    let response = w.first().is_some_and(|k| k == "http-response");
    let side = if response {
        http::Side::Response
    } else {
        http::Side::Request
    };
    let loc = ctx.loc;
    let rule = with_pcx(ctx, |p| http::parse_http_rule(w, side, loc, p))?;
    if response {
        ctx.draft.http_response.push(rule);
    } else {
        ctx.draft.http_request.push(rule);
    }
    Ok(())
}

/// `http-reuse never|safe|aggressive|always`.
fn http_reuse(ctx: &mut Ctx<'_>, w: &[String]) -> Result<(), String> {
    const EXPECTS: &str = "'http-reuse' expects one of 'never', 'safe', 'aggressive' or 'always'";
    ctx.draft.s.http_reuse = match arg(w, 1) {
        Some("never") => HttpReuse::Never,
        Some("safe") => HttpReuse::Safe,
        Some("aggressive") => HttpReuse::Aggressive,
        Some("always") => HttpReuse::Always,
        Some(other) => return Err(format!("{EXPECTS}, got '{other}'")),
        None => return Err(EXPECTS.to_string()),
    };
    no_extra(w, 2, "http-reuse")
}

/// `errorfile CODE FILE`: the file is read and checked now, as HAProxy does.
fn errorfile(ctx: &mut Ctx<'_>, w: &[String]) -> Result<(), String> {
    let (Some(code), Some(file)) = (arg(w, 1), arg(w, 2)) else {
        return Err("errorfile : expects <status_code> and <file> as arguments".to_string());
    };
    no_extra(w, 3, "errorfile")?;
    let code = code
        .parse::<u16>()
        .ok()
        .filter(|c| ERRORFILE_CODES.contains(c))
        .ok_or_else(|| format!("errorfile : status code '{code}' not handled"))?;
    let bytes =
        (ctx.read)(file).map_err(|e| format!("errorfile : error opening file '{file}' ({e})"))?;
    let e = http::parse_errorfile(code, file, bytes, ctx.bufsize, &mut ctx.warnings)
        .map_err(|e| format!("errorfile : {e}"))?;
    ctx.draft.s.errorfiles.push(e);
    Ok(())
}

fn balance(ctx: &mut Ctx<'_>, w: &[String]) -> Result<(), String> {
    let algo = arg(w, 1).ok_or(
        "'balance' expects an algorithm (roundrobin, leastconn, source, random, uri or hdr(<name>))",
    )?;
    ctx.draft.s.balance = match algo {
        "roundrobin" => Balance::RoundRobin,
        "leastconn" => Balance::LeastConn,
        "source" => Balance::Source,
        a if a == "random" || a.starts_with("random(") => random_draws(a)?,
        "uri" => {
            ctx.draft.s.balance = balance_uri(w)?;
            return Ok(());
        }
        a if a.starts_with("hdr(") => {
            ctx.draft.s.balance = balance_hdr(a, w)?;
            return Ok(());
        }
        other => {
            return Err(format!(
                "balance algorithm '{other}' is not supported (supported: roundrobin, leastconn, \
                 source, random, uri, hdr(<name>))"
            ));
        }
    };
    no_extra(w, 2, "balance")
}

/// `balance uri [len N] [depth N] [whole] [path-only]` (HAProxy's messages).
fn balance_uri(w: &[String]) -> Result<Balance, String> {
    let (mut whole, mut path_only, mut len, mut depth) = (false, false, None, None);
    let mut i = 2;
    while let Some(opt) = w.get(i).map(String::as_str) {
        match opt {
            "len" | "depth" => {
                let v = arg(w, i + 1).unwrap_or_default();
                let n = v.parse::<u32>().ok().filter(|&n| n > 0).ok_or_else(|| {
                    format!("uri : '{opt}' expects a positive integer (got '{v}')")
                })?;
                if opt == "len" {
                    len = Some(n);
                } else {
                    depth = Some(n);
                }
                i += 2;
            }
            "whole" => {
                whole = true;
                i += 1;
            }
            "path-only" => {
                path_only = true;
                i += 1;
            }
            other => {
                return Err(format!(
                    "uri only accepts parameters 'len', 'depth', 'path-only', and 'whole' (got '{other}')"
                ));
            }
        }
    }
    Ok(Balance::Uri {
        whole,
        path_only,
        len,
        depth,
    })
}

/// `balance hdr(NAME) [use_domain_only]`.
fn balance_hdr(algo: &str, w: &[String]) -> Result<Balance, String> {
    let name = algo
        .strip_prefix("hdr(")
        .and_then(|r| r.strip_suffix(')'))
        .filter(|n| !n.is_empty() && n.bytes().all(is_token))
        .ok_or("hdr requires an http header field name")?;
    let use_domain_only = match arg(w, 2) {
        None => false,
        Some("use_domain_only") => true,
        Some(other) => {
            return Err(format!(
                "{algo} only accepts 'use_domain_only' modifier (got '{other}')"
            ));
        }
    };
    no_extra(w, if use_domain_only { 3 } else { 2 }, "balance")?;
    Ok(Balance::Hdr {
        name: name.to_string(),
        use_domain_only,
    })
}

/// HTTP token characters (RFC 9110 `tchar`): header names, methods.
pub(super) fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
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
/// TCP keep-alive options are accepted and ignored with a warning
/// (rejecting them would reject many existing configurations); splicing
/// options are ignored silently: ringproxy always splices where it helps.
fn set_option(ctx: &mut Ctx<'_>, rest: &[String], negated: bool) -> Result<(), String> {
    let name = arg(rest, 0).ok_or("'option' expects an option name")?;
    let kw = format!("option {name}");
    // HAProxy: these options take arguments, so no `no` form.
    if negated && matches!(name, "tcplog" | "httplog" | "forwardfor") {
        return Err(format!(
            "negation/default is not supported for option '{name}'"
        ));
    }
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
        "tcplog" | "httplog" => {
            allowed(ctx, &kw, DEF | FE | LI)?;
            let style = match (name, arg(rest, 1)) {
                ("tcplog", _) => {
                    no_extra(rest, 1, &kw)?;
                    LogStyle::Tcp
                }
                (_, None) => LogStyle::Http,
                (_, Some("clf")) => {
                    no_extra(rest, 2, &kw)?;
                    LogStyle::HttpClf
                }
                (_, Some(_)) => {
                    return Err("keyword 'httplog' only supports option 'clf'".to_string());
                }
            };
            if ctx.draft.kind == Kind::Defaults
                && let Some((prev, _)) = &ctx.draft.s.log_style
            {
                let prev = match prev {
                    LogStyle::Tcp => "option tcplog",
                    LogStyle::Http => "option httplog",
                    LogStyle::HttpClf => "option httplog clf",
                };
                ctx.warnings.push(format!(
                    "'{kw}' overrides previous '{prev}' in 'defaults' section"
                ));
            }
            ctx.draft.s.log_style = Some((style, ctx.loc.clone()));
        }
        "dontlognull" => {
            allowed(ctx, &kw, DEF | FE | LI)?;
            no_extra(rest, 1, &kw)?;
            ctx.draft.s.dontlognull = !negated;
        }
        "idle-close-on-response" => {
            allowed(ctx, &kw, DEF | FE | LI)?;
            no_extra(rest, 1, &kw)?;
            ctx.draft.s.idle_close_on_response = !negated;
        }
        "http-keep-alive" | "http-server-close" | "httpclose" => {
            no_extra(rest, 1, &kw)?;
            let mode = match name {
                "http-keep-alive" => HttpConnMode::KeepAlive,
                "http-server-close" => HttpConnMode::ServerClose,
                _ => HttpConnMode::Close,
            };
            // HAProxy: `no option X` only cancels X (back to keep-alive).
            let s = &mut ctx.draft.s;
            if !negated {
                s.conn_mode = mode;
            } else if s.conn_mode == mode {
                s.conn_mode = HttpConnMode::KeepAlive;
            }
        }
        "forwardfor" => ctx.draft.s.forwardfor = Some(forwardfor(rest)?),
        "httpchk" => check::option_httpchk(ctx, rest, negated)?,
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

/// `option forwardfor [except NET] [header NAME] [if-none]` (`rest`
/// starts at `forwardfor`).
fn forwardfor(rest: &[String]) -> Result<ForwardFor, String> {
    let mut ff = ForwardFor {
        header: "X-Forwarded-For".to_string(),
        except: None,
        if_none: false,
    };
    let mut i = 1;
    while let Some(w) = rest.get(i).map(String::as_str) {
        match w {
            "except" => {
                let net = arg(rest, i + 1)
                    .ok_or("'option forwardfor' : 'except' expects <address>[/mask] as argument")?;
                ff.except =
                    Some(IpNet::parse(net).map_err(|e| format!("'option forwardfor' : {e}"))?);
                i += 2;
            }
            "header" => {
                let name = arg(rest, i + 1)
                    .ok_or("'option forwardfor' : 'header' expects <header_name> as argument")?;
                if !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
                {
                    return Err(format!(
                        "'option forwardfor' : invalid header name '{name}'"
                    ));
                }
                ff.header = name.to_string();
                i += 2;
            }
            "if-none" => {
                ff.if_none = true;
                i += 1;
            }
            other => {
                return Err(format!(
                    "'option forwardfor' only supports optional values: 'except', 'header' and \
                     'if-none' (got '{other}')"
                ));
            }
        }
    }
    Ok(ff)
}

/// `log global`, `log TARGET...` and `no log` (which forgets every target,
/// inherited ones included).
fn log(ctx: &mut Ctx<'_>, w: &[String]) -> Result<(), String> {
    if w.first().is_some_and(|k| k == "no") {
        no_extra(w, 2, "no log")?;
        ctx.draft.s.logs.clear();
        return Ok(());
    }
    match arg(w, 1) {
        None => Err(
            "'log' expects either <address[:port]> and <facility> or 'global' as arguments"
                .to_string(),
        ),
        Some("global") => {
            no_extra(w, 2, "log global")?;
            // HAProxy copies the global targets known now, each once.
            for g in ctx.global_logs {
                if !ctx.draft.s.logs.contains(g) {
                    ctx.draft.s.logs.push(g.clone());
                }
            }
            Ok(())
        }
        Some(_) => {
            let words = w.get(1..).unwrap_or_default();
            check_log_target(words)?;
            ctx.draft.s.logs.push(LogTargetSpec {
                words: words.to_vec(),
                loc: ctx.loc.clone(),
            });
            Ok(())
        }
    }
}

/// Checks the words after `log` with the access log's own parser, so that
/// errors name the line. Host names are not resolved here (the parser would
/// block on DNS, and `parse` must not): a literal stands in for them while
/// checking, and they are resolved when the targets are built.
pub(super) fn check_log_target(words: &[String]) -> Result<(), String> {
    let Some(addr) = words.first().filter(|w| !w.is_empty()) else {
        return Err(
            "'log' expects either <address[:port]> and <facility> or 'global' as arguments"
                .to_string(),
        );
    };
    let addr = without_host_name(addr);
    let mut checked: Vec<&str> = words.iter().map(String::as_str).collect();
    if let Some(first) = checked.first_mut() {
        *first = &addr;
    }
    crate::accesslog::parse_log_target(&checked)
        .map(|_| ())
        .map_err(|e| format!("'log' : {e}"))
}

/// A log address with its host name (if any) replaced by a loopback
/// literal of the right family; other forms unchanged.
fn without_host_name(addr: &str) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    let (prefix, rest) = match addr.split_once('@') {
        Some((p, r)) => (Some(p), r),
        None => (None, addr),
    };
    let inet = matches!(
        prefix,
        None | Some("udp" | "ipv4" | "udp4" | "ipv6" | "udp6")
    );
    if !inet || rest.starts_with('[') || matches!(addr, "stdout" | "stderr") {
        return Cow::Borrowed(addr);
    }
    let (host, port) = match rest.rfind(':') {
        Some(c) => (rest.get(..c).unwrap_or_default(), rest.get(c..)),
        None => (rest, None),
    };
    let literal = host.is_empty()
        || host == "*"
        || host.contains(':')
        || host.parse::<std::net::IpAddr>().is_ok();
    if literal || addr.starts_with('/') {
        return Cow::Borrowed(addr);
    }
    let stand_in = if matches!(prefix, Some("ipv6" | "udp6")) {
        "[::1]"
    } else {
        "127.0.0.1"
    };
    let prefix = prefix.map(|p| format!("{p}@")).unwrap_or_default();
    Cow::Owned(format!("{prefix}{stand_in}{}", port.unwrap_or_default()))
}

/// `stick-table ...`: the proxy's table, named after it.
fn stick_table(ctx: &mut Ctx<'_>, words: &[String]) -> Result<(), String> {
    super::stick::stick_table(ctx.tables, &ctx.draft.name, ctx.loc, words)
}

/// `tcp-request inspect-delay T` or `tcp-request connection|session|content
/// ACTION ... [if|unless COND]`.
fn tcp_request(ctx: &mut Ctx<'_>, words: &[String]) -> Result<(), String> {
    let phase = words.get(1).map(String::as_str).unwrap_or_default();
    if phase == "inspect-delay" {
        // Content rules run on what has arrived when the stream starts
        // (the request head in HTTP mode); no fetch waits for more, so
        // there is nothing to delay. Accepted for existing files.
        let v = arg(words, 2).ok_or("'tcp-request inspect-delay' expects a delay")?;
        time::parse_duration(v).map_err(|e| format!("'tcp-request inspect-delay': {e}"))?;
        return no_extra(words, 3, "tcp-request inspect-delay");
    }
    if matches!(phase, "connection" | "session") && ctx.draft.kind == Kind::Backend {
        return Err(format!(
            "'tcp-request {phase}' is not allowed in a 'backend' section (frontend or listen only)"
        ));
    }
    let loc = ctx.loc.clone();
    let rule = with_pcx(ctx, |p| http::parse_tcp_rule(words, &loc, p))?;
    ctx.draft.tcp_request.push(rule);
    Ok(())
}

/// `stick on|match|store-request EXPR [table T] [if|unless COND]`.
fn stick(ctx: &mut Ctx<'_>, words: &[String]) -> Result<(), String> {
    let loc = ctx.loc.clone();
    let rule = with_pcx(ctx, |p| http::parse_stick_rule(words, &loc, p))?;
    ctx.draft.stick_rules.push(rule);
    Ok(())
}
