//! Decisions taken on a parsed head, and the head we forward. Pure: these
//! functions look at the configuration and the parsed head and write into a
//! pooled vector; the caller applies the outcome.

use super::ReqMeta;
use crate::backend::lb::hash_bytes;
use crate::config::{Balance, Mode};
use crate::proto::http1::{
    BodyFraming, ConnIntent, HeadWriter, RequestHead, RespFraming, ResponseHead, Version,
};
use crate::runtime::Runtime;
use crate::session::SessionAddrs;

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
    },
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
}

#[derive(Debug, Clone, Copy)]
pub struct AnswerMeta {
    pub req: ReqMeta,
    /// The request has a body we would have to read to find the next one.
    pub has_body: bool,
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

/// Decides what happens to a request of frontend `fe`, and writes the head
/// to forward into `out`.
pub fn request_outcome(
    rt: &Runtime,
    fe: usize,
    h: &RequestHead,
    _addrs: &SessionAddrs,
    mut out: Vec<u8>,
) -> ReqOutcome {
    let meta = req_meta(h);
    let has_body = h.framing.has_body();
    let Some(backend) = rt.config.frontends[fe].target_backend() else {
        return ReqOutcome::Answer {
            status: 503,
            bytes: None,
            meta: AnswerMeta {
                req: meta,
                has_body,
            },
        };
    };
    debug_assert_eq!(rt.config.backends[backend].mode, Mode::Http);
    let upgrade = h.upgrade.is_some();
    let written = (|| {
        let mut w = HeadWriter::request(&mut out, h.method_str, h.target, Version::Http11)?;
        w.end_to_end(h.headers, upgrade)?;
        // The server side is HTTP/1.1 keep-alive unless the request is
        // upgrading (the connection then becomes a tunnel).
        w.connection(Version::Http11, ConnIntent::KeepAlive, upgrade);
        w.finish();
        Ok::<(), crate::proto::http1::EditError>(())
    })();
    if let Err(e) = written {
        log::debug!("cannot write the request head: {e}");
        return ReqOutcome::Answer {
            status: e.status(),
            bytes: None,
            meta: AnswerMeta {
                req: meta,
                has_body,
            },
        };
    }
    ReqOutcome::Forward {
        backend,
        meta: FwdMeta { req: meta },
        framing: h.framing,
        head: out,
        lb_key: lb_key(&rt.config.backends[backend].balance, h),
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
    pub head: Vec<u8>,
}

/// Decides the connection fates and writes the head to send to the client.
/// Errors (only possible for a malformed reason phrase or header) are the
/// server's fault: the caller answers 502.
pub fn response_outcome(
    req: &ReqMeta,
    h: &ResponseHead,
    mut out: Vec<u8>,
) -> Result<RspOutcome, (crate::proto::http1::EditError, Vec<u8>)> {
    let interim = h.is_interim();
    let tunnel = h.framing == RespFraming::Tunnel;
    let close_delimited = h.framing == RespFraming::CloseDelimited;
    let cli_keepalive = !req.close && !close_delimited && !tunnel;
    let srv_reusable = h.conn == ConnIntent::KeepAlive && !close_delimited && !tunnel;
    let cli_intent = if cli_keepalive {
        ConnIntent::KeepAlive
    } else {
        ConnIntent::Close
    };
    let written = (|| {
        let mut w = HeadWriter::response(&mut out, Version::Http11, h.status, h.reason)?;
        w.end_to_end(h.headers, h.upgrade_accepted)?;
        if !interim {
            // The `connection` field as the client's version needs it to
            // read our intent (HTTP/1.0 keep-alive must be explicit).
            w.connection(req.version, cli_intent, h.upgrade_accepted);
        }
        w.finish();
        Ok::<(), crate::proto::http1::EditError>(())
    })();
    if let Err(e) = written {
        return Err((e, out));
    }
    Ok(RspOutcome {
        status: h.status,
        interim,
        framing: h.framing,
        cli_keepalive,
        srv_reusable,
        tunnel,
        head: out,
    })
}
