//! Keywords of the internal services reached without a server: `stats *`
//! (the stats page, in defaults, frontends, listens and backends) and
//! `monitor-uri` / `monitor fail` (frontends and listens). The run-time side
//! is `crate::stats::service`.
//!
//! HAProxy's inheritance: a `defaults` section's `stats` settings are shared
//! by every proxy that uses it, until the proxy writes a `stats` line of its
//! own; that proxy then starts from HAProxy's defaults (not from the
//! inherited settings), as HAProxy detaches the proxy from the defaults'
//! `uri_auth` before applying its first `stats` keyword.

use std::time::Duration;

use super::args::{arg, no_extra};
use super::parser::{Draft, Kind};
use super::proxy::{BE, Ctx, DEF, FE, LI};
use super::{ConfigError, Mode, time};
use crate::http;

/// HAProxy's default `stats uri`.
pub const DEFAULT_STATS_URI: &str = "/haproxy?stats";
/// HAProxy's default `stats realm`.
pub const DEFAULT_STATS_REALM: &str = "HAProxy Statistics";

/// The stats page of a proxy (HAProxy's `uri_auth`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsCfg {
    /// Prefix of the request path (query included) that reaches the page;
    /// `;csv`, `;norefresh` may follow it.
    pub uri: String,
    /// `stats realm`: the Basic authentication realm.
    pub realm: String,
    /// `stats auth user:password` lines; empty: no authentication.
    pub auth: Vec<(String, String)>,
    /// `stats refresh`: the page asks the browser to reload itself.
    pub refresh: Option<Duration>,
    /// `stats hide-version`: the page does not print the version.
    pub hide_version: bool,
}

impl Default for StatsCfg {
    fn default() -> Self {
        StatsCfg {
            uri: DEFAULT_STATS_URI.to_string(),
            realm: DEFAULT_STATS_REALM.to_string(),
            auth: Vec::new(),
            refresh: None,
            hide_version: false,
        }
    }
}

/// HAProxy `stats` sub-keywords ringproxy does not implement (a clearer
/// error than "unknown").
const LATER_STATS: &[&str] = &[
    "admin",
    "http-request",
    "scope",
    "show-desc",
    "show-legends",
    "show-node",
    "show-modules",
];

/// `stats enable|uri|realm|auth|refresh|hide-version ...` in a proxy or
/// defaults section. Any of them enables the page (as in HAProxy).
pub(super) fn stats(ctx: &mut Ctx<'_>, w: &[String]) -> Result<(), String> {
    let sub = arg(w, 1).unwrap_or_default();
    if sub == "socket" {
        return Err("'stats socket' is only supported in the 'global' section".to_string());
    }
    if LATER_STATS.contains(&sub) {
        return Err(format!("'stats {sub}' is not supported yet"));
    }
    let known = [
        "enable",
        "disable",
        "uri",
        "realm",
        "auth",
        "refresh",
        "hide-version",
    ];
    if !known.contains(&sub) {
        return Err(format!(
            "'stats' expects 'enable', 'disable', 'uri', 'realm', 'auth', 'refresh' or \
             'hide-version'{}",
            if sub.is_empty() {
                String::new()
            } else {
                format!(", got '{sub}'")
            }
        ));
    }
    let what = format!("stats {sub}");
    if sub == "disable" {
        no_extra(w, 2, &what)?;
        ctx.draft.s.stats = None;
        ctx.draft.stats_own = true;
        return Ok(());
    }
    // Validate before touching the settings: a wrong line changes nothing.
    let value = match sub {
        "enable" | "hide-version" => {
            no_extra(w, 2, &what)?;
            None
        }
        _ => {
            let v = arg(w, 2).ok_or_else(|| match sub {
                "uri" => "'stats uri' needs an URI prefix.".to_string(),
                "realm" => "'stats realm' needs an realm name.".to_string(),
                "auth" => "'stats auth' needs a user:password account.".to_string(),
                _ => "'stats refresh' needs a positive interval.".to_string(),
            })?;
            no_extra(w, 3, &what)?;
            Some(v.to_string())
        }
    };
    let refresh = match (sub, &value) {
        ("refresh", Some(v)) => {
            Some(time::parse_duration(v).map_err(|e| format!("'{what}': {e}"))?)
        }
        _ => None,
    };
    let auth = match (sub, &value) {
        ("auth", Some(v)) => match v.split_once(':') {
            Some((user, pass)) if !user.is_empty() => Some((user.to_string(), pass.to_string())),
            _ => return Err("'stats auth' needs a user:password account.".to_string()),
        },
        _ => None,
    };
    if sub == "uri" && value.as_deref().is_some_and(|u| u.contains([' ', '\t'])) {
        return Err("'stats uri' expects an URI prefix without spaces".to_string());
    }
    if !ctx.draft.stats_own {
        ctx.draft.s.stats = None;
        ctx.draft.stats_own = true;
    }
    let cfg = ctx.draft.s.stats.get_or_insert_with(StatsCfg::default);
    match sub {
        "uri" => cfg.uri = value.unwrap_or_default(),
        "realm" => cfg.realm = value.unwrap_or_default(),
        "auth" => cfg.auth.extend(auth),
        "refresh" => cfg.refresh = refresh.filter(|d| !d.is_zero()),
        "hide-version" => cfg.hide_version = true,
        _ => {}
    }
    Ok(())
}

/// `monitor-uri URI` (defaults, frontend, listen): the last one wins.
pub(super) fn monitor_uri(ctx: &mut Ctx<'_>, w: &[String]) -> Result<(), String> {
    let uri = arg(w, 1).ok_or("'monitor-uri' expects an URI.")?;
    no_extra(w, 2, "monitor-uri")?;
    ctx.draft.s.monitor_uri = Some(uri.to_string());
    Ok(())
}

/// `monitor fail if|unless COND` (frontend, listen).
pub(super) fn monitor(ctx: &mut Ctx<'_>, w: &[String]) -> Result<(), String> {
    match arg(w, 1) {
        Some("fail") => {}
        _ => return Err("'monitor' expects 'fail' followed by a condition.".to_string()),
    }
    if !matches!(arg(w, 2), Some("if" | "unless")) {
        return Err("'monitor fail' expects 'if' or 'unless' followed by a condition.".to_string());
    }
    let rest = w.get(2..).unwrap_or_default();
    let cond = super::proxy::with_pcx(ctx, |p| {
        http::parse_condition(rest, http::Side::Request, "monitor fail", p)
    })
    .map_err(|e| format!("error detected while parsing a 'monitor fail' condition : {e}"))?;
    ctx.draft.monitor_fail.push(cond);
    Ok(())
}

/// Sections each keyword is allowed in (HAProxy's keyword matrix).
pub(super) const STATS_SECTIONS: u8 = DEF | FE | BE | LI;
pub(super) const MONITOR_URI_SECTIONS: u8 = DEF | FE | LI;
pub(super) const MONITOR_SECTIONS: u8 = FE | LI;

/// The services a proxy answers itself (`Frontend::services`,
/// `Backend::services`; a backend only ever has `stats`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Services {
    /// `stats enable` and friends: the stats page (HTTP mode only).
    pub stats: Option<std::sync::Arc<StatsCfg>>,
    /// `monitor-uri`: the exact request target answered `200` (frontends).
    pub monitor_uri: Option<String>,
    /// `monitor fail` conditions: any that matches answers `503` instead.
    pub monitor_fail: Vec<http::Condition>,
}

impl Services {
    pub fn is_empty(&self) -> bool {
        self.stats.is_none() && self.monitor_uri.is_none()
    }
}

/// The services of a built frontend (`frontend`) or backend; none outside
/// HTTP mode (HAProxy ignores them there, see `warnings`).
pub(super) fn build(d: &Draft, frontend: bool) -> Services {
    if d.s.mode != Mode::Http {
        return Services::default();
    }
    let mut s = Services {
        stats: d.s.stats.clone().map(std::sync::Arc::new),
        ..Services::default()
    };
    if frontend {
        s.monitor_uri = d.s.monitor_uri.clone();
        s.monitor_fail = d.monitor_fail.clone();
        for c in &mut s.monitor_fail {
            c.resolve(&|n| {
                d.acls
                    .iter()
                    .find(|a| a.name.as_deref() == Some(n))
                    .cloned()
            });
        }
    }
    s
}

/// The frontend can answer requests without a backend: stats page,
/// `monitor-uri`, or an `http-request use-service` rule.
pub(super) fn answers_itself(d: &Draft) -> bool {
    d.s.stats.is_some()
        || d.s.monitor_uri.is_some()
        || d.http_request
            .iter()
            .any(|r| matches!(r.action, http::Action::UseService(_)))
}

/// HAProxy's warnings for these settings in a proxy that is not in HTTP
/// mode (they are then ignored).
pub(super) fn warnings(d: &Draft, warnings: &mut Vec<ConfigError>) {
    if d.kind == Kind::Defaults || d.s.mode == Mode::Http {
        return;
    }
    let who = format!("{} '{}'", d.kind.word(), d.name);
    let monitor = d.kind.has_fe() && (d.s.monitor_uri.is_some() || !d.monitor_fail.is_empty());
    for (set, kw) in [(d.s.stats.is_some(), "stats"), (monitor, "monitor-uri")] {
        if set {
            warnings.push(ConfigError {
                loc: Some(d.loc.clone()),
                msg: format!("'{kw}' statement ignored for {who} as it requires HTTP mode."),
            });
        }
    }
}
