//! Decisions taken on a parsed head, and the head we forward. Pure: these
//! functions look at the configuration and the parsed head and write into a
//! pooled vector; the caller applies the outcome.

use super::ReqMeta;
use crate::stream::{Cause, Phase, Termination};
use std::io::Write;

use crate::backend::lb::hash_bytes;
use crate::config::{Balance, HttpConnMode, Mode, effective_conn_mode};
use crate::http::{
    HeaderEdits, RequestView, ResponseView, StickKeys, StkCx, TcpVerdict, Tracking, Verdict,
    apply_forwardfor, apply_request_rules, apply_response_rules, apply_tcp_rules,
    backend_rules_apply, select_backend, stick_keys,
};
use crate::proto::http1::{
    BodyFraming, ConnIntent, EditError, HeadWriter, RequestHead, RespFraming, ResponseHead,
    Version, is_hop_by_hop,
};
use crate::runtime::Runtime;
use crate::session::SessionAddrs;
use crate::stats::service;

/// What to do with a complete request head.
#[derive(Debug)]
pub enum ReqOutcome {
    /// Send `head` (the rebuilt head) then the body to `backend`.
    Forward {
        backend: usize,
        meta: FwdMeta,
        framing: BodyFraming,
        head: Vec<u8>,
        /// `balance uri` / `hdr(name)` key for this request.
        lb_key: Option<u32>,
        /// The backend's `stick` rules' keys for this request.
        stick: Option<Box<StickKeys>>,
    },
    /// A `tcp-request content reject` rule refused the request: close the
    /// connection without an answer (as HAProxy does).
    Reject,
    /// Answer from the proxy: `bytes` is a full response when the proxy
    /// built one (return, redirect), else the default page for `status`.
    Answer {
        status: u16,
        bytes: Option<Vec<u8>>,
        meta: AnswerMeta,
    },
}

#[derive(Debug, Clone, Copy)]
pub struct FwdMeta {
    pub req: ReqMeta,
    /// The server connection closes after this response
    /// (`http-server-close` / `httpclose`).
    pub srv_close: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct AnswerMeta {
    pub req: ReqMeta,
    /// The request has a body we would have to read to find the next one.
    pub has_body: bool,
    /// A `deny` rule answered (counted as a denied request).
    pub denied: bool,
    /// The backend the request was switched to before the answer (None:
    /// answered by the frontend's rules), for the log and error pages.
    pub backend: Option<usize>,
    /// How the log's termination state records the answer.
    pub term: Termination,
    /// Answered by an internal service (stats page, monitor-uri,
    /// use-service): counted as intercepted by the frontend.
    pub intercepted: bool,
    /// Not logged (monitor-uri).
    pub nolog: bool,
}

impl AnswerMeta {
    pub fn close(&self) -> bool {
        self.req.close || self.has_body
    }
}

fn req_meta(h: &RequestHead) -> ReqMeta {
    ReqMeta {
        method: h.method,
        version: h.version,
        close: h.conn == ConnIntent::Close || h.te_cl_conflict,
        te_cl_conflict: h.te_cl_conflict,
        upgrade: h.upgrade.is_some(),
    }
}

/// Decides what happens to a request of frontend `fe` (HAProxy's order:
/// the frontend's `http-request` rules, backend switching, the backend's
/// rules, `option forwardfor`), and writes the head to forward into `out`
/// (a pooled vector: the outcome takes it when it forwards or answers with
/// bytes; otherwise the caller gets it back to pool).
/// `edits` is the shard's scratch list, cleared here. `trk` holds the
/// session's stick counters and receives the stream's own: the request
/// counts in each counter visible when it arrives, then `tcp-request
/// content` and `http-request` rules may track more (seed 002).
pub fn request_outcome(
    rt: &Runtime,
    fe: usize,
    h: &RequestHead,
    addrs: &SessionAddrs,
    out: &mut Vec<u8>,
    edits: &mut HeaderEdits,
    trk: &mut Tracking<'_>,
) -> ReqOutcome {
    let mut meta = req_meta(h);
    let has_body = h.framing.has_body();
    let fe_cfg = &rt.config.frontends[fe];
    let version = match h.version {
        Version::Http10 => (1, 0),
        Version::Http11 => (1, 1),
    };
    let view = RequestView::new(
        h.method_str,
        h.target,
        version,
        h.headers,
        addrs.src,
        addrs.dst,
    );
    edits.clear();
    trk.cx().sc.count_request(trk.now);
    if !fe_cfg.tcp_req_cont.is_empty()
        && apply_tcp_rules(&fe_cfg.tcp_req_cont, &view, trk) == TcpVerdict::Reject
    {
        return ReqOutcome::Reject;
    }
    // Internal services: monitor-uri before any rule, a proxy's stats page
    // after its rules (HAProxy's order).
    let keep = !meta.close && !has_body;
    if let Some(r) = service::monitor(&fe_cfg.services, &view) {
        return service_answer(r, meta, has_body, None);
    }
    let verdict = apply_request_rules(&fe_cfg.http_request, &view, edits, trk);
    if let Some(o) = verdict_answer(rt, verdict, &view, edits, meta, has_body, out) {
        return o;
    }
    if let Some(r) = service::stats(rt, fe_cfg.services.stats.as_deref(), &view, keep) {
        return service_answer(r, meta, has_body, None);
    }
    let stk = trk.cx();
    let Some(backend) = select_backend(fe_cfg, &view, edits, Some(&stk)) else {
        // No backend: HAProxy answers 503 ("SC" with no server).
        let mut a = answer(503, None, meta, has_body);
        if let ReqOutcome::Answer { meta, .. } = &mut a {
            meta.term = Termination::new(Cause::ServerAbort, Phase::Connect);
        }
        return a;
    };
    let be_cfg = &rt.config.backends[backend];
    debug_assert_eq!(be_cfg.mode, Mode::Http);
    if backend_rules_apply(fe_cfg, backend) {
        if !be_cfg.tcp_req_cont.is_empty()
            && apply_tcp_rules(&be_cfg.tcp_req_cont, &view, trk) == TcpVerdict::Reject
        {
            return ReqOutcome::Reject;
        }
        let verdict = apply_request_rules(&be_cfg.http_request, &view, edits, trk);
        if let Some(mut o) = verdict_answer(rt, verdict, &view, edits, meta, has_body, out) {
            if let ReqOutcome::Answer { meta, .. } = &mut o {
                meta.backend = Some(backend);
            }
            return o;
        }
        if let Some(r) = service::stats(rt, be_cfg.services.stats.as_deref(), &view, keep) {
            return service_answer(r, meta, has_body, Some(backend));
        }
    }
    apply_forwardfor(fe_cfg, be_cfg, &view, edits);
    let mode = effective_conn_mode(fe_cfg, be_cfg);
    if mode == HttpConnMode::Close {
        meta.close = true;
    }
    let upgrade = h.upgrade.is_some();
    // http-server-close and httpclose close the server side after the
    // response, and say so to the server.
    let srv_intent = if mode == HttpConnMode::KeepAlive || upgrade {
        ConnIntent::KeepAlive
    } else {
        ConnIntent::Close
    };
    let target = if edits.target_changed() {
        edits.target(&view)
    } else {
        h.target
    };
    let written = (|| {
        let mut w = HeadWriter::request(out, h.method_str, target, Version::Http11)?;
        if edits.headers_changed() {
            let mut err = Ok(());
            edits.for_each_header(h.headers, |name, value| {
                let name = std::str::from_utf8(name).unwrap_or("");
                let keep_upgrade = upgrade && name.eq_ignore_ascii_case("upgrade");
                if err.is_ok() && (keep_upgrade || !is_hop_by_hop(name, h.headers)) {
                    err = w.header(name, value).map(|_| ());
                }
            });
            err?;
        } else {
            w.end_to_end(h.headers, upgrade)?;
        }
        w.connection(Version::Http11, srv_intent, upgrade);
        w.finish();
        Ok::<(), EditError>(())
    })();
    if let Err(e) = written {
        log::debug!("cannot write the request head: {e}");
        let mut a = answer(e.status(), None, meta, has_body);
        if let ReqOutcome::Answer { meta, .. } = &mut a {
            meta.backend = Some(backend);
            meta.term = Termination::new(Cause::Proxy, Phase::Request);
        }
        return a;
    }
    ReqOutcome::Forward {
        backend,
        meta: FwdMeta {
            req: meta,
            srv_close: srv_intent == ConnIntent::Close,
        },
        framing: h.framing,
        head: std::mem::take(out),
        lb_key: lb_key(&be_cfg.balance, h),
        stick: if be_cfg.stick_rules.is_empty() {
            None
        } else {
            stick_keys(&be_cfg.stick_rules, &view, &rt.tables)
        },
    }
}

fn answer(status: u16, bytes: Option<Vec<u8>>, req: ReqMeta, has_body: bool) -> ReqOutcome {
    ReqOutcome::Answer {
        status,
        bytes,
        meta: AnswerMeta {
            req,
            has_body,
            denied: false,
            backend: None,
            term: Termination::new(Cause::Local, Phase::Request),
            intercepted: false,
            nolog: false,
        },
    }
}

/// The answer of an internal service (`crate::stats::service`).
fn service_answer(
    r: service::Reply,
    req: ReqMeta,
    has_body: bool,
    backend: Option<usize>,
) -> ReqOutcome {
    let mut a = answer(r.status, r.bytes, req, has_body);
    if let ReqOutcome::Answer { meta, .. } = &mut a {
        meta.intercepted = true;
        meta.nolog = r.nolog;
        meta.backend = backend;
    }
    a
}

/// The answer a final rule asks for; None to go on. `deny` closes the
/// connection (HAProxy's reply is final); `return` and `redirect` keep it
/// when the request allows.
fn verdict_answer(
    rt: &Runtime,
    v: Verdict<'_>,
    view: &RequestView<'_>,
    edits: &HeaderEdits,
    mut req: ReqMeta,
    has_body: bool,
    out: &mut Vec<u8>,
) -> Option<ReqOutcome> {
    let keep = !req.close && !has_body;
    let conn_line: &[u8] = if keep { b"" } else { b"connection: close\r\n" };
    match v {
        Verdict::Continue => None,
        Verdict::Deny { status } => {
            req.close = true;
            let mut a = answer(status, None, req, has_body);
            if let ReqOutcome::Answer { meta, .. } = &mut a {
                meta.denied = true;
                meta.term = Termination::new(Cause::Proxy, Phase::Request);
            }
            Some(a)
        }
        Verdict::UseService(name) => Some(service_answer(
            service::use_service(rt, name, view, keep),
            req,
            has_body,
            None,
        )),
        Verdict::Redirect { status, location } => {
            out.clear();
            let _ = write!(
                out,
                "HTTP/1.1 {status} {}\r\nlocation: {location}\r\ncontent-length: 0\r\n",
                crate::proto::http1::reason_phrase(status)
            );
            out.extend_from_slice(conn_line);
            out.extend_from_slice(b"\r\n");
            Some(answer(status, Some(std::mem::take(out)), req, has_body))
        }
        Verdict::Return(spec) => {
            out.clear();
            let mut body = Vec::new();
            if !spec.render(view, edits, out, &mut body) {
                return Some(answer(spec.status, None, req, has_body));
            }
            out.extend_from_slice(conn_line);
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(&body);
            Some(answer(
                spec.status,
                Some(std::mem::take(out)),
                req,
                has_body,
            ))
        }
    }
}

/// The hash `balance uri` or `balance hdr(name)` uses for this request
/// (HAProxy's map-based sdbm); None for other algorithms, or when the
/// header is absent (the pick then falls back to round robin).
fn lb_key(balance: &Balance, h: &RequestHead) -> Option<u32> {
    match balance {
        Balance::Uri {
            whole,
            path_only,
            len,
            depth,
        } => {
            let mut uri = h.target;
            if *path_only && let Some(i) = uri.find("://") {
                let rest = &uri[i + 3..];
                uri = rest.find('/').map_or("/", |j| &rest[j..]);
            }
            if !whole && let Some(q) = uri.find('?') {
                uri = &uri[..q];
            }
            if let Some(d) = depth {
                // One level per slash: stop before the (d+1)th.
                if let Some((i, _)) = uri.match_indices('/').nth(*d as usize) {
                    uri = &uri[..i];
                }
            }
            let bytes = uri.as_bytes();
            let bytes = match len {
                Some(l) => &bytes[..bytes.len().min(*l as usize)],
                None => bytes,
            };
            Some(hash_bytes(bytes))
        }
        Balance::Hdr {
            name,
            use_domain_only,
        } => {
            let v = h.header(name)?;
            if *use_domain_only {
                // The main label of a host name: "haproxy" in
                // "www.haproxy.org" (HAProxy hashes that part only).
                let host = v.split(|&b| b == b':').next().unwrap_or(v);
                let mut labels = host.rsplit(|&b| b == b'.');
                let last = labels.next();
                let main = labels.next().or(last).unwrap_or(host);
                Some(hash_bytes(main))
            } else {
                Some(hash_bytes(v))
            }
        }
        _ => None,
    }
}

/// What to do with a response head.
#[derive(Debug)]
pub struct RspOutcome {
    pub status: u16,
    /// An interim (1xx, not 101) head: forwarded, then another head follows.
    pub interim: bool,
    pub framing: RespFraming,
    /// The client connection stays open after this response.
    pub cli_keepalive: bool,
    /// The server connection may carry another request afterwards.
    pub srv_reusable: bool,
    /// 101 or 2xx to CONNECT: from now on both directions are a tunnel.
    pub tunnel: bool,
    /// A chunked body for an HTTP/1.0 client, which cannot read chunks: it
    /// is sent de-chunked, without `Transfer-Encoding`, delimited by the
    /// close (as HAProxy does).
    pub dechunk: bool,
    pub head: Vec<u8>,
}

/// Why a response head cannot be forwarded: the caller answers `status`.
#[derive(Debug)]
pub struct RspRefused {
    pub status: u16,
    pub out: Vec<u8>,
}

/// Applies the `http-response` rules (the backend's, then the frontend's
/// unless they are one listen), which see the stream's stick counters
/// (`stk`), decides the connection fates and writes the head to send to
/// the client.
#[allow(clippy::too_many_arguments)]
pub fn response_outcome(
    rt: &Runtime,
    fe: usize,
    be: Option<usize>,
    req: &ReqMeta,
    srv_close: bool,
    stopping: bool,
    addrs: &SessionAddrs,
    h: &ResponseHead,
    mut out: Vec<u8>,
    edits: &mut HeaderEdits,
    stk: &StkCx<'_>,
) -> Result<RspOutcome, RspRefused> {
    let interim = h.is_interim();
    let tunnel = h.framing == RespFraming::Tunnel;
    let close_delimited = h.framing == RespFraming::CloseDelimited;
    let dechunk = !interim && h.framing == RespFraming::Chunked && req.version == Version::Http10;
    let fe_cfg = &rt.config.frontends[fe];
    edits.clear();
    if !interim {
        // Response rules only see what the transaction kept of the request.
        let mut view = RequestView::l4(addrs.src, addrs.dst);
        view.method = req.method.as_str().unwrap_or("");
        let res = ResponseView {
            status: h.status,
            headers: h.headers,
        };
        let mut lists: [&[crate::http::HttpRule]; 2] = [&[], &fe_cfg.http_response];
        if let Some(b) = be
            && backend_rules_apply(fe_cfg, b)
        {
            lists[0] = &rt.config.backends[b].http_response;
        }
        for rules in lists {
            match apply_response_rules(rules, &view, &res, edits, Some(stk)) {
                Verdict::Continue => {}
                // http-response deny: HAProxy answers 502.
                Verdict::Deny { status } => return Err(RspRefused { status, out }),
                _ => return Err(RspRefused { status: 502, out }),
            }
        }
    }
    let mode = be.map_or(fe_cfg.conn_mode, |b| {
        effective_conn_mode(fe_cfg, &rt.config.backends[b])
    });
    // A graceful stop closes every client connection after its answer.
    let cli_keepalive = !req.close
        && !close_delimited
        && !dechunk
        && !tunnel
        && !stopping
        && mode != HttpConnMode::Close;
    let srv_reusable = h.conn == ConnIntent::KeepAlive && !close_delimited && !tunnel && !srv_close;
    // A tunnel (101, 2xx to CONNECT) keeps its connection: no `close`
    // (HAProxy leaves the field alone there).
    let cli_intent = if cli_keepalive || tunnel {
        ConnIntent::KeepAlive
    } else {
        ConnIntent::Close
    };
    let written = (|| {
        let mut w = HeadWriter::response(&mut out, Version::Http11, h.status, h.reason)?;
        if edits.headers_changed() {
            let mut err = Ok(());
            edits.for_each_header(h.headers, |name, value| {
                let name = std::str::from_utf8(name).unwrap_or("");
                let keep_upgrade = h.upgrade_accepted && name.eq_ignore_ascii_case("upgrade");
                let dropped = dechunk && name.eq_ignore_ascii_case("transfer-encoding");
                if err.is_ok() && !dropped && (keep_upgrade || !is_hop_by_hop(name, h.headers)) {
                    err = w.header(name, value).map(|_| ());
                }
            });
            err?;
        } else if dechunk {
            w.end_to_end_except(h.headers, false, |name| {
                name.eq_ignore_ascii_case("transfer-encoding")
            })?;
        } else {
            w.end_to_end(h.headers, h.upgrade_accepted)?;
        }
        if !interim {
            // The `connection` field as the client's version needs it to
            // read our intent (HTTP/1.0 keep-alive must be explicit).
            w.connection(req.version, cli_intent, h.upgrade_accepted);
        }
        w.finish();
        Ok::<(), EditError>(())
    })();
    if let Err(e) = written {
        log::debug!("cannot forward the response head: {e}");
        return Err(RspRefused { status: 502, out });
    }
    Ok(RspOutcome {
        status: h.status,
        interim,
        framing: h.framing,
        cli_keepalive,
        srv_reusable,
        tunnel,
        dechunk,
        head: out,
    })
}
