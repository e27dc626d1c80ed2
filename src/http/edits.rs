//! Header and request-target edits made by rules, kept as a short list of
//! operations over the original head instead of a rewritten copy.
//!
//! The original header list is never copied: [`HeaderEdits::for_each`]
//! walks it and the operations together and yields the list as the rules
//! left it, in HAProxy's order (original headers in place, minus the
//! deleted ones, values rewritten by `replace-header`; then added headers in
//! the order they were added). Conditions evaluated after an edit look
//! through the same walk, so they see it, as in HAProxy.
//!
//! Names and values of the operations live in one byte buffer owned by the
//! edits, reused from one transaction to the next (`clear`). Values never
//! contain CR, LF or NUL: such bytes are dropped when an edit is recorded,
//! so a rule cannot split a header line.

use std::borrow::Cow;

use super::acl::Re;
use super::rules::NameMatch;
use super::{Header, RequestView, split_target};

/// A byte range of `HeaderEdits::buf`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
}

#[derive(Debug, Clone)]
enum Op {
    /// `set-header`: deletes every header with that name, then adds one.
    Set {
        name: Span,
        value: Span,
    },
    Add {
        name: Span,
        value: Span,
    },
    Del {
        name: Span,
        how: NameMatch,
    },
    /// `replace-header`: each value the regex matches becomes `with`
    /// (with `\N` references to the groups).
    Replace {
        name: Span,
        re: Re,
        with: Span,
    },
}

/// The request target after `set-uri`/`set-path`/`set-query`.
#[derive(Debug, Clone, Copy)]
struct UriEdit {
    target: Span,
    path: Span,
    query: Option<Span>,
}

/// Edits accumulated by the rules of one message (see the module doc).
#[derive(Debug, Default)]
pub struct HeaderEdits {
    buf: Vec<u8>,
    ops: Vec<Op>,
    uri: Option<UriEdit>,
    /// Where rules render values before recording them (reused).
    pub(crate) scratch: Vec<u8>,
}

/// HTTP token characters (RFC 9110 `tchar`): valid in header names.
pub(crate) fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

impl HeaderEdits {
    pub const fn new() -> Self {
        HeaderEdits {
            buf: Vec::new(),
            ops: Vec::new(),
            uri: None,
            scratch: Vec::new(),
        }
    }

    /// Forgets every edit, keeping the buffers' capacity.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.ops.clear();
        self.uri = None;
        self.scratch.clear();
    }

    /// No header edit and no target change.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.uri.is_none()
    }

    /// Some header was set, added, deleted or rewritten.
    pub fn headers_changed(&self) -> bool {
        !self.ops.is_empty()
    }

    /// The request target changed (`set-uri`, `set-path`, `set-query`).
    pub fn target_changed(&self) -> bool {
        self.uri.is_some()
    }

    /// The request target to forward.
    pub fn target<'s>(&'s self, req: &RequestView<'s>) -> &'s str {
        match self.uri {
            Some(u) => self.text(u.target),
            None => req.target,
        }
    }

    /// The path as `path` sees it after the edits.
    pub fn path<'s>(&'s self, req: &RequestView<'s>) -> &'s str {
        match self.uri {
            Some(u) => self.text(u.path),
            None => req.path,
        }
    }

    /// The query as `query` sees it after the edits.
    pub fn query<'s>(&'s self, req: &RequestView<'s>) -> Option<&'s str> {
        match self.uri {
            Some(u) => u.query.map(|q| self.text(q)),
            None => req.query,
        }
    }

    /// Calls `emit(name, value)` for each header to forward, in order.
    /// Allocates only for values rewritten by `replace-header`.
    pub fn for_each_header(&self, orig: &[Header<'_>], mut emit: impl FnMut(&[u8], &[u8])) {
        self.for_each(orig, None, &mut |name, value| {
            emit(name, &value);
            false
        });
    }

    /// Appends `name: value\r\n` for each header to forward.
    pub fn write_headers(&self, orig: &[Header<'_>], out: &mut Vec<u8>) {
        self.for_each_header(orig, |name, value| {
            out.extend_from_slice(name);
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        });
    }

    /// Walks the headers as the edits left them, restricted to `name`
    /// (case-insensitive) when given; stops when `f` returns true and
    /// returns whether it did.
    pub(crate) fn for_each<'s>(
        &'s self,
        orig: &'s [Header<'_>],
        name: Option<&[u8]>,
        f: &mut dyn FnMut(&'s [u8], Cow<'s, [u8]>) -> bool,
    ) -> bool {
        let wanted = |n: &[u8]| name.is_none_or(|w| n.eq_ignore_ascii_case(w));
        for h in orig {
            let n = h.name.as_bytes();
            if !wanted(n) {
                continue;
            }
            if self.ops.is_empty() {
                if f(n, Cow::Borrowed(h.value)) {
                    return true;
                }
                continue;
            }
            if self.cleared(n, 0) {
                continue;
            }
            if f(n, self.replaced(n, Cow::Borrowed(h.value), 0)) {
                return true;
            }
        }
        for (j, op) in self.ops.iter().enumerate() {
            let (Op::Set { name: on, value } | Op::Add { name: on, value }) = op else {
                continue;
            };
            let n = self.bytes(*on);
            if !wanted(n) || self.cleared(n, j + 1) {
                continue;
            }
            if f(
                n,
                self.replaced(n, Cow::Borrowed(self.bytes(*value)), j + 1),
            ) {
                return true;
            }
        }
        false
    }

    /// Whether an operation from index `from` on deletes header `name`.
    fn cleared(&self, name: &[u8], from: usize) -> bool {
        self.ops.iter().skip(from).any(|op| match op {
            Op::Set { name: n, .. } => self.bytes(*n).eq_ignore_ascii_case(name),
            Op::Del { name: n, how } => how.matches(self.bytes(*n), name),
            _ => false,
        })
    }

    /// `value` after the `replace-header` operations from index `from` on.
    fn replaced<'s>(&'s self, name: &[u8], value: Cow<'s, [u8]>, from: usize) -> Cow<'s, [u8]> {
        let mut value = value;
        for op in self.ops.iter().skip(from) {
            let Op::Replace { name: n, re, with } = op else {
                continue;
            };
            if !self.bytes(*n).eq_ignore_ascii_case(name) {
                continue;
            }
            let Some(caps) = re.captures(&value) else {
                continue;
            };
            let mut out = Vec::new();
            exp_replace(self.bytes(*with), &caps, &mut out);
            out.retain(|b| !matches!(b, b'\r' | b'\n' | 0));
            drop(caps);
            value = Cow::Owned(out);
        }
        value
    }

    fn bytes(&self, s: Span) -> &[u8] {
        self.buf.get(s.start..s.end).unwrap_or_default()
    }

    fn text(&self, s: Span) -> &str {
        std::str::from_utf8(self.bytes(s)).unwrap_or_default()
    }

    /// Copies `b` into the buffer, without CR, LF and NUL.
    fn push(&mut self, b: &[u8]) -> Span {
        let start = self.buf.len();
        self.buf.extend(
            b.iter()
                .copied()
                .filter(|c| !matches!(c, b'\r' | b'\n' | 0)),
        );
        Span {
            start,
            end: self.buf.len(),
        }
    }

    pub(crate) fn set(&mut self, name: &str, value: &[u8]) {
        let name = self.push(name.as_bytes());
        let value = self.push(value);
        self.ops.push(Op::Set { name, value });
    }

    pub(crate) fn add(&mut self, name: &str, value: &[u8]) {
        let name = self.push(name.as_bytes());
        let value = self.push(value);
        self.ops.push(Op::Add { name, value });
    }

    pub(crate) fn del(&mut self, name: &str, how: &NameMatch) {
        let name = self.push(name.as_bytes());
        self.ops.push(Op::Del {
            name,
            how: how.clone(),
        });
    }

    pub(crate) fn replace(&mut self, name: &str, re: &Re, with: &[u8]) {
        let name = self.push(name.as_bytes());
        // `with` may hold `\x0d`: CR/LF are dropped after expansion too.
        let start = self.buf.len();
        self.buf.extend_from_slice(with);
        let with = Span {
            start,
            end: self.buf.len(),
        };
        self.ops.push(Op::Replace {
            name,
            re: re.clone(),
            with,
        });
    }

    /// `set-uri`: the whole target.
    pub(crate) fn set_uri(&mut self, target: &[u8]) {
        let target = String::from_utf8_lossy(target).into_owned();
        self.store_uri(&target);
    }

    /// `set-path`: the path, keeping scheme, authority and query.
    pub(crate) fn set_path(&mut self, req: &RequestView<'_>, path: &[u8]) {
        let path = String::from_utf8_lossy(path);
        let current = self.target(req);
        let (prefix, _, query) = split_target(current);
        let mut t = String::with_capacity(prefix.len() + path.len() + 1);
        t.push_str(prefix);
        t.push_str(&path);
        if let Some(q) = query {
            t.push('?');
            t.push_str(q);
        }
        self.store_uri(&t);
    }

    /// `set-pathq`: path and query, keeping scheme and authority.
    pub(crate) fn set_pathq(&mut self, req: &RequestView<'_>, pathq: &[u8]) {
        let pathq = String::from_utf8_lossy(pathq);
        let (prefix, _, _) = split_target(self.target(req));
        let t = format!("{prefix}{pathq}");
        self.store_uri(&t);
    }

    /// `set-query`: the query (a `?` is always written, as in HAProxy).
    pub(crate) fn set_query(&mut self, req: &RequestView<'_>, query: &[u8]) {
        let query = String::from_utf8_lossy(query);
        let (prefix, path, _) = split_target(self.target(req));
        let t = format!("{prefix}{path}?{query}");
        self.store_uri(&t);
    }

    /// Records a new target. Blanks and control bytes, which would break
    /// the request line, are percent-encoded.
    fn store_uri(&mut self, target: &str) {
        let unsafe_byte = |b: u8| b <= b' ' || b == 0x7f;
        let clean: Cow<'_, str> = if target.bytes().any(unsafe_byte) {
            let mut out = String::with_capacity(target.len() + 8);
            for c in target.chars() {
                match u8::try_from(c) {
                    Ok(b) if unsafe_byte(b) => out.push_str(&format!("%{b:02X}")),
                    _ => out.push(c),
                }
            }
            Cow::Owned(out)
        } else {
            Cow::Borrowed(target)
        };
        let (prefix, path, query) = split_target(&clean);
        let start = self.buf.len();
        self.buf.extend_from_slice(clean.as_bytes());
        let end = self.buf.len();
        let path_start = start + prefix.len();
        self.uri = Some(UriEdit {
            target: Span { start, end },
            path: Span {
                start: path_start,
                end: path_start + path.len(),
            },
            query: query.map(|q| Span {
                start: end - q.len(),
                end,
            }),
        });
    }
}

/// HAProxy's `exp_replace`: copies `template`, replacing `\N` (N a digit)
/// with group N (nothing when it did not participate), `\xHH` with that
/// byte and `\c` with `c`.
pub(crate) fn exp_replace(template: &[u8], caps: &regex::bytes::Captures<'_>, out: &mut Vec<u8>) {
    let mut i = 0;
    while let Some(&c) = template.get(i) {
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let Some(&n) = template.get(i) else {
            out.push(b'\\');
            break;
        };
        i += 1;
        if n.is_ascii_digit() {
            if let Some(m) = caps.get(usize::from(n - b'0')) {
                out.extend_from_slice(m.as_bytes());
            }
        } else if n == b'x' {
            let hex = |k: usize| template.get(k).and_then(|&h| (h as char).to_digit(16));
            match (hex(i), hex(i + 1)) {
                (Some(hi), Some(lo)) => {
                    out.push(u8::try_from(hi * 16 + lo).unwrap_or(0));
                    i += 2;
                }
                _ => out.push(b'x'),
            }
        } else {
            out.push(n);
        }
    }
}
