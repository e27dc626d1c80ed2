//! Requests the proxy answers itself instead of a server (seed 002's
//! internal services): `monitor-uri` (checked before any rule),
//! the stats page (`stats uri`, checked after the rules of the proxy that
//! enables it, as HAProxy does), and `http-request use-service NAME`.
//!
//! The data plane (`stream::http::head`) calls these with the parsed
//! request; each returns the whole response to send, or None to go on.
//! Nothing here runs for a request that does not hit a service except a
//! string comparison per configured URI (no allocation).

use std::fmt::Write as _;

use crate::api::view::{self, StatFilter};
use crate::config::{Services, StatsCfg};
use crate::http::RequestView;
use crate::runtime::Runtime;

/// The answer of a service.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// The whole response; None: the proxy's page for `status` (its
    /// errorfile, else the built-in one).
    pub bytes: Option<Vec<u8>>,
    /// Not logged (HAProxy never logs monitor requests).
    pub nolog: bool,
}

/// `monitor-uri`: the request target equals it exactly (HAProxy compares
/// the whole URI). 200 "Service ready.", or 503 when a `monitor fail`
/// condition matches. Checked before any `http-request` rule.
pub fn monitor(s: &Services, req: &RequestView<'_>) -> Option<Reply> {
    let uri = s.monitor_uri.as_deref()?;
    if req.target != uri {
        return None;
    }
    let fail = s.monitor_fail.iter().any(|c| c.eval(req, None));
    Some(Reply {
        status: if fail { 503 } else { 200 },
        bytes: None,
        nolog: true,
    })
}

/// The path and query of a target (HAProxy matches `stats uri` against
/// the path of an absolute URI).
fn path_and_query(target: &str) -> &str {
    if target.starts_with('/') {
        return target;
    }
    match target.find("://") {
        Some(i) => {
            let rest = &target[i + 3..];
            rest.find('/').map_or("", |j| &rest[j..])
        }
        None => target,
    }
}

/// A response head with the fields every service answer has; the caller
/// adds its own fields, then [`finish`].
fn head(out: &mut Vec<u8>, status: u16, content_type: &str, len: usize) {
    let _ = write!(
        Bytes(out),
        "HTTP/1.1 {status} {}\r\ncache-control: no-cache\r\ncontent-type: {content_type}\r\ncontent-length: {len}\r\n",
        crate::proto::http1::reason_phrase(status)
    );
}

/// Ends the head (with `connection: close` unless `keep`) and appends the
/// body unless the request was HEAD.
fn finish(mut out: Vec<u8>, keep: bool, head_only: bool, body: &[u8]) -> Vec<u8> {
    if !keep {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !head_only {
        out.extend_from_slice(body);
    }
    out
}

/// `fmt::Write` into a byte vector.
struct Bytes<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Bytes<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Decodes standard base64 (padding optional); None on a bad character.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in s.bytes().take_while(|&b| b != b'=') {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// The request carries `Authorization: Basic` credentials of one of
/// `users`.
fn authorized(req: &RequestView<'_>, users: &[(String, String)]) -> bool {
    let Some(h) = req
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("authorization"))
    else {
        return false;
    };
    let Ok(v) = std::str::from_utf8(h.value) else {
        return false;
    };
    let v = v.trim();
    let Some((scheme, cred)) = v.split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Some(plain) = base64_decode(cred.trim()) else {
        return false;
    };
    let Some(i) = plain.iter().position(|&b| b == b':') else {
        return false;
    };
    let (user, pass) = (&plain[..i], &plain[i + 1..]);
    users
        .iter()
        .any(|(u, p)| u.as_bytes() == user && p.as_bytes() == pass)
}

/// 401 with HAProxy's page and `WWW-Authenticate: Basic realm="..."`.
fn unauthorized(cfg: &StatsCfg, keep: bool, head_only: bool) -> Reply {
    let page = crate::proto::http1::default_error(401).unwrap_or_default();
    let body = page
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(&b""[..], |i| &page[i + 4..]);
    let mut out = Vec::with_capacity(256 + body.len());
    head(&mut out, 401, "text/html", body.len());
    let realm = cfg.realm.replace(['"', '\\', '\r', '\n'], "");
    let _ = write!(
        Bytes(&mut out),
        "www-authenticate: Basic realm=\"{realm}\"\r\n"
    );
    Reply {
        status: 401,
        bytes: Some(finish(out, keep, head_only, body)),
        nolog: false,
    }
}

/// The stats page of a proxy, if the request is for it: `stats uri` is a
/// prefix of the request's path and query, as in HAProxy; `;csv` after it
/// answers `show stat`'s CSV, `;norefresh` drops the refresh, `;up` and
/// `;no-maint` hide servers. `keep`: the connection stays open after the
/// answer.
pub fn stats(
    rt: &Runtime,
    cfg: Option<&StatsCfg>,
    req: &RequestView<'_>,
    keep: bool,
) -> Option<Reply> {
    let cfg = cfg?;
    let pq = path_and_query(req.target);
    let rest = pq.strip_prefix(cfg.uri.as_str())?;
    let head_only = req.method == "HEAD";
    if !cfg.auth.is_empty() && !authorized(req, &cfg.auth) {
        return Some(unauthorized(cfg, keep, head_only));
    }
    let filter = StatFilter {
        hide_maint: rest.contains(";no-maint"),
        hide_down: rest.contains(";up"),
        ..StatFilter::ALL
    };
    let refresh = cfg
        .refresh
        .filter(|_| !rest.contains(";norefresh"))
        .map(|d| d.as_secs().max(1));
    let (body, ctype) = if rest.contains(";csv") {
        let proxies = view::proxies(&rt.config);
        (view::stat_csv(rt, &proxies, &filter), "text/plain")
    } else {
        let opts = super::page::PageOpts {
            hide_version: cfg.hide_version,
            refresh,
            uri: &cfg.uri,
            filter,
        };
        (super::page::render(rt, &opts), "text/html")
    };
    let mut out = Vec::with_capacity(256 + body.len());
    head(&mut out, 200, ctype, body.len());
    if let Some(r) = refresh {
        let _ = write!(Bytes(&mut out), "refresh: {r}\r\n");
    }
    Some(Reply {
        status: 200,
        bytes: Some(finish(out, keep, head_only, body.as_bytes())),
        nolog: false,
    })
}

/// `http-request use-service NAME` (names checked by the parser).
pub fn use_service(rt: &Runtime, name: &str, req: &RequestView<'_>, keep: bool) -> Reply {
    match name {
        "prometheus-exporter" => prometheus(rt, req, keep),
        _ => Reply {
            status: 503,
            bytes: None,
            nolog: false,
        },
    }
}

fn prometheus(rt: &Runtime, req: &RequestView<'_>, keep: bool) -> Reply {
    let Some(scope) = super::prometheus::Scope::parse(req.query.unwrap_or("")) else {
        // HAProxy answers 400 to a bad `scope`.
        return Reply {
            status: 400,
            bytes: None,
            nolog: false,
        };
    };
    let body = super::prometheus::render(rt, &scope, false);
    let mut out = Vec::with_capacity(256 + body.len());
    head(&mut out, 200, super::prometheus::CONTENT_TYPE, body.len());
    Reply {
        status: 200,
        bytes: Some(finish(out, keep, req.method == "HEAD", body.as_bytes())),
        nolog: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_and_basic_auth() {
        assert_eq!(base64_decode("YWRtaW46czNjcmV0").unwrap(), b"admin:s3cret");
        assert_eq!(base64_decode("YQ==").unwrap(), b"a");
        assert!(base64_decode("a*b").is_none());
        let users = vec![("admin".to_string(), "s3cret".to_string())];
        let hdr = |v: &'static str| {
            [httparse::Header {
                name: "Authorization",
                value: v.as_bytes(),
            }]
        };
        let ok = hdr("Basic YWRtaW46czNjcmV0");
        let req = RequestView::new("GET", "/s", (1, 1), &ok, None, None);
        assert!(authorized(&req, &users));
        let bad = hdr("Basic YWRtaW46bm9wZQ==");
        let req = RequestView::new("GET", "/s", (1, 1), &bad, None, None);
        assert!(!authorized(&req, &users));
        let none = RequestView::new("GET", "/s", (1, 1), &[], None, None);
        assert!(!authorized(&none, &users));
    }

    #[test]
    fn stats_uri_is_a_prefix_of_path_and_query() {
        assert_eq!(path_and_query("/haproxy?stats;csv"), "/haproxy?stats;csv");
        assert_eq!(path_and_query("http://h:1/haproxy?stats"), "/haproxy?stats");
        assert_eq!(path_and_query("http://h"), "");
    }
}
