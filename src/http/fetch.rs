//! Sample fetches and converters: `src`, `path`, `req.hdr(host),lower`...
//!
//! A fetch yields samples of one type (boolean, integer, address or
//! string). ACLs look at every sample a fetch yields (every value of a
//! header, split at commas for `hdr`) until one matches; log-format strings
//! take one (the last value of a header, or occurrence `occ`), as HAProxy
//! does.

use std::borrow::Cow;
use std::net::IpAddr;

use super::{Cx, Side};
use crate::config::stick::TableRefs;
use crate::stick::{DataType, Entry, KeyBuf, StickTable};

/// Request or response side of a header fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    Req,
    Res,
}

/// What a header fetch returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HdrKind {
    /// `hdr`, `fhdr`: the values.
    Value,
    /// `hdr_cnt`: how many values.
    Count,
    /// `hdr_ip`: the values read as addresses.
    Ip,
    /// `hdr_val`: the values read as integers.
    Int,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetch {
    AlwaysTrue,
    AlwaysFalse,
    /// `req.proto_http`: true on an HTTP request.
    ProtoHttp,
    Src,
    Dst,
    SrcPort,
    DstPort,
    Method,
    /// `req.ver`: "1.1".
    Version,
    Path,
    Url,
    /// First Host value + path.
    Base,
    Query,
    Status,
    /// `hdr(name[,occ])` and friends. `name: None` = every header. `full`:
    /// whole lines (`fhdr`) instead of comma-separated values (`hdr`).
    Hdr {
        dir: Dir,
        name: Option<String>,
        occ: Option<i32>,
        full: bool,
        kind: HdrKind,
    },
    /// Stick counters: `sc0_conn_cur`, `sc_http_req_rate(1)`,
    /// `src_conn_rate(table)`...
    Stk {
        from: StkFrom,
        what: StkWhat,
    },
}

/// Where a stick-counter fetch finds its entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StkFrom {
    /// `scN_*`, `sc_*(N)`: the entry tracked by counter N (the stream's,
    /// else its session's); with `table`, the same key in that table.
    Sc { n: usize, table: Option<usize> },
    /// `src_*([table])`: the client's address in the table (the proxy's
    /// own by default); never created, except by `src_inc_gpc0`.
    Src { table: usize },
}

/// What a stick-counter fetch returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StkWhat {
    Data(DataType),
    /// `kbytes_in` / `kbytes_out`: the byte counters in kilobytes.
    KBytesIn,
    KBytesOut,
    /// `inc_gpc0` / `clr_gpc0`: change gpc0, return the new / old value.
    IncGpc0,
    ClrGpc0,
    /// `scN_tracked`: a boolean.
    Tracked,
    /// `trackers`: how many sessions and streams track the entry.
    Trackers,
}

impl StkWhat {
    fn by_name(s: &str) -> Option<StkWhat> {
        Some(match s {
            "get_gpc0" => StkWhat::Data(DataType::Gpc0),
            "kbytes_in" => StkWhat::KBytesIn,
            "kbytes_out" => StkWhat::KBytesOut,
            "inc_gpc0" => StkWhat::IncGpc0,
            "clr_gpc0" => StkWhat::ClrGpc0,
            "tracked" => StkWhat::Tracked,
            "trackers" => StkWhat::Trackers,
            "conn_cnt" | "conn_cur" | "conn_rate" | "sess_cnt" | "sess_rate" | "http_req_cnt"
            | "http_req_rate" | "http_err_cnt" | "http_err_rate" | "bytes_in_rate"
            | "bytes_out_rate" | "gpc0_rate" => StkWhat::Data(DataType::from_name(s)?),
            _ => return None,
        })
    }
}

/// Sample converters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conv {
    Lower,
    Upper,
}

/// A fetch followed by converters (`req.hdr(host),lower`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleExpr {
    pub fetch: Fetch,
    pub convs: Vec<Conv>,
    /// As written, for messages.
    pub text: String,
}

/// Output type of a fetch (decides an ACL's default match method).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SmpType {
    Bool,
    Int,
    Ip,
    Str,
}

/// One sample.
#[derive(Debug, Clone)]
pub(crate) enum Sample<'s> {
    Bool(bool),
    Int(i64),
    Ip(IpAddr),
    Str(Cow<'s, [u8]>),
}

/// What part of a transaction a fetch reads (HAProxy's capabilities).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Needs {
    /// Connection or request line (method, version): everywhere.
    Any,
    /// Request headers or URI: request rules and `use_backend` only.
    ReqHead,
    /// Response status or headers: response rules only.
    ResHead,
}

impl Needs {
    pub(crate) fn available(self, side: Side) -> bool {
        !matches!(
            (self, side),
            (Needs::ReqHead, Side::Response) | (Needs::ResHead, Side::Request)
        )
    }

    pub(crate) fn what(self) -> &'static str {
        match self {
            Needs::Any => "connection",
            Needs::ReqHead => "request headers",
            Needs::ResHead => "response headers",
        }
    }
}

/// HAProxy keeps the last 10 occurrences for negative `occ`.
const MAX_HDR_HISTORY: usize = 10;

/// Fetches whose names end in a match suffix in ACLs (`path_beg`).
const SUFFIXED: &[&str] = &["path", "url", "base", "hdr", "shdr"];

/// ACL match suffixes and their method names (`-m`).
pub(crate) const SUFFIXES: &[(&str, &str)] = &[
    ("_beg", "beg"),
    ("_end", "end"),
    ("_sub", "sub"),
    ("_reg", "reg"),
    ("_dir", "dir"),
    ("_dom", "dom"),
    ("_len", "len"),
];

/// Parses `fetch[(args)][,conv]...`. `acl_keywords` also accepts the ACL
/// forms with a match suffix (`path_beg`), returning the suffix's method.
pub(crate) fn parse_expr(
    text: &str,
    acl_keywords: bool,
    tables: &mut TableRefs,
) -> Result<(SampleExpr, Option<&'static str>), String> {
    let (head, convs) = split_convs(text)?;
    let (name, args) = split_args(head)?;
    let mut method = None;
    let found = match stk_fetch(name, args, tables)? {
        Some(f) => Some(f),
        None => fetch_by_name(name, args)?,
    };
    let fetch = match found {
        Some(f) => f,
        None => {
            let suffixed = acl_keywords
                .then(|| {
                    SUFFIXES.iter().find_map(|(suffix, m)| {
                        let base = name.strip_suffix(suffix)?;
                        SUFFIXED.contains(&base).then_some((base, *m))
                    })
                })
                .flatten();
            let Some((base, m)) = suffixed else {
                return Err(format!("unknown fetch method '{name}'"));
            };
            method = Some(m);
            fetch_by_name(base, args)?.ok_or_else(|| format!("unknown fetch method '{name}'"))?
        }
    };
    let convs = convs
        .iter()
        .map(|c| parse_conv(c))
        .collect::<Result<Vec<_>, _>>()?;
    let expr = SampleExpr {
        fetch,
        convs,
        text: text.to_string(),
    };
    Ok((expr, method))
}

/// Splits `a(b,c),d,e(f)` into `a(b,c)` and `[d, e(f)]`, honouring
/// parentheses.
fn split_convs(text: &str) -> Result<(&str, Vec<&str>), String> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("unexpected ')' in '{text}'"))?;
            }
            ',' if depth == 0 => {
                parts.push(text.get(start..i).unwrap_or_default());
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("missing closing ')' in '{text}'"));
    }
    parts.push(text.get(start..).unwrap_or_default());
    let head = parts.remove(0);
    if head.is_empty() {
        return Err(format!("missing fetch method in '{text}'"));
    }
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!("empty converter name in '{text}'"));
    }
    Ok((head, parts))
}

/// Splits `name(args)` into the name and the arguments (`None` without
/// parentheses).
fn split_args(s: &str) -> Result<(&str, Option<&str>), String> {
    match s.split_once('(') {
        None => Ok((s, None)),
        Some((name, rest)) => {
            let args = rest
                .strip_suffix(')')
                .filter(|a| !a.contains(')'))
                .ok_or_else(|| format!("invalid argument list in '{s}'"))?;
            Ok((name, Some(args)))
        }
    }
}

fn parse_conv(text: &str) -> Result<Conv, String> {
    let (name, args) = split_args(text)?;
    let conv = match name {
        "lower" => Conv::Lower,
        "upper" => Conv::Upper,
        _ => return Err(format!("unknown converter '{name}'")),
    };
    if args.is_some_and(|a| !a.is_empty()) {
        return Err(format!("converter '{name}' takes no argument"));
    }
    Ok(conv)
}

/// The stick-counter fetch called `name` (`sc0_conn_cur`,
/// `sc_conn_cur(0[,table])`, `src_conn_cur([table])`), `None` for another
/// name. Table names become indices through `tables`.
fn stk_fetch(
    name: &str,
    args: Option<&str>,
    tables: &mut TableRefs,
) -> Result<Option<Fetch>, String> {
    let args: Vec<&str> = args
        .map(|a| a.split(',').map(str::trim).collect())
        .unwrap_or_default();
    let table_arg = |a: Option<&&str>, tables: &mut TableRefs| match a {
        None => Ok(None),
        Some(&"") => Err(format!("fetch method '{name}' : empty table name")),
        Some(t) => Ok(Some(tables.id(Some(t)))),
    };
    let too_many =
        |n: usize| (args.len() > n).then(|| format!("fetch method '{name}' : too many arguments"));
    if let Some(rest) = name.strip_prefix("src_") {
        let Some(what) = StkWhat::by_name(rest).filter(|w| *w != StkWhat::Tracked) else {
            return Ok(None);
        };
        if let Some(e) = too_many(1) {
            return Err(e);
        }
        let table = match table_arg(args.first(), tables)? {
            Some(t) => t,
            None => tables.id(None),
        };
        return Ok(Some(Fetch::Stk {
            from: StkFrom::Src { table },
            what,
        }));
    }
    let (n, rest, first_table_arg) = if let Some(rest) = name.strip_prefix("sc_") {
        let n = args
            .first()
            .and_then(|a| a.parse::<usize>().ok())
            .filter(|n| *n < crate::stick::MAX_SC);
        (n, rest, 1)
    } else {
        let mut it = name.splitn(2, '_');
        let head = it.next().unwrap_or_default();
        let Some(rest) = it.next() else {
            return Ok(None);
        };
        let n = match head {
            "sc0" => 0,
            "sc1" => 1,
            "sc2" => 2,
            _ => return Ok(None),
        };
        (Some(n), rest, 0)
    };
    let Some(what) = StkWhat::by_name(rest) else {
        return Ok(None);
    };
    let Some(n) = n else {
        return Err(format!(
            "fetch method '{name}' : expects a stick counter number (0 to {}) as first argument",
            crate::stick::MAX_SC - 1
        ));
    };
    if let Some(e) = too_many(first_table_arg + 1) {
        return Err(e);
    }
    let table = table_arg(args.get(first_table_arg), tables)?;
    Ok(Some(Fetch::Stk {
        from: StkFrom::Sc { n, table },
        what,
    }))
}

/// The fetch called `name`, `None` when there is no such fetch.
fn fetch_by_name(name: &str, args: Option<&str>) -> Result<Option<Fetch>, String> {
    let plain = match name {
        "always_true" => Some(Fetch::AlwaysTrue),
        "always_false" => Some(Fetch::AlwaysFalse),
        "req.proto_http" | "req_proto_http" => Some(Fetch::ProtoHttp),
        "src" => Some(Fetch::Src),
        "dst" => Some(Fetch::Dst),
        "src_port" => Some(Fetch::SrcPort),
        "dst_port" => Some(Fetch::DstPort),
        "method" => Some(Fetch::Method),
        "req.ver" | "req_ver" => Some(Fetch::Version),
        "path" => Some(Fetch::Path),
        "url" => Some(Fetch::Url),
        "base" => Some(Fetch::Base),
        "query" => Some(Fetch::Query),
        "status" => Some(Fetch::Status),
        _ => None,
    };
    if let Some(f) = plain {
        if let Some(a) = args.filter(|a| !a.is_empty()) {
            return Err(format!(
                "fetch method '{name}' : no argument supported, but got '{a}'"
            ));
        }
        return Ok(Some(f));
    }
    let (dir, full, kind) = match name {
        "hdr" | "req.hdr" => (Dir::Req, false, HdrKind::Value),
        "fhdr" | "req.fhdr" => (Dir::Req, true, HdrKind::Value),
        "hdr_cnt" | "req.hdr_cnt" => (Dir::Req, false, HdrKind::Count),
        "fhdr_cnt" | "req.fhdr_cnt" => (Dir::Req, true, HdrKind::Count),
        "hdr_ip" | "req.hdr_ip" => (Dir::Req, false, HdrKind::Ip),
        "hdr_val" | "req.hdr_val" => (Dir::Req, false, HdrKind::Int),
        "shdr" | "res.hdr" => (Dir::Res, false, HdrKind::Value),
        "res.fhdr" => (Dir::Res, true, HdrKind::Value),
        "shdr_cnt" | "res.hdr_cnt" => (Dir::Res, false, HdrKind::Count),
        "res.fhdr_cnt" => (Dir::Res, true, HdrKind::Count),
        "shdr_ip" | "res.hdr_ip" => (Dir::Res, false, HdrKind::Ip),
        "shdr_val" | "res.hdr_val" => (Dir::Res, false, HdrKind::Int),
        _ => return Ok(None),
    };
    let mut it = args.unwrap_or_default().split(',');
    let hname = it.next().unwrap_or_default().trim();
    let occ = match it.next().map(str::trim) {
        None => None,
        Some(_) if kind == HdrKind::Count => {
            return Err(format!("fetch method '{name}' : too many arguments"));
        }
        Some(o) => Some(
            o.parse::<i32>()
                .ok()
                .filter(|n| n.unsigned_abs() as usize <= MAX_HDR_HISTORY || *n > 0)
                .ok_or_else(|| {
                    format!("fetch method '{name}' : invalid occurrence '{o}' (expects an integer, -{MAX_HDR_HISTORY} at least)")
                })?,
        ),
    };
    if let Some(extra) = it.next() {
        return Err(format!(
            "fetch method '{name}' : unexpected argument '{extra}'"
        ));
    }
    if hname.bytes().any(|b| !super::edits::is_token(b)) {
        return Err(format!(
            "fetch method '{name}' : invalid header name '{hname}'"
        ));
    }
    Ok(Some(Fetch::Hdr {
        dir,
        name: (!hname.is_empty()).then(|| hname.to_string()),
        occ,
        full,
        kind,
    }))
}

impl Fetch {
    /// Reads the request or the response (its line, headers or status):
    /// finds nothing while a connection has sent none.
    pub(crate) fn needs_request(&self) -> bool {
        matches!(
            self,
            Fetch::Method
                | Fetch::Version
                | Fetch::Path
                | Fetch::Url
                | Fetch::Base
                | Fetch::Query
                | Fetch::Status
                | Fetch::Hdr { .. }
        )
    }
}

impl SampleExpr {
    /// The type of the samples (after converters).
    pub(crate) fn out_type(&self) -> SmpType {
        if !self.convs.is_empty() {
            return SmpType::Str;
        }
        match &self.fetch {
            Fetch::AlwaysTrue | Fetch::AlwaysFalse | Fetch::ProtoHttp => SmpType::Bool,
            Fetch::Src | Fetch::Dst => SmpType::Ip,
            Fetch::SrcPort | Fetch::DstPort | Fetch::Status => SmpType::Int,
            Fetch::Stk {
                what: StkWhat::Tracked,
                ..
            } => SmpType::Bool,
            Fetch::Stk { .. } => SmpType::Int,
            Fetch::Hdr { kind, .. } => match kind {
                HdrKind::Value => SmpType::Str,
                HdrKind::Count | HdrKind::Int => SmpType::Int,
                HdrKind::Ip => SmpType::Ip,
            },
            _ => SmpType::Str,
        }
    }

    pub(crate) fn needs(&self) -> Needs {
        match &self.fetch {
            Fetch::Path | Fetch::Url | Fetch::Base | Fetch::Query => Needs::ReqHead,
            Fetch::Hdr { dir: Dir::Req, .. } => Needs::ReqHead,
            Fetch::Hdr { dir: Dir::Res, .. } | Fetch::Status => Needs::ResHead,
            _ => Needs::Any,
        }
    }

    /// Calls `f` on each sample (ACL semantics) until it returns true;
    /// returns whether it did.
    pub(crate) fn any(&self, cx: &Cx<'_, '_>, f: &mut dyn FnMut(Sample<'_>) -> bool) -> bool {
        if !self.needs().available(cx.side) {
            return false;
        }
        if self.convs.is_empty() {
            return self.fetch.any(cx, f);
        }
        self.fetch.any(cx, &mut |s| f(convert(&self.convs, s)))
    }

    /// One sample (log-format semantics): the last value of a header
    /// unless an occurrence is given.
    pub(crate) fn one<'s>(&self, cx: &'s Cx<'_, '_>) -> Option<Sample<'s>> {
        if !self.needs().available(cx.side) {
            return None;
        }
        let s = self.fetch.one(cx)?;
        Some(convert(&self.convs, s))
    }
}

fn convert<'s>(convs: &[Conv], mut s: Sample<'s>) -> Sample<'s> {
    for c in convs {
        let mut bytes = match s {
            Sample::Str(b) => b,
            other => Cow::Owned(to_text(&other)),
        };
        let change = match c {
            Conv::Lower => bytes.iter().any(u8::is_ascii_uppercase),
            Conv::Upper => bytes.iter().any(u8::is_ascii_lowercase),
        };
        if change {
            let v = bytes.to_mut();
            match c {
                Conv::Lower => v.make_ascii_lowercase(),
                Conv::Upper => v.make_ascii_uppercase(),
            }
        }
        s = Sample::Str(bytes);
    }
    s
}

/// A sample as text (log-format rendering, string matching).
pub(crate) fn to_text(s: &Sample<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    write_sample(s, &mut out);
    out
}

/// Appends a sample's text form: integers in decimal, addresses as usual,
/// booleans as 1/0 (HAProxy's casts).
pub(crate) fn write_sample(s: &Sample<'_>, out: &mut Vec<u8>) {
    use std::io::Write;
    match s {
        Sample::Str(b) => out.extend_from_slice(b),
        Sample::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Sample::Ip(ip) => {
            let _ = write!(out, "{ip}");
        }
        Sample::Bool(b) => out.push(if *b { b'1' } else { b'0' }),
    }
}

/// HAProxy's `read_int64`: optional sign then digits, stopping at the first
/// other byte (`12ab` is 12, `ab` is 0). Saturates.
pub(crate) fn str_to_int(s: &[u8]) -> i64 {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, s.get(1..).unwrap_or_default()),
        Some(b'+') => (false, s.get(1..).unwrap_or_default()),
        _ => (false, s),
    };
    let mut n: i64 = 0;
    for &d in digits.iter().take_while(|d| d.is_ascii_digit()) {
        let v = i64::from(d - b'0');
        n = n.saturating_mul(10);
        n = if neg {
            n.saturating_sub(v)
        } else {
            n.saturating_add(v)
        };
    }
    n
}

/// An address in a header value: a literal, possibly with a port.
pub(crate) fn str_to_ip(s: &[u8]) -> Option<IpAddr> {
    let s = std::str::from_utf8(s).ok()?.trim();
    s.parse::<IpAddr>()
        .ok()
        .or_else(|| s.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
}

/// HTTP version text without allocating for the usual ones.
fn version_text(v: (u8, u8)) -> Cow<'static, [u8]> {
    match v {
        (1, 1) => Cow::Borrowed(b"1.1"),
        (1, 0) => Cow::Borrowed(b"1.0"),
        (2, 0) => Cow::Borrowed(b"2.0"),
        (3, 0) => Cow::Borrowed(b"3.0"),
        (0, 9) => Cow::Borrowed(b"0.9"),
        (a, b) => Cow::Owned(format!("{a}.{b}").into_bytes()),
    }
}

/// Splits a header value at commas outside double quotes, trimming blanks
/// around each element (HAProxy's `http_find_header` on list headers).
pub(crate) fn split_values(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(v);
    std::iter::from_fn(move || {
        let s = rest?;
        let mut quoted = false;
        let mut escaped = false;
        let mut end = s.len();
        for (i, &c) in s.iter().enumerate() {
            if escaped {
                escaped = false;
                continue;
            }
            match c {
                b'\\' if quoted => escaped = true,
                b'"' => quoted = !quoted,
                b',' if !quoted => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        rest = s.get(end + 1..).filter(|_| end < s.len());
        Some(trim(s.get(..end).unwrap_or_default()))
    })
}

fn trim(v: &[u8]) -> &[u8] {
    let blank = |c: &u8| *c == b' ' || *c == b'\t';
    let start = v.iter().position(|c| !blank(c)).unwrap_or(v.len());
    let end = v.iter().rposition(|c| !blank(c)).map_or(start, |e| e + 1);
    v.get(start..end).unwrap_or_default()
}

/// Calls `f` on each value of the header (every header if `name` is None)
/// as the rules left it, split at commas unless `full`.
fn hdr_values<'s>(
    cx: &'s Cx<'_, '_>,
    dir: Dir,
    name: Option<&str>,
    full: bool,
    f: &mut dyn FnMut(Cow<'s, [u8]>) -> bool,
) -> bool {
    let (headers, edits) = match dir {
        Dir::Req => (cx.req.headers, cx.req_edits),
        Dir::Res => match cx.res {
            Some((res, edits)) => (res.headers, edits),
            None => return false,
        },
    };
    edits.for_each(headers, name.map(str::as_bytes), &mut |_, value| {
        if full {
            return f(value);
        }
        match value {
            Cow::Borrowed(v) => split_values(v).any(|p| f(Cow::Borrowed(p))),
            Cow::Owned(v) => split_values(&v).any(|p| f(Cow::Owned(p.to_vec()))),
        }
    })
}

/// Occurrence `occ` of a header's values (HAProxy's `http_get_htx_hdr`):
/// 0 and 1 are the first, -1 the last, -2 the one before...
fn hdr_occ<'s>(
    cx: &'s Cx<'_, '_>,
    dir: Dir,
    name: Option<&str>,
    full: bool,
    occ: i32,
) -> Option<Cow<'s, [u8]>> {
    let mut found = None;
    if occ >= 0 {
        let mut left = occ.max(1);
        hdr_values(cx, dir, name, full, &mut |v| {
            left -= 1;
            if left == 0 {
                found = Some(v);
                return true;
            }
            false
        });
        return found;
    }
    let back = occ.unsigned_abs() as usize;
    if back > MAX_HDR_HISTORY {
        return None;
    }
    let mut ring: [Option<Cow<'s, [u8]>>; MAX_HDR_HISTORY] = std::array::from_fn(|_| None);
    let mut seen = 0usize;
    hdr_values(cx, dir, name, full, &mut |v| {
        if let Some(slot) = ring.get_mut(seen % MAX_HDR_HISTORY) {
            *slot = Some(v);
        }
        seen += 1;
        false
    });
    if back > seen {
        return None;
    }
    ring.get_mut((seen - back) % MAX_HDR_HISTORY)?.take()
}

impl Fetch {
    /// Every sample, for ACLs.
    fn any(&self, cx: &Cx<'_, '_>, f: &mut dyn FnMut(Sample<'_>) -> bool) -> bool {
        match self {
            Fetch::Hdr {
                dir,
                name,
                occ,
                full,
                kind,
            } => {
                let name = name.as_deref();
                if *kind == HdrKind::Count {
                    let mut n = 0;
                    hdr_values(cx, *dir, name, *full, &mut |_| {
                        n += 1;
                        false
                    });
                    return f(Sample::Int(n));
                }
                if let Some(occ) = occ {
                    return match hdr_occ(cx, *dir, name, *full, *occ) {
                        Some(v) => typed(*kind, v).is_some_and(&mut *f),
                        None => false,
                    };
                }
                hdr_values(cx, *dir, name, *full, &mut |v| {
                    typed(*kind, v).is_some_and(&mut *f)
                })
            }
            _ => match self.one(cx) {
                Some(s) => f(s),
                None => false,
            },
        }
    }

    /// One sample, for log-format strings.
    fn one<'s>(&self, cx: &'s Cx<'_, '_>) -> Option<Sample<'s>> {
        let req = cx.req;
        let http = !req.method.is_empty();
        let edits = cx.req_edits;
        Some(match self {
            Fetch::AlwaysTrue => Sample::Bool(true),
            Fetch::AlwaysFalse => Sample::Bool(false),
            Fetch::ProtoHttp => Sample::Bool(http),
            Fetch::Src => Sample::Ip(req.src?.ip()),
            Fetch::Dst => Sample::Ip(req.dst?.ip()),
            Fetch::SrcPort => Sample::Int(i64::from(req.src?.port())),
            Fetch::DstPort => Sample::Int(i64::from(req.dst?.port())),
            Fetch::Method if http => Sample::Str(Cow::Borrowed(req.method.as_bytes())),
            Fetch::Version if http => Sample::Str(version_text(req.version)),
            Fetch::Path if http => {
                let path = edits.path(req);
                if path.is_empty() {
                    return None;
                }
                Sample::Str(Cow::Borrowed(path.as_bytes()))
            }
            Fetch::Url if http => Sample::Str(Cow::Borrowed(edits.target(req).as_bytes())),
            Fetch::Query if http => Sample::Str(Cow::Borrowed(edits.query(req)?.as_bytes())),
            Fetch::Base if http => {
                let path = edits.path(req);
                let host = hdr_occ(cx, Dir::Req, Some("host"), false, 1);
                match host {
                    Some(h) => {
                        let mut v = h.into_owned();
                        v.extend_from_slice(path.as_bytes());
                        Sample::Str(Cow::Owned(v))
                    }
                    None if path.is_empty() => return None,
                    None => Sample::Str(Cow::Borrowed(path.as_bytes())),
                }
            }
            Fetch::Status => Sample::Int(i64::from(cx.res?.0.status)),
            Fetch::Stk { from, what } => return stk_sample(cx, *from, *what),
            Fetch::Hdr {
                dir,
                name,
                occ,
                full,
                kind,
            } => {
                let name = name.as_deref();
                if *kind == HdrKind::Count {
                    let mut n = 0;
                    hdr_values(cx, *dir, name, *full, &mut |_| {
                        n += 1;
                        false
                    });
                    return Some(Sample::Int(n));
                }
                let v = hdr_occ(cx, *dir, name, *full, occ.unwrap_or(-1))?;
                return typed(*kind, v);
            }
            Fetch::Method | Fetch::Version | Fetch::Path | Fetch::Url | Fetch::Query => {
                return None;
            }
            Fetch::Base => return None,
        })
    }
}

/// A header value as the sample type of `kind`.
fn typed(kind: HdrKind, v: Cow<'_, [u8]>) -> Option<Sample<'_>> {
    match kind {
        HdrKind::Value => Some(Sample::Str(v)),
        HdrKind::Ip => str_to_ip(&v).map(Sample::Ip),
        HdrKind::Int => Some(Sample::Int(str_to_int(&v))),
        HdrKind::Count => None,
    }
}

/// A stick-counter fetch, as HAProxy's `smp_fetch_sc_*`: no sample when the
/// counter is not tracked or the table does not store the type; 0 when the
/// key has no entry (a `src_*` lookup of an unknown address).
fn stk_sample<'s>(cx: &Cx<'_, '_>, from: StkFrom, what: StkWhat) -> Option<Sample<'s>> {
    let stk = cx.stk?;
    let now = stk.now;
    match from {
        StkFrom::Sc { n, table } => {
            let t = stk.sc.get(n);
            if what == StkWhat::Tracked {
                return Some(Sample::Bool(t.is_some()));
            }
            let t = t?;
            match table.and_then(|i| stk.tables.get(i)) {
                None if table.is_some() => None,
                None => entry_value(t.table(), Some(t.entry()), what, now),
                Some(other) => {
                    let key = KeyBuf::from_raw(t.entry().key());
                    let e = other.lookup(&key, now);
                    entry_value(other, e.as_ref(), what, now)
                }
            }
        }
        StkFrom::Src { table } => {
            let tb = stk.tables.get(table)?;
            let key = tb.def.key.key_of_ip(cx.req.src?.ip())?;
            if what == StkWhat::IncGpc0 {
                // HAProxy's src_inc_gpc0 creates the entry.
                let v = tb.update(&key, now, |st, d| {
                    d.bump(st, DataType::Gpc0, DataType::Gpc0Rate, 1, now);
                    st.has(DataType::Gpc0)
                        .then(|| d.get(st, DataType::Gpc0, now))
                })??;
                return Some(Sample::Int(v));
            }
            let e = tb.lookup(&key, now);
            entry_value(tb, e.as_ref(), what, now)
        }
    }
}

fn entry_value<'s>(
    tb: &StickTable,
    e: Option<&std::sync::Arc<Entry>>,
    what: StkWhat,
    now: u64,
) -> Option<Sample<'s>> {
    let st = &tb.def.stores;
    let data = |dt: DataType| -> Option<i64> {
        if !st.has(dt) {
            return None;
        }
        e.map_or(Some(0), |e| e.get(st, dt, now))
    };
    let v = match what {
        StkWhat::Data(dt) => data(dt)?,
        StkWhat::KBytesIn => data(DataType::BytesInCnt)? >> 10,
        StkWhat::KBytesOut => data(DataType::BytesOutCnt)? >> 10,
        StkWhat::Trackers => e.map_or(0, |e| i64::from(e.refs())),
        StkWhat::IncGpc0 => match e {
            Some(e) => e.inc_gpc0(st, now)?,
            None => data(DataType::Gpc0)?,
        },
        StkWhat::ClrGpc0 => match e {
            Some(e) => e.clr_gpc0(st, now)?,
            None => data(DataType::Gpc0)?,
        },
        StkWhat::Tracked => return None,
    };
    Some(Sample::Int(v))
}
