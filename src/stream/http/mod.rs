//! L7: the HTTP transaction carried by a stream (one request, one response).
//!
//! A session in HTTP mode waits between requests with no stream and no
//! buffer; the first bytes of a request create a stream with its `HttpTxn`.
//! The request head is parsed where it landed (the leased buffer, or an
//! accumulation vector when it spans receives), turned into the head we
//! forward (hop-by-hop headers handled, rules applied), then the body is
//! forwarded as received: leased buffer ranges pass through untouched while a
//! `BodyTracker` finds where the message ends. Bytes beyond the end of the
//! request belong to the next one (pipelining) and go back to the session.
//! The response takes the same path the other way. When both messages are
//! complete and sent, the transaction ends: the server connection returns to
//! the pool (or to the session's private list under `http-reuse never`) or
//! is closed, and the client connection goes back to its session or is
//! closed.
//!
//! The protocol itself (parsing, framing, validation, default error pages)
//! is in `proto::http1`, without I/O; this module decides and moves bytes.

mod finish;
mod head;
mod request;
mod response;

use crate::proto::http1::{BodyTracker, Method, Version};
use crate::stream::Chunk;

/// Where the request is.
#[derive(Debug)]
pub enum ReqPhase {
    /// Reading the head.
    Head,
    /// Forwarding the body; the tracker finds its end.
    Body(BodyTracker),
    /// Completely received (it may still be queued for sending).
    Done,
}

/// Where the response is.
#[derive(Debug)]
pub enum RspPhase {
    /// The request is not forwarded yet.
    Wait,
    /// Reading the head (interim 1xx heads included).
    Head,
    Body(BodyTracker),
    Done,
}

/// What the transaction keeps of the request once its head is gone.
#[derive(Debug, Clone, Copy)]
pub struct ReqMeta {
    pub method: Method,
    pub version: Version,
    /// The client asked to close (or HTTP/1.0 without keep-alive).
    pub close: bool,
    /// Content-Length and Transfer-Encoding both present: forwarded as
    /// chunked without Content-Length, and the connection closed after
    /// (RFC 9112 6.3), so nothing behind it is read as another request.
    pub te_cl_conflict: bool,
    /// The request asks to switch protocols (Upgrade).
    pub upgrade: bool,
}

/// Timestamps for the log line (shard ms; 0: not reached).
#[derive(Debug, Default, Clone, Copy)]
pub struct TxnTimes {
    pub start: u64,
    pub req_head: u64,
    pub queued: u64,
    pub connected: u64,
    pub rsp_head: u64,
    /// Microsecond stamps for the latency histograms (`stats::Latency`):
    /// the transaction's start, the request sent to the server (after its
    /// head was ready and the connection established, whichever came
    /// last), the response head received.
    pub start_us: u64,
    pub sent_us: u64,
    pub rsp_head_us: u64,
}

/// Most bytes of following requests read ahead while a request is served
/// (pipelining) before reading the client pauses.
const PENDING_MAX: usize = 16384;

#[derive(Debug)]
pub struct HttpTxn {
    pub req: ReqPhase,
    pub rsp: RspPhase,
    /// A head split across receives, accumulated (pooled vector).
    acc: Option<Vec<u8>>,
    pub meta: Option<ReqMeta>,
    /// Final status sent to the client (0: none yet).
    pub status: u16,
    /// The client connection stays open after this transaction.
    pub cli_keepalive: bool,
    /// The server connection may serve another request afterwards.
    pub srv_reusable: bool,
    /// The configuration closes the server side after the response
    /// (`http-server-close`, `httpclose`).
    pub srv_close: bool,
    /// The rest of the request was dropped (the server stopped reading
    /// it): the client connection cannot carry another request, whatever
    /// the response says (`cli_keepalive` is the response's word, set when
    /// its head arrives, possibly after the cut). See `cut_request`.
    pub req_cut: bool,
    /// The server tried last, kept for the log when the proxy answered
    /// after giving the server up (503 after retries).
    pub log_server: Option<std::sync::Arc<crate::backend::ServerShared>>,
    /// A chunked response to an HTTP/1.0 client: only the chunk data is
    /// sent, and the close delimits it.
    pub dechunk: bool,
    /// Client bytes received beyond this request (the next request).
    pub pending: Option<Chunk>,
    /// The answer came from the proxy itself (error, deny, return,
    /// redirect), not from a server.
    pub internal: bool,
    pub times: TxnTimes,
    /// Bytes of the response delivered to the client, head included.
    pub bytes_out: u64,
    /// Answered by `monitor-uri`: not logged.
    pub nolog: bool,
    /// The request line as received, for `option httplog` (pooled vector;
    /// kept only when the frontend logs).
    pub req_line: Option<Vec<u8>>,
}

impl HttpTxn {
    /// The server stopped reading the request (it answered early, or
    /// closed): the rest of it is dropped, the server connection cannot be
    /// reused, and the client's closes after the answer.
    pub fn cut_request(&mut self) {
        self.req = ReqPhase::Done;
        self.req_cut = true;
        self.srv_reusable = false;
    }

    pub fn new(now: u64) -> HttpTxn {
        HttpTxn {
            req: ReqPhase::Head,
            rsp: RspPhase::Wait,
            acc: None,
            meta: None,
            status: 0,
            cli_keepalive: false,
            srv_reusable: false,
            srv_close: false,
            req_cut: false,
            log_server: None,
            dechunk: false,
            pending: None,
            internal: false,
            times: TxnTimes {
                start: now,
                ..TxnTimes::default()
            },
            bytes_out: 0,
            nolog: false,
            req_line: None,
        }
    }

    /// Whether the pipe of `dir` should keep reading its source.
    /// Gives back what the transaction still holds (stream freed early).
    pub fn release(&mut self, io: &mut crate::shard::Io) {
        if let Some(p) = self.pending.take() {
            p.release(io);
        }
        if let Some(a) = self.acc.take() {
            io.vecs.put(a);
        }
        if let Some(l) = self.req_line.take() {
            io.vecs.put(l);
        }
        self.log_server = None;
    }

    ///
    /// Receives stay armed across the end of a message: pausing and
    /// re-arming a multishot receive costs two submissions, two completions
    /// and a cancellation per request and per side. What arrives meanwhile
    /// is either the client's next request (kept in `pending`, so reading
    /// pauses once that holds `PENDING_MAX` bytes) or bytes from the server
    /// after its response (dropped, and the connection is not reused), or a
    /// close, noticed at once.
    pub fn wants_data(&self, c2s: bool) -> bool {
        if c2s {
            match self.req {
                ReqPhase::Done => self
                    .pending
                    .as_ref()
                    .is_none_or(|p| (p.remaining() as usize) < PENDING_MAX),
                _ => true,
            }
        } else {
            true
        }
    }
}
