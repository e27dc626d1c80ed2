//! ACLs and conditions (HAProxy's section 7).
//!
//! `acl NAME CRITERION [FLAGS] [OPERATOR] [VALUE]...`: a criterion is a
//! sample fetch (`req.hdr(host)`, `src`) or an ACL keyword with a match
//! suffix (`path_beg`); flags are `-i` (case-insensitive), `-m METHOD`
//! (match method), `-f FILE` (patterns from a file, one per line), `-n`,
//! `-u ID` (accepted, no effect) and `--` (end of flags). Lines with the
//! same name are OR-ed. A condition is `if|unless` followed by terms,
//! implicitly AND-ed, with `!` negation, `||` / `or` between groups and
//! anonymous ACLs between braces (`{ path_beg /api }`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use super::fetch::{self, Sample, SampleExpr, SmpType, parse_expr};
use super::{Cx, ParseCx, Side};

/// A compiled regex (`-m reg`, `path_reg`, `replace-header`): HAProxy's
/// syntax subset that the `regex` crate accepts, on bytes, ASCII-only
/// classes and case folding (like PCRE without UTF-8 mode).
#[derive(Debug, Clone)]
pub struct Re {
    re: Arc<regex::bytes::Regex>,
    icase: bool,
}

impl PartialEq for Re {
    fn eq(&self, other: &Self) -> bool {
        self.re.as_str() == other.re.as_str() && self.icase == other.icase
    }
}

impl Eq for Re {}

impl Re {
    pub(crate) fn new(pattern: &str, icase: bool) -> Result<Re, String> {
        regex::bytes::RegexBuilder::new(pattern)
            .case_insensitive(icase)
            .unicode(false)
            .build()
            .map(|re| Re {
                re: Arc::new(re),
                icase,
            })
            .map_err(|e| {
                let why = e.to_string();
                let why = why.lines().last().unwrap_or_default().trim().to_string();
                format!("regex '{pattern}' is invalid: {why}")
            })
    }

    pub fn as_str(&self) -> &str {
        self.re.as_str()
    }

    pub(crate) fn is_match(&self, s: &[u8]) -> bool {
        self.re.is_match(s)
    }

    pub(crate) fn captures<'h>(&self, s: &'h [u8]) -> Option<regex::bytes::Captures<'h>> {
        self.re.captures(s)
    }
}

/// An IPv4 or IPv6 network (`10.0.0.0/8`, `::1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    /// Masked: host bits are zero.
    pub addr: IpAddr,
    pub prefix: u8,
}

impl IpNet {
    /// `ADDR`, `ADDR/BITS`, or for IPv4 `ADDR/DOTTED.MASK` (contiguous).
    pub fn parse(s: &str) -> Result<IpNet, String> {
        let bad = || format!("'{s}' is not a valid IPv4 or IPv6 address or network");
        let (addr, mask) = match s.split_once('/') {
            Some((a, m)) => (a, Some(m)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match mask {
            None => max,
            Some(m) if !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()) => m
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= max)
                .ok_or_else(|| format!("invalid netmask '{m}' in '{s}'"))?,
            Some(m) if addr.is_ipv4() => {
                let mask: Ipv4Addr = m
                    .parse()
                    .map_err(|_| format!("invalid netmask '{m}' in '{s}'"))?;
                let bits = u32::from(mask);
                if bits.leading_ones() + bits.trailing_zeros() != 32 {
                    return Err(format!("non-contiguous netmask '{m}' in '{s}'"));
                }
                bits.leading_ones() as u8
            }
            Some(m) => return Err(format!("invalid netmask '{m}' in '{s}'")),
        };
        Ok(IpNet {
            addr: mask_ip(addr, prefix),
            prefix,
        })
    }

    /// Whether `ip` is in the network. As HAProxy, an IPv4 address also
    /// matches IPv6 networks as `::ffff:a.b.c.d`, and IPv6 addresses of the
    /// forms `::ffff:a.b.c.d`, `::a.b.c.d` and `2002:AABB:CCDD::` (6to4)
    /// also match IPv4 networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                mask_ip(ip, self.prefix) == self.addr
            }
            (IpAddr::V6(_), IpAddr::V4(v4)) => {
                let mapped = IpAddr::V6(v4.to_ipv6_mapped());
                mask_ip(mapped, self.prefix) == self.addr
            }
            (IpAddr::V4(_), IpAddr::V6(v6)) => {
                v6_to_v4(v6).is_some_and(|v4| mask_ip(IpAddr::V4(v4), self.prefix) == self.addr)
            }
        }
    }
}

fn mask_ip(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let mask = u32::MAX
                .checked_shl(32 - u32::from(prefix.min(32)))
                .unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(bits & mask))
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let mask = u128::MAX
                .checked_shl(128 - u32::from(prefix.min(128)))
                .unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(bits & mask))
        }
    }
}

/// HAProxy's IPv6-to-IPv4 forms (see `IpNet::contains`).
fn v6_to_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let o = v6.octets();
    let s = v6.segments();
    if s.first() == Some(&0x2002) {
        let (hi, lo) = (s.get(1).copied()?, s.get(2).copied()?);
        return Some(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
    }
    let head_zero = o.get(..8)?.iter().all(|&b| b == 0);
    let mid = o.get(8..12)?;
    if head_zero && (mid == [0, 0, 0, 0] || mid == [0, 0, 0xff, 0xff]) {
        let t = o.get(12..16)?;
        return Some(Ipv4Addr::new(
            *t.first()?,
            *t.get(1)?,
            *t.get(2)?,
            *t.get(3)?,
        ));
    }
    None
}

/// An integer pattern: `N`, `N:M`, `:M`, `N:` or an operator form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntRange {
    pub min: Option<i64>,
    pub max: Option<i64>,
}

impl IntRange {
    pub fn contains(&self, n: i64) -> bool {
        self.min.is_none_or(|m| n >= m) && self.max.is_none_or(|m| n <= m)
    }
}

/// HAProxy's match methods (`-m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchMethod {
    /// The fetch returned something.
    Found,
    Bool,
    Int,
    Ip,
    /// Length of the string, against integer patterns.
    Len,
    Str,
    Sub,
    Reg,
    Beg,
    End,
    /// A `/`-delimited component (`-m dir`).
    Dir,
    /// A `.`/`/`/`?`/`:`-delimited component (`-m dom`).
    Dom,
}

impl MatchMethod {
    fn by_name(name: &str) -> Result<MatchMethod, String> {
        Ok(match name {
            "found" => MatchMethod::Found,
            "bool" => MatchMethod::Bool,
            "int" => MatchMethod::Int,
            "ip" => MatchMethod::Ip,
            "len" => MatchMethod::Len,
            "str" => MatchMethod::Str,
            "sub" => MatchMethod::Sub,
            "reg" => MatchMethod::Reg,
            "beg" => MatchMethod::Beg,
            "end" => MatchMethod::End,
            "dir" => MatchMethod::Dir,
            "dom" => MatchMethod::Dom,
            "bin" => return Err("matching method 'bin' is not supported yet".to_string()),
            _ => {
                return Err(format!(
                    "unknown matching method '{name}' when parsing ACL expression"
                ));
            }
        })
    }

    fn default_for(t: SmpType) -> MatchMethod {
        match t {
            SmpType::Bool => MatchMethod::Bool,
            SmpType::Int => MatchMethod::Int,
            SmpType::Ip => MatchMethod::Ip,
            SmpType::Str => MatchMethod::Str,
        }
    }
}

/// Compiled patterns of one ACL line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Patterns {
    None,
    /// Lowercased when the ACL is case-insensitive.
    Strs(Vec<Box<[u8]>>),
    Regexes(Vec<Re>),
    Ints(Vec<IntRange>),
    Ips(Vec<IpNet>),
}

/// One `acl` line (or one anonymous ACL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclExpr {
    pub expr: SampleExpr,
    pub method: MatchMethod,
    /// `-i`.
    pub icase: bool,
    pub patterns: Patterns,
}

/// A named ACL (its lines, OR-ed) or an anonymous one (`name: None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl {
    pub name: Option<String>,
    pub exprs: Vec<AclExpr>,
}

/// One term of a condition: an ACL, possibly negated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub neg: bool,
    pub acl: Arc<Acl>,
}

/// `if|unless TERMS`: groups separated by `||`/`or` (OR), the terms of a
/// group AND-ed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub unless: bool,
    pub suites: Vec<Vec<Term>>,
}

impl Condition {
    /// Evaluates the condition on a request (and a response, for response
    /// rules), without rule edits. Response fetches need `res`.
    pub fn eval(
        &self,
        req: &super::RequestView<'_>,
        res: Option<&super::ResponseView<'_>>,
    ) -> bool {
        let cx = Cx {
            side: if res.is_some() {
                Side::Response
            } else {
                Side::Request
            },
            req,
            req_edits: &super::NO_EDITS,
            res: res.map(|r| (r, &super::NO_EDITS)),
            stk: None,
        };
        self.eval_cx(&cx)
    }

    pub(crate) fn eval_cx(&self, cx: &Cx<'_, '_>) -> bool {
        let pass = self
            .suites
            .iter()
            .any(|suite| suite.iter().all(|t| t.acl.matches(cx) != t.neg));
        pass != self.unless
    }

    /// Replaces each named ACL by its final definition (lines written after
    /// the rule extend it, as in HAProxy where rules point to the ACL).
    pub(crate) fn resolve(&mut self, find: &dyn Fn(&str) -> Option<Arc<Acl>>) {
        for term in self.suites.iter_mut().flatten() {
            if let Some(acl) = term.acl.name.as_deref().and_then(find) {
                term.acl = acl;
            }
        }
    }
}

impl Acl {
    pub(crate) fn matches(&self, cx: &Cx<'_, '_>) -> bool {
        self.exprs.iter().any(|e| e.matches(cx))
    }
}

impl AclExpr {
    pub(crate) fn matches(&self, cx: &Cx<'_, '_>) -> bool {
        self.expr.any(cx, &mut |s| self.match_sample(&s))
    }

    fn match_sample(&self, s: &Sample<'_>) -> bool {
        match (self.method, &self.patterns) {
            (MatchMethod::Found, _) => true,
            (MatchMethod::Bool, _) => sample_bool(s),
            (MatchMethod::Int, Patterns::Ints(ranges)) => {
                sample_int(s).is_some_and(|n| ranges.iter().any(|r| r.contains(n)))
            }
            (MatchMethod::Len, Patterns::Ints(ranges)) => with_text(s, |t| {
                let n = i64::try_from(t.len()).unwrap_or(i64::MAX);
                ranges.iter().any(|r| r.contains(n))
            }),
            (MatchMethod::Ip, Patterns::Ips(nets)) => {
                sample_ip(s).is_some_and(|ip| nets.iter().any(|n| n.contains(ip)))
            }
            (MatchMethod::Reg, Patterns::Regexes(res)) => {
                with_text(s, |t| res.iter().any(|r| r.is_match(t)))
            }
            (m, Patterns::Strs(pats)) => {
                with_text(s, |t| pats.iter().any(|p| match_str(m, self.icase, t, p)))
            }
            _ => false,
        }
    }
}

/// Calls `f` on the text form of a sample, formatting numbers and
/// addresses on the stack.
fn with_text<R>(s: &Sample<'_>, f: impl FnOnce(&[u8]) -> R) -> R {
    use std::io::Write;
    match s {
        Sample::Str(b) => f(b),
        other => {
            let mut buf = [0u8; 64];
            let mut w: &mut [u8] = &mut buf;
            let _ = match other {
                Sample::Int(n) => write!(w, "{n}"),
                Sample::Ip(ip) => write!(w, "{ip}"),
                Sample::Bool(b) => write!(w, "{}", u8::from(*b)),
                Sample::Str(_) => Ok(()),
            };
            let used = 64 - w.len();
            f(buf.get(..used).unwrap_or_default())
        }
    }
}

fn sample_bool(s: &Sample<'_>) -> bool {
    match s {
        Sample::Bool(b) => *b,
        Sample::Int(n) => *n != 0,
        Sample::Str(b) => !b.is_empty() && fetch::str_to_int(b) != 0,
        Sample::Ip(_) => true,
    }
}

/// HAProxy's casts to integer: strings are read as `read_int64` does (an
/// empty one fails), IPv4 addresses as their 32-bit value.
fn sample_int(s: &Sample<'_>) -> Option<i64> {
    match s {
        Sample::Int(n) => Some(*n),
        Sample::Bool(b) => Some(i64::from(*b)),
        Sample::Str(b) if b.is_empty() => None,
        Sample::Str(b) => Some(fetch::str_to_int(b)),
        Sample::Ip(IpAddr::V4(a)) => Some(i64::from(u32::from(*a))),
        Sample::Ip(IpAddr::V6(_)) => None,
    }
}

fn sample_ip(s: &Sample<'_>) -> Option<IpAddr> {
    match s {
        Sample::Ip(ip) => Some(*ip),
        Sample::Str(b) => fetch::str_to_ip(b),
        Sample::Int(n) => u32::try_from(*n)
            .ok()
            .map(|v| IpAddr::V4(Ipv4Addr::from(v))),
        Sample::Bool(_) => None,
    }
}

fn eq(a: &[u8], b: &[u8], icase: bool) -> bool {
    if icase {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

/// String match methods; `p` is lowercased already when `icase`.
fn match_str(m: MatchMethod, icase: bool, s: &[u8], p: &[u8]) -> bool {
    match m {
        MatchMethod::Str => s.len() == p.len() && eq(s, p, icase),
        MatchMethod::Beg => s.get(..p.len()).is_some_and(|h| eq(h, p, icase)),
        MatchMethod::End => s
            .len()
            .checked_sub(p.len())
            .and_then(|at| s.get(at..))
            .is_some_and(|t| eq(t, p, icase)),
        MatchMethod::Sub => p.is_empty() || s.windows(p.len()).any(|w| eq(w, p, icase)),
        MatchMethod::Dir => match_word(s, p, icase, b"/?"),
        MatchMethod::Dom => match_word(s, p, icase, b"/?.:"),
        _ => false,
    }
}

/// HAProxy's `match_word`: `p` (stripped of delimiters at both ends) occurs
/// in `s` between delimiters or the ends of `s`.
fn match_word(s: &[u8], p: &[u8], icase: bool, delims: &[u8]) -> bool {
    let is_delim = |c: &u8| delims.contains(c);
    let start = p.iter().position(|c| !is_delim(c)).unwrap_or(p.len());
    let end = p
        .iter()
        .rposition(|c| !is_delim(c))
        .map_or(start, |e| e + 1);
    let p = p.get(start..end).unwrap_or_default();
    if p.is_empty() || p.len() > s.len() {
        return false;
    }
    let mut may_match = true;
    for (i, c) in s.iter().enumerate() {
        if i + p.len() > s.len() {
            break;
        }
        if is_delim(c) {
            may_match = true;
            continue;
        }
        if !may_match {
            continue;
        }
        let hit = s.get(i..i + p.len()).is_some_and(|w| eq(w, p, icase));
        let ends = s.get(i + p.len()).is_none_or(is_delim);
        if hit && ends {
            return true;
        }
        may_match = false;
    }
    false
}

/// HAProxy's predefined ACLs that ringproxy can evaluate, as ACL lines.
const BUILTINS: &[(&str, &[&str])] = &[
    ("TRUE", &["always_true"]),
    ("FALSE", &["always_false"]),
    ("HTTP", &["req.proto_http"]),
    ("HTTP_1.0", &["req.ver", "1.0"]),
    ("HTTP_1.1", &["req.ver", "1.1"]),
    ("HTTP_2.0", &["req.ver", "2.0"]),
    ("HTTP_3.0", &["req.ver", "3.0"]),
    ("HTTP_CONTENT", &["req.hdr_val(content-length)", "gt", "0"]),
    ("HTTP_URL_ABS", &["url_reg", "^[^/:]*://"]),
    ("HTTP_URL_SLASH", &["url_beg", "/"]),
    ("HTTP_URL_STAR", &["url", "*"]),
    ("LOCALHOST", &["src", "127.0.0.1/8", "::1"]),
    ("METH_CONNECT", &["method", "CONNECT"]),
    ("METH_DELETE", &["method", "DELETE"]),
    ("METH_GET", &["method", "GET", "HEAD"]),
    ("METH_HEAD", &["method", "HEAD"]),
    ("METH_OPTIONS", &["method", "OPTIONS"]),
    ("METH_POST", &["method", "POST"]),
    ("METH_PUT", &["method", "PUT"]),
    ("METH_TRACE", &["method", "TRACE"]),
];

/// Predefined ACLs ringproxy cannot evaluate yet.
const UNSUPPORTED_BUILTINS: &[&str] = &["RDP_COOKIE", "REQ_CONTENT", "WAIT_END"];

fn builtin(name: &str, cx: &mut ParseCx<'_>) -> Result<Option<Arc<Acl>>, String> {
    if UNSUPPORTED_BUILTINS.contains(&name) {
        return Err(format!("predefined ACL '{name}' is not supported yet"));
    }
    let Some((_, def)) = BUILTINS.iter().find(|(n, _)| *n == name) else {
        return Ok(None);
    };
    let words: Vec<String> = def.iter().map(|w| w.to_string()).collect();
    let expr = parse_acl_expr(&words, cx)?;
    Ok(Some(Arc::new(Acl {
        name: Some(name.to_string()),
        exprs: vec![expr],
    })))
}

/// Parses `CRITERION [FLAGS] [PATTERNS]` (`words[0]` is the criterion).
pub(crate) fn parse_acl_expr(words: &[String], cx: &mut ParseCx<'_>) -> Result<AclExpr, String> {
    let Some(criterion) = words.first().filter(|w| !w.is_empty()) else {
        return Err("missing ACL expression".to_string());
    };
    let (expr, suffix) = parse_expr(criterion, true, cx.tables)
        .map_err(|e| format!("{e} in ACL expression '{criterion}'"))?;
    let mut method = match suffix {
        Some(m) => MatchMethod::by_name(m)?,
        None => MatchMethod::default_for(expr.out_type()),
    };
    let mut icase = false;
    let mut files = Vec::new();
    let mut i = 1;
    while let Some(w) = words.get(i).filter(|w| w.starts_with('-')) {
        let value = words.get(i + 1).filter(|v| !v.is_empty());
        match w.as_str() {
            "-i" => icase = true,
            "-n" => {}
            "--" => {
                i += 1;
                break;
            }
            "-m" => {
                let v = value.ok_or("'-m' expects a match method name")?;
                if !files.is_empty() {
                    return Err(
                        "'-m' must only be specified before patterns and files in parsing ACL expression"
                            .to_string(),
                    );
                }
                method = MatchMethod::by_name(v)?;
                i += 1;
            }
            "-f" => {
                files.push(value.ok_or("'-f' expects a file name")?.clone());
                i += 1;
            }
            "-u" => {
                value.ok_or("'-u' expects an ACL unique id")?;
                i += 1;
            }
            "-M" => return Err("'-M' (map files as ACL patterns) is not supported yet".to_string()),
            other => {
                return Err(format!(
                    "'{other}' is not a valid ACL option. Please use '--' before any pattern beginning with a '-'"
                ));
            }
        }
        i += 1;
    }
    let mut texts: Vec<String> = words.get(i..).unwrap_or_default().to_vec();
    for f in &files {
        let bytes =
            (cx.read_file)(f).map_err(|e| format!("failed to open pattern file <{f}>: {e}"))?;
        texts.extend(pattern_file_lines(&bytes));
    }
    let patterns = compile(method, icase, &texts)
        .map_err(|e| format!("{e} in ACL expression '{criterion}'"))?;
    Ok(AclExpr {
        expr,
        method,
        icase,
        patterns,
    })
}

/// HAProxy's pattern file rules: one pattern per line, leading blanks
/// skipped, lines starting with `#` and empty lines ignored, the rest kept
/// as is (trailing blanks included).
fn pattern_file_lines(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    text.split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .map(|l| l.trim_start_matches([' ', '\t']))
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

fn compile(method: MatchMethod, icase: bool, texts: &[String]) -> Result<Patterns, String> {
    Ok(match method {
        MatchMethod::Found | MatchMethod::Bool => {
            if let Some(p) = texts.first() {
                return Err(format!(
                    "match method '{}' takes no pattern, got '{p}'",
                    if method == MatchMethod::Found {
                        "found"
                    } else {
                        "bool"
                    }
                ));
            }
            Patterns::None
        }
        MatchMethod::Int | MatchMethod::Len => Patterns::Ints(parse_ints(texts)?),
        MatchMethod::Ip => Patterns::Ips(
            texts
                .iter()
                .map(|t| IpNet::parse(t))
                .collect::<Result<_, _>>()?,
        ),
        MatchMethod::Reg => Patterns::Regexes(
            texts
                .iter()
                .map(|t| Re::new(t, icase))
                .collect::<Result<_, _>>()?,
        ),
        _ => Patterns::Strs(
            texts
                .iter()
                .map(|t| {
                    let mut b = t.as_bytes().to_vec();
                    if icase {
                        b.make_ascii_lowercase();
                    }
                    b.into_boxed_slice()
                })
                .collect(),
        ),
    })
}

/// Integer patterns with HAProxy's operators (`eq`, `ge`, `gt`, `le`, `lt`
/// apply to the value after them).
fn parse_ints(texts: &[String]) -> Result<Vec<IntRange>, String> {
    let mut out = Vec::new();
    let mut op: Option<&str> = None;
    for t in texts {
        if matches!(t.as_str(), "eq" | "ge" | "gt" | "le" | "lt") {
            op = Some(t.as_str());
            continue;
        }
        let range = match op.take() {
            None => parse_range(t)?,
            Some(o) => {
                let n = parse_int(t)?;
                match o {
                    "eq" => IntRange {
                        min: Some(n),
                        max: Some(n),
                    },
                    "ge" => IntRange {
                        min: Some(n),
                        max: None,
                    },
                    "gt" => IntRange {
                        min: Some(n.saturating_add(1)),
                        max: None,
                    },
                    "le" => IntRange {
                        min: None,
                        max: Some(n),
                    },
                    _ => IntRange {
                        min: None,
                        max: Some(n.saturating_sub(1)),
                    },
                }
            }
        };
        out.push(range);
    }
    if let Some(o) = op {
        return Err(format!("missing value after operator '{o}'"));
    }
    Ok(out)
}

fn parse_int(t: &str) -> Result<i64, String> {
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "'{t}' is neither a number nor a supported operator"
        ));
    }
    t.parse().map_err(|_| format!("'{t}' is out of range"))
}

/// `N`, `N:M`, `:M`, `N:`.
fn parse_range(t: &str) -> Result<IntRange, String> {
    let Some((lo, hi)) = t.split_once(':') else {
        let n = parse_int(t)?;
        return Ok(IntRange {
            min: Some(n),
            max: Some(n),
        });
    };
    let side = |s: &str| (!s.is_empty()).then(|| parse_int(s)).transpose();
    let range = IntRange {
        min: side(lo)?,
        max: side(hi)?,
    };
    if range.min.is_none() && range.max.is_none() {
        return Err(format!("'{t}' is not a valid integer range"));
    }
    if let (Some(a), Some(b)) = (range.min, range.max)
        && a > b
    {
        return Err(format!("'{t}' is not a valid integer range (low > high)"));
    }
    Ok(range)
}

/// `acl NAME CRITERION...` (`words[0]` is `acl`): parses the line and
/// returns the name and the expression; the caller appends it to the
/// proxy's ACL of that name.
pub(crate) fn parse_acl_line(
    words: &[String],
    cx: &mut ParseCx<'_>,
) -> Result<(String, AclExpr), String> {
    let Some(name) = words.get(1).filter(|w| !w.is_empty()) else {
        return Err("'acl' expects an ACL name and a criterion".to_string());
    };
    if let Some(c) = name
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
    {
        return Err(format!(
            "character '{}' is not permitted in acl name '{name}'",
            c.escape_default()
        ));
    }
    if name.eq_ignore_ascii_case("or") {
        return Err(format!(
            "acl name '{name}' will never match. 'or' is used to express a logical disjunction within a condition"
        ));
    }
    let expr = parse_acl_expr(words.get(2..).unwrap_or_default(), cx)
        .map_err(|e| format!("error detected while parsing ACL '{name}' : {e}"))?;
    Ok((name.clone(), expr))
}

/// Parses `if|unless TERMS` (`words[0]` is `if` or `unless`). `side` says
/// where it is evaluated: ACLs that can never match there are reported as
/// warnings, as HAProxy does.
pub(crate) fn parse_condition(
    words: &[String],
    side: Side,
    where_: &str,
    cx: &mut ParseCx<'_>,
) -> Result<Condition, String> {
    let unless = match words.first().map(String::as_str) {
        Some("if") => false,
        Some("unless") => true,
        _ => return Err("conditions must start with either 'if' or 'unless'".to_string()),
    };
    let mut suites: Vec<Vec<Term>> = vec![Vec::new()];
    let mut neg = false;
    let mut i = 1;
    while let Some(w) = words.get(i) {
        i += 1;
        let mut word = w.as_str();
        while let Some(rest) = word.strip_prefix('!') {
            neg = !neg;
            word = rest;
        }
        if word.is_empty() {
            continue;
        }
        if word.eq_ignore_ascii_case("or") || word == "||" {
            suites.push(Vec::new());
            neg = false;
            continue;
        }
        let acl = if word == "{" {
            let close = words
                .get(i..)
                .unwrap_or_default()
                .iter()
                .position(|w| w == "}")
                .ok_or("missing closing '}' in condition")?;
            let inner = words.get(i..i + close).unwrap_or_default();
            i += close + 1;
            let expr = parse_acl_expr(inner, cx)?;
            Arc::new(Acl {
                name: None,
                exprs: vec![expr],
            })
        } else if word == "}" {
            return Err("unexpected '}' in condition".to_string());
        } else {
            match cx.acls.iter().find(|a| a.name.as_deref() == Some(word)) {
                Some(acl) => acl.clone(),
                None => builtin(word, cx)?.ok_or_else(|| format!("no such ACL : '{word}'"))?,
            }
        };
        warn_conflicts(&acl, side, where_, cx);
        if let Some(suite) = suites.last_mut() {
            suite.push(Term { neg, acl });
        }
        neg = false;
    }
    suites.retain(|s| !s.is_empty());
    if suites.is_empty() {
        return Err(format!(
            "missing condition after '{}'",
            if unless { "unless" } else { "if" }
        ));
    }
    Ok(Condition { unless, suites })
}

/// HAProxy's warnings for ACLs whose fetches are not available where the
/// condition is evaluated (they never match there).
fn warn_conflicts(acl: &Acl, side: Side, where_: &str, cx: &mut ParseCx<'_>) {
    warn_unavailable(acl, |e| !e.expr.needs().available(side), where_, cx);
}

/// The same warnings for a condition evaluated before any request exists
/// (`tcp-request connection` and `session` rules): its ACLs that read the
/// request or the response never match there.
pub(crate) fn warn_needs_request(cond: &Condition, where_: &str, cx: &mut ParseCx<'_>) {
    for term in cond.suites.iter().flatten() {
        warn_unavailable(&term.acl, |e| e.expr.fetch.needs_request(), where_, cx);
    }
}

fn warn_unavailable(
    acl: &Acl,
    unavailable: impl Fn(&AclExpr) -> bool,
    where_: &str,
    cx: &mut ParseCx<'_>,
) {
    let bad: Vec<&AclExpr> = acl.exprs.iter().filter(|e| unavailable(e)).collect();
    let Some(first) = bad.first() else { return };
    let kw = &first.expr.text;
    let msg = match (&acl.name, bad.len() == acl.exprs.len()) {
        (Some(n), true) => format!(
            "acl '{n}' will never match because it only involves keywords that are incompatible with '{where_}'"
        ),
        (None, _) => format!(
            "anonymous acl will never match because it uses keyword '{kw}' which is incompatible with '{where_}'"
        ),
        (Some(n), false) => {
            format!("acl '{n}' involves keywords '{kw}' which is incompatible with '{where_}'")
        }
    };
    cx.warnings.push(msg);
}
