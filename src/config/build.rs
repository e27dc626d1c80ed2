//! From section drafts to the validated model: name resolution and the
//! checks that need the whole configuration.
//!
//! Backends are numbered in declaration order (a listen yields its backend at
//! its position), then frontends resolve `default_backend`/`use_backend`
//! against those numbers. Timeouts are split by side as HAProxy copies them
//! by capability: a `Frontend` carries only client-side timeouts, a `Backend`
//! only server-side ones (`http-*` go to both).
//!
//! Conditions get the final definition of each named ACL (lines written
//! after a rule extend the ACL it uses, as in HAProxy), and HTTP-only
//! settings of proxies in TCP mode are dropped with HAProxy's warnings.

use std::collections::HashMap;
use std::sync::Arc;

use super::parser::{Draft, Kind};
use super::{
    Backend, Balance, Config, ConfigError, Frontend, Global, ListenOn, Loc, LogStyle, Mode,
    StatsAddr, Timeouts, UseBackend,
};
use crate::http::{self, Acl, HttpRule};

/// Builds the model. Every problem goes to `errors`/`warnings`; the returned
/// `Config` is only meaningful when `errors` is still empty.
pub(super) fn build(
    global: Global,
    proxies: &[Draft],
    tables: Vec<crate::stick::TableDef>,
    errors: &mut Vec<ConfigError>,
    warnings: &mut Vec<ConfigError>,
) -> Config {
    inherited_fds_used_once(&global, proxies, errors);
    let mut backends = Vec::new();
    // Backend number of each proxy with backend capability.
    let mut own_backend = vec![None; proxies.len()];
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, d) in proxies.iter().enumerate().filter(|(_, d)| d.kind.has_be()) {
        let n = backends.len();
        backends.push(backend(d, iid(i)));
        if let Some(slot) = own_backend.get_mut(i) {
            *slot = Some(n);
        }
        // Duplicate names were reported while parsing; the first one wins.
        index.entry(d.name.as_str()).or_insert(n);
    }
    let mut targets = Targets {
        index,
        backends: &backends,
        errors,
    };
    let mut frontends = Vec::new();
    for (i, d) in proxies.iter().enumerate().filter(|(_, d)| d.kind.has_fe()) {
        let own = own_backend.get(i).copied().flatten();
        frontends.push(targets.frontend(d, own, iid(i)));
    }
    for d in proxies {
        if let Some(w) = missing_timeouts(d) {
            warnings.push(w);
        }
        tcp_mode_warnings(d, warnings);
        super::services::warnings(d, warnings);
        unused_check_rules(d, warnings);
    }
    // HAProxy's stick rules store the server in their table without a
    // `store` word for it.
    let mut tables = tables;
    for r in backends.iter().flat_map(|b| &b.stick_rules) {
        if let Some(t) = tables.get_mut(r.table) {
            t.stores.add(crate::stick::DataType::ServerId, 0);
        }
    }
    Config {
        global,
        frontends,
        backends,
        tables,
    }
}

/// Refuses an inherited socket (`fd@N`) named twice, by binds or `stats
/// socket` lines: one listening socket cannot serve two of them (the
/// second would take it from the first). The `stats socket` lines count
/// first, then the binds in declaration order; the error is at the later
/// use and names the earlier one.
fn inherited_fds_used_once(global: &Global, proxies: &[Draft], errors: &mut Vec<ConfigError>) {
    // (fd, where, who says it, how the error names it)
    type Use<'a> = (i32, &'a Loc, String, String);
    let sockets = global.stats_sockets.iter().filter_map(|s| match s.addr {
        StatsAddr::Fd(n) => {
            let who = "'stats socket'".to_string();
            Some((n, &s.loc, who.clone(), who))
        }
        _ => None,
    });
    let binds = proxies.iter().flat_map(|d| {
        let px = format!("{} '{}'", d.kind.word(), d.name);
        d.binds.iter().filter_map(move |b| match b.on {
            ListenOn::Fd(n) => Some((n, &b.loc, format!("{px}: 'bind'"), format!("bind of {px}"))),
            ListenOn::Addr(_) => None,
        })
    });
    let mut seen: Vec<Use<'_>> = Vec::new();
    for (n, loc, who, noun) in sockets.chain(binds) {
        match seen.iter().find(|u| u.0 == n) {
            Some((_, first, _, by)) => errors.push(ConfigError {
                loc: Some(loc.clone()),
                msg: format!("{who} : fd@{n} is already used by the {by} at {first}"),
            }),
            None => seen.push((n, loc, who, noun)),
        }
    }
}

/// HAProxy's proxy id of the proxy at `index` in declaration order.
fn iid(index: usize) -> u32 {
    u32::try_from(index + 1).unwrap_or(u32::MAX)
}

fn backend(d: &Draft, iid: u32) -> Backend {
    let http = d.s.mode == Mode::Http;
    let balance = match &d.s.balance {
        Balance::Uri { .. } | Balance::Hdr { .. } if !http => Balance::RoundRobin,
        other => other.clone(),
    };
    Backend {
        name: d.name.clone(),
        loc: d.loc.clone(),
        iid,
        mode: d.s.mode,
        balance,
        servers: d.servers.clone(),
        retries: d.s.retries,
        redispatch: d.s.redispatch,
        allbackups: d.s.allbackups,
        timeouts: back_side(&d.s.timeouts),
        logs: d.s.logs.clone(),
        conn_mode: d.s.conn_mode,
        forwardfor: d.s.forwardfor.clone().filter(|_| http),
        http_reuse: d.s.http_reuse,
        errorfiles: d.s.errorfiles.clone(),
        http_request: rules(d, &d.http_request),
        http_response: rules(d, &d.http_response),
        tcp_req_cont: tcp_rules(d, http::TcpPhase::Content),
        stick_rules: {
            let mut out = d.stick_rules.clone();
            resolve_conds(d, out.iter_mut().filter_map(|r| r.cond.as_mut()));
            out
        },
        http_check: d.s.http_check.build(),
        services: super::services::build(d, false),
        retired: false,
    }
}

/// A named ACL's final definition (every line, even those written after
/// the rule that uses it).
fn find_acl(d: &Draft, name: &str) -> Option<Arc<Acl>> {
    d.acls
        .iter()
        .find(|a| a.name.as_deref() == Some(name))
        .cloned()
}

/// The draft's rules with their ACLs resolved; none in TCP mode (HAProxy
/// ignores them there, with a warning).
fn rules(d: &Draft, list: &[HttpRule]) -> Vec<HttpRule> {
    if d.s.mode != Mode::Http {
        return Vec::new();
    }
    let mut out = list.to_vec();
    http::resolve_acls(&mut out, &|n| find_acl(d, n));
    out
}

/// The draft's `tcp-request` rules of one phase, ACLs resolved.
fn tcp_rules(d: &Draft, phase: http::TcpPhase) -> Vec<http::TcpRule> {
    let mut out: Vec<http::TcpRule> = d
        .tcp_request
        .iter()
        .filter(|(p, _)| *p == phase)
        .map(|(_, r)| r.clone())
        .collect();
    resolve_conds(d, out.iter_mut().filter_map(|r| r.cond.as_mut()));
    out
}

/// Points the named ACLs of `conds` at the proxy's definitions.
fn resolve_conds<'c>(d: &Draft, conds: impl Iterator<Item = &'c mut http::Condition>) {
    for c in conds {
        c.resolve(&|n| find_acl(d, n));
    }
}

/// HAProxy's warnings for HTTP settings of a proxy in TCP mode, which are
/// then ignored (`backend`/`frontend` drop them).
fn tcp_mode_warnings(d: &Draft, warnings: &mut Vec<ConfigError>) {
    if d.kind == Kind::Defaults || d.s.mode == Mode::Http {
        return;
    }
    let who = format!("{} '{}'", d.kind.word(), d.name);
    let mut warn = |loc: &Loc, msg: String| {
        warnings.push(ConfigError {
            loc: Some(loc.clone()),
            msg,
        });
    };
    if let Some((LogStyle::Http | LogStyle::HttpClf, loc)) = &d.s.log_style
        && d.kind.has_fe()
    {
        warn(
            loc,
            format!(
                "'option httplog' not usable with {who} (needs 'mode http'). Falling back to 'option tcplog'"
            ),
        );
    }
    for (kw, rules) in [
        ("http-request", &d.http_request),
        ("http-response", &d.http_response),
    ] {
        if !rules.is_empty() {
            warn(
                &d.loc,
                format!("'{kw}' rules ignored for {who} as they require HTTP mode"),
            );
        }
    }
    if d.s.forwardfor.is_some() {
        warn(
            &d.loc,
            format!("'option forwardfor' ignored for {who} as it requires HTTP mode"),
        );
    }
    if d.kind.has_be() && matches!(d.s.balance, Balance::Uri { .. } | Balance::Hdr { .. }) {
        warn(
            &d.loc,
            format!(
                "Layer 7 hash not possible for {who} (needs 'mode http'). Falling back to round robin"
            ),
        );
    }
}

/// HAProxy's warning for `http-check` rules in a backend without `option
/// httpchk` (the rules are then ignored).
fn unused_check_rules(d: &Draft, warnings: &mut Vec<ConfigError>) {
    let hc = &d.s.http_check;
    if d.kind == Kind::Defaults || !d.kind.has_be() || hc.enabled {
        return;
    }
    if let Some(loc) = &hc.rules_loc {
        warnings.push(ConfigError {
            loc: Some(loc.clone()),
            msg: format!(
                "{} '{}' uses http-check rules without 'option httpchk', so the rules are ignored",
                d.kind.word(),
                d.name
            ),
        });
    }
}

/// Resolves backend names for frontends, reporting what cannot be used.
struct Targets<'a> {
    index: HashMap<&'a str, usize>,
    backends: &'a [Backend],
    errors: &'a mut Vec<ConfigError>,
}

impl Targets<'_> {
    /// Builds a frontend; `own` is the listen's own backend, if any.
    fn frontend(&mut self, d: &Draft, own: Option<usize>, iid: u32) -> Frontend {
        let who = format!("{} '{}'", d.kind.word(), d.name);
        if d.bind_lines == 0 {
            self.error(
                &d.loc,
                format!("{who} has no 'bind' directive. Please declare it as a backend if this was intended"),
            );
        }
        // HAProxy: a listen's default_backend (even inherited) wins over
        // its own servers; without one, it serves itself.
        let default_backend = match &d.s.default_backend {
            Some((name, loc)) => self.find(d, name, loc, "default_backend"),
            None if d.kind == Kind::Listen && d.server_lines > 0 => own,
            None => None,
        };
        let use_backends: Vec<UseBackend> = (d.use_backends.iter())
            .filter_map(|(name, loc, cond)| {
                let backend = self.find(d, name, loc, "use_backend")?;
                let cond = cond.clone().map(|mut c| {
                    c.resolve(&|n| find_acl(d, n));
                    c
                });
                Some(UseBackend {
                    backend,
                    cond,
                    loc: loc.clone(),
                })
            })
            .collect();
        let named_any = d.s.default_backend.is_some() || !d.use_backends.is_empty();
        // A frontend that answers by itself (stats page, monitor-uri,
        // use-service) needs no backend, as in HAProxy.
        if !named_any && default_backend.is_none() && !super::services::answers_itself(d) {
            let msg = match d.kind {
                Kind::Listen => format!(
                    "{who} has no server and no backend (no 'server', 'default_backend' nor 'use_backend')"
                ),
                _ => format!("{who} has no backend (no 'default_backend' nor 'use_backend')"),
            };
            self.error(&d.loc, msg);
        }
        Frontend {
            name: d.name.clone(),
            loc: d.loc.clone(),
            iid,
            mode: d.s.mode,
            binds: d.binds.clone(),
            maxconn: d.s.maxconn,
            timeouts: front_side(&d.s.timeouts),
            default_backend,
            use_backends,
            own_backend: own.filter(|_| d.kind == Kind::Listen),
            logs: d.s.logs.clone(),
            log_format: d.s.log_style.as_ref().map(|(style, _)| match style {
                LogStyle::Http | LogStyle::HttpClf if d.s.mode != Mode::Http => LogStyle::Tcp,
                other => *other,
            }),
            dontlognull: d.s.dontlognull,
            idle_close_on_response: d.s.idle_close_on_response,
            conn_mode: d.s.conn_mode,
            forwardfor: d.s.forwardfor.clone().filter(|_| d.s.mode == Mode::Http),
            errorfiles: d.s.errorfiles.clone(),
            http_request: rules(d, &d.http_request),
            http_response: rules(d, &d.http_response),
            tcp_req_conn: tcp_rules(d, http::TcpPhase::Connection),
            tcp_req_sess: tcp_rules(d, http::TcpPhase::Session),
            tcp_req_cont: tcp_rules(d, http::TcpPhase::Content),
            services: super::services::build(d, true),
            retired: false,
        }
    }

    /// Looks up backend `name` for frontend `d`, checking that its mode
    /// matches (a mismatch is reported, the index still returned).
    fn find(&mut self, d: &Draft, name: &str, loc: &Loc, what: &str) -> Option<usize> {
        let who = format!("{} '{}'", d.kind.word(), d.name);
        let Some(&n) = self.index.get(name) else {
            self.error(
                loc,
                format!("{who}: unable to find required {what}: '{name}'"),
            );
            return None;
        };
        let mode = self.backends.get(n).map(|b| b.mode);
        if let Some(has) = mode.filter(|&m| m != d.s.mode) {
            let msg = format!(
                "{who}: unable to use proxy '{name}' with wrong mode, required: {}, has: {}",
                mode_word(d.s.mode),
                mode_word(has)
            );
            self.error(loc, msg);
        }
        Some(n)
    }

    fn error(&mut self, loc: &Loc, msg: String) {
        self.errors.push(ConfigError {
            loc: Some(loc.clone()),
            msg,
        });
    }
}

fn mode_word(m: Mode) -> &'static str {
    match m {
        Mode::Tcp => "tcp",
        Mode::Http => "http",
    }
}

/// Client-side timeouts (HAProxy copies them to proxies with the frontend
/// capability only).
fn front_side(t: &Timeouts) -> Timeouts {
    Timeouts {
        client: t.client,
        client_hs: t.client_hs,
        client_fin: t.client_fin,
        http_request: t.http_request,
        http_keep_alive: t.http_keep_alive,
        ..Timeouts::default()
    }
}

/// Server-side timeouts (see `front_side`).
fn back_side(t: &Timeouts) -> Timeouts {
    Timeouts {
        connect: t.connect,
        server: t.server,
        server_fin: t.server_fin,
        tunnel: t.tunnel,
        queue: t.queue,
        check: t.check,
        http_request: t.http_request,
        http_keep_alive: t.http_keep_alive,
        ..Timeouts::default()
    }
}

/// HAProxy's startup warning for proxies that can wait forever: a frontend
/// without `timeout client`, or a backend with servers but without `timeout
/// connect` or without `timeout server` (in TCP, `timeout tunnel` covers it).
fn missing_timeouts(d: &Draft) -> Option<ConfigError> {
    let t = &d.s.timeouts;
    let front = d.kind.has_fe() && t.client.is_none();
    let server_missing = t.server.is_none() && (d.s.mode == Mode::Http || t.tunnel.is_none());
    let back = d.kind.has_be() && d.server_lines > 0 && (t.connect.is_none() || server_missing);
    (front || back).then(|| ConfigError {
        loc: Some(d.loc.clone()),
        msg: format!(
            "missing timeouts for {} '{}'. While not properly invalid, you will certainly \
             encounter various problems with such a configuration. To fix this, please ensure \
             that all following timeouts are set to a non-zero value: 'client', 'connect', 'server'",
            d.kind.word(),
            d.name
        ),
    })
}
