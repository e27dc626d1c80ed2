//! Typed configuration model: what a parsed set of `-f` files means.
//!
//! Contract: a `Config` returned by the parser is fully validated. Every name
//! reference (`default_backend`, `use_backend`) resolves to an index into
//! `Config::backends`, every frontend has at least one bind and a
//! `default_backend` or `use_backend` rule, every value is within HAProxy's
//! accepted range, and every regex, format string, ACL and errorfile is
//! compiled or loaded. The runtime never re-validates; it trusts this model.
//!
//! HTTP-only settings of a proxy in `mode tcp` are dropped with HAProxy's
//! warnings (rules, `option forwardfor`, layer 7 `balance`), so the TCP data
//! plane never sees them; `option httplog` becomes `option tcplog`.
//!
//! `listen` sections produce one `Frontend` and one `Backend` with the same
//! name (HAProxy does the same internally). `defaults` sections are folded
//! into the sections that inherit from them and do not appear here.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::http::{Condition, ErrorFile, HttpRule, IpNet, Re};

/// Where a configuration element was written: `file:line`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loc {
    pub file: Arc<str>,
    pub line: u32,
}

impl std::fmt::Display for Loc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub global: Global,
    pub frontends: Vec<Frontend>,
    pub backends: Vec<Backend>,
    /// Stick tables, indexed as rules and fetches refer to them.
    pub tables: Vec<crate::stick::TableDef>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Global {
    /// `nbthread N`: number of shards. `None`: one per online CPU.
    pub nbthread: Option<usize>,
    /// `maxconn N`: process-wide limit on concurrent client connections.
    /// `None`: unlimited by configuration (the fd limit still applies).
    pub maxconn: Option<u32>,
    /// `daemon`: same as `-D`.
    pub daemon: bool,
    /// `pidfile PATH`: same as `-p PATH`.
    pub pidfile: Option<String>,
    /// `tune.bufsize N` (default 16384): size of one I/O buffer.
    pub bufsize: usize,
    /// `tune.ring.buffers N` (ringproxy-specific, default 8192): the most
    /// `bufsize` buffers each shard's provided-buffer ring may hold. The
    /// pool starts small and grows on demand, so only what the load needs
    /// becomes resident. Power of two, 64..=32768.
    pub ring_buffers: u32,
    /// `tune.ring.entries N` (ringproxy-specific, default 4096): submission
    /// queue entries of each shard's ring. Power of two, 64..=32768.
    pub ring_entries: u32,
    /// `log TARGET...` lines, in order.
    pub logs: Vec<LogTargetSpec>,
    /// `stats socket ...` lines, in order: the runtime API's listeners.
    pub stats_sockets: Vec<StatsSocket>,
    /// `stats timeout T` (default 10s, HAProxy's): a runtime API client
    /// idle for this long is disconnected.
    pub stats_timeout: Duration,
    /// `stats maxconn N` (default 10, HAProxy's): runtime API clients served
    /// at once; more wait in the listen backlog.
    pub stats_maxconn: u32,
    /// `hard-stop-after T`: how long a graceful stop (SIGUSR1) may wait for
    /// sessions to end before closing what remains. None: no limit.
    pub hard_stop_after: Option<Duration>,
}

impl Default for Global {
    fn default() -> Self {
        Global {
            nbthread: None,
            maxconn: None,
            daemon: false,
            pidfile: None,
            bufsize: 16384,
            ring_buffers: 8192,
            ring_entries: 4096,
            logs: Vec::new(),
            stats_sockets: Vec::new(),
            stats_timeout: Duration::from_secs(10),
            stats_maxconn: 10,
            hard_stop_after: None,
        }
    }
}

/// Privilege level of a runtime API socket (HAProxy's `level`), ordered:
/// a command runs when the session's level is at least the command's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ApiLevel {
    User = 1,
    Operator = 2,
    Admin = 3,
}

impl ApiLevel {
    /// HAProxy's name of the level (`show cli level`).
    pub fn name(self) -> &'static str {
        match self {
            ApiLevel::User => "user",
            ApiLevel::Operator => "operator",
            ApiLevel::Admin => "admin",
        }
    }
}

/// Where a `stats socket` listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatsAddr {
    /// A UNIX socket file (`/path` or `unix@path`).
    Unix(String),
    /// A Linux abstract UNIX socket (`abns@name`).
    Abstract(String),
    /// A TCP socket (`ipv4@ADDR:PORT`, `ipv6@[ADDR]:PORT`, `ADDR:PORT`).
    Tcp(SocketAddr),
    /// `fd@N`: a listening socket (UNIX or TCP) inherited from the parent.
    Fd(i32),
}

impl std::fmt::Display for StatsAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StatsAddr::Unix(p) => write!(f, "unix@{p}"),
            StatsAddr::Abstract(n) => write!(f, "abns@{n}"),
            StatsAddr::Tcp(a @ SocketAddr::V4(_)) => write!(f, "ipv4@{a}"),
            StatsAddr::Tcp(a) => write!(f, "ipv6@{a}"),
            StatsAddr::Fd(n) => write!(f, "fd@{n}"),
        }
    }
}

/// A user or group as written: a name (`user`, `group`, looked up when the
/// socket is created) or a number (`uid`, `gid`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdSpec {
    Name(String),
    Id(u32),
}

/// One `stats socket` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsSocket {
    pub addr: StatsAddr,
    /// `mode OCTAL`: permissions of the socket file (UNIX only; default:
    /// what the umask leaves).
    pub mode: Option<u32>,
    /// `level` (HAProxy's default: operator).
    pub level: ApiLevel,
    /// `user`/`uid`: owner of the socket file (UNIX only).
    pub owner: Option<IdSpec>,
    /// `group`/`gid`: group of the socket file (UNIX only).
    pub group: Option<IdSpec>,
    /// `expose-fd listeners`: `_getsocks` on this socket hands the
    /// listening sockets to a new process (`-x`, see `xfer`).
    pub expose_fd_listeners: bool,
    pub loc: Loc,
}

/// One `log` line: the words after `log` (e.g. `["127.0.0.1:514",
/// "local0", "info"]`), checked by `accesslog::parse_log_target` when it is
/// there to call. In proxies, `log global` is replaced by copies of the
/// global section's lines known at that point (HAProxy's rule), each keeping
/// its global `loc`: entries with the same `loc` are the same target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTargetSpec {
    pub words: Vec<String>,
    pub loc: Loc,
}

/// `option tcplog` / `option httplog [clf]`: the access log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStyle {
    Tcp,
    Http,
    /// `option httplog clf`.
    HttpClf,
}

/// `option http-keep-alive` (default) / `http-server-close` / `httpclose`.
/// Ordered from the least to the most restrictive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum HttpConnMode {
    #[default]
    KeepAlive,
    /// Server side closed after each response, client side kept alive.
    ServerClose,
    /// Both sides closed after each transaction.
    Close,
}

/// The connection mode of a transaction: the most restrictive of the
/// frontend's and the backend's (HAProxy's `http_adjust_conn_mode`).
pub fn effective_conn_mode(fe: &Frontend, be: &Backend) -> HttpConnMode {
    fe.conn_mode.max(be.conn_mode)
}

/// `http-reuse`: sharing idle server connections between client sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpReuse {
    Never,
    #[default]
    Safe,
    Aggressive,
    Always,
}

/// `option forwardfor [except NET] [header NAME] [if-none]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardFor {
    /// `X-Forwarded-For` unless `header NAME`.
    pub header: String,
    /// Clients in this network get no header.
    pub except: Option<IpNet>,
    /// Only when the request has no such header (if every proxy that sets
    /// the option says so).
    pub if_none: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Tcp,
    /// Accepted by the parser only once HTTP mode exists (issue 4).
    Http,
}

/// Every timeout ringproxy knows, with HAProxy's meaning. `None` = not set
/// (HAProxy's "infinite", with the same startup warnings where HAProxy warns).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timeouts {
    pub connect: Option<Duration>,
    pub client: Option<Duration>,
    /// `timeout client-hs`: handshake deadline of embryonic sessions; falls
    /// back to `client` when unset.
    pub client_hs: Option<Duration>,
    pub client_fin: Option<Duration>,
    pub server: Option<Duration>,
    pub server_fin: Option<Duration>,
    pub tunnel: Option<Duration>,
    /// `timeout queue`: falls back to `connect` when unset (HAProxy).
    pub queue: Option<Duration>,
    /// `timeout http-request`: deadline for a complete HTTP request
    /// (HTTP mode). Stored on both sides as HAProxy accepts it in both, but
    /// the frontend's value is the one that applies: HAProxy reads it
    /// before any backend is chosen.
    pub http_request: Option<Duration>,
    /// `timeout http-keep-alive`: idle deadline between two HTTP requests;
    /// falls back to `http_request` when unset (HAProxy). The frontend's
    /// value applies (the client side waits, with no backend yet).
    pub http_keep_alive: Option<Duration>,
    /// `timeout check`: extra read deadline of a health check once
    /// connected (backend side); falls back to `inter` when unset.
    pub check: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Frontend {
    pub name: String,
    pub loc: Loc,
    /// HAProxy's proxy id (`iid` in `show stat`): 1, 2, ... in declaration
    /// order of the proxies; a listen's frontend and backend share it.
    pub iid: u32,
    pub mode: Mode,
    pub binds: Vec<Bind>,
    /// `maxconn N` in the frontend (or inherited from defaults).
    pub maxconn: Option<u32>,
    pub timeouts: Timeouts,
    /// Index into `Config::backends`.
    pub default_backend: Option<usize>,
    /// `use_backend NAME [if|unless COND]` rules in order: the first whose
    /// condition matches wins (`http::select_backend`).
    pub use_backends: Vec<UseBackend>,
    /// A listen's own backend (index into `Config::backends`): its rules
    /// are the frontend's and run once (`http::backend_rules_apply`).
    pub own_backend: Option<usize>,
    /// `log` lines (`log global` expanded; `no log` clears).
    pub logs: Vec<LogTargetSpec>,
    /// `option tcplog` / `option httplog`; `None`: no access log format set.
    pub log_format: Option<LogStyle>,
    /// `option dontlognull`.
    pub dontlognull: bool,
    /// `option idle-close-on-response` (HAProxy 2.6): a graceful stop
    /// does not close idle keep-alive connections at once; each is closed
    /// after answering its next request (`Connection: close`), so that no
    /// request crossing the close is lost. They still end with
    /// `timeout http-keep-alive` or `hard-stop-after`.
    pub idle_close_on_response: bool,
    pub conn_mode: HttpConnMode,
    pub forwardfor: Option<ForwardFor>,
    /// `errorfile` lines, inherited ones first; the last for a code wins.
    pub errorfiles: Vec<ErrorFile>,
    pub http_request: Vec<HttpRule>,
    pub http_response: Vec<HttpRule>,
    /// `tcp-request connection` rules: run on accept, before any handshake.
    pub tcp_req_conn: Vec<crate::http::TcpRule>,
    /// `tcp-request session` rules: run once the handshake is done.
    pub tcp_req_sess: Vec<crate::http::TcpRule>,
    /// `tcp-request content` rules: run when a stream starts (each request
    /// in HTTP mode), before `http-request` rules.
    pub tcp_req_cont: Vec<crate::http::TcpRule>,
    /// `stats`, `monitor-uri`, `monitor fail` (HTTP mode only).
    pub services: super::Services,
    /// Removed by a reload: kept at its slot (see `config::reload`) for the
    /// sessions that started before, with no bind; never listed.
    pub retired: bool,
}

impl Frontend {
    /// The backend of a stream when no condition can be evaluated: the
    /// first `use_backend` rule, else `default_backend`. Only right when no
    /// rule has a condition; otherwise use `http::select_backend` (TCP
    /// streams too, with `http::RequestView::l4`).
    pub fn target_backend(&self) -> Option<usize> {
        self.use_backends
            .first()
            .map(|u| u.backend)
            .or(self.default_backend)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct UseBackend {
    /// Index into `Config::backends`.
    pub backend: usize,
    /// `None`: unconditional.
    pub cond: Option<Condition>,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Bind {
    pub on: ListenOn,
    /// `accept-proxy`: the PROXY protocol header (v1 or v2) is the
    /// handshake of every connection accepted on this bind.
    pub accept_proxy: bool,
    /// `name NAME` on the bind line, else `"<addr>"`.
    pub name: String,
    /// `v6only` on an IPv6 bind.
    pub v6only: bool,
    pub loc: Loc,
}

/// Where a bind listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenOn {
    /// A socket ringproxy opens (one SO_REUSEPORT socket per shard).
    Addr(SocketAddr),
    /// `fd@N`: a listening socket inherited from the parent (systemd
    /// socket activation, a supervisor), shared by every shard.
    Fd(i32),
}

impl std::fmt::Display for ListenOn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListenOn::Addr(a) => write!(f, "{a}"),
            ListenOn::Fd(n) => write!(f, "fd@{n}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Balance {
    /// Smooth weighted round robin (HAProxy's `roundrobin`).
    #[default]
    RoundRobin,
    LeastConn,
    /// Hash of the client's source address over the weighted server list
    /// (HAProxy's default `hash-type map-based`).
    Source,
    /// Power of `draws` choices (HAProxy's `random(<draws>)`, default 2).
    Random {
        draws: u32,
    },
    /// `balance uri [len N] [depth N] [whole] [path-only]`: hash of the
    /// request target (HTTP mode; map-based like `source`). Without `whole`
    /// the query is left out; `path-only` leaves out scheme and authority;
    /// `len`: only the first N characters; `depth`: only the first N
    /// directories.
    Uri {
        whole: bool,
        path_only: bool,
        len: Option<u32>,
        depth: Option<u32>,
    },
    /// `balance hdr(NAME) [use_domain_only]`: hash of a request header's
    /// value (HTTP mode); without the header, round robin.
    Hdr {
        name: String,
        use_domain_only: bool,
    },
}

impl Balance {
    /// HAProxy's dynamic algorithms (`BE_LB_PROP_DYN`): weights can change
    /// at run time and servers can be added. Not the map-based hashes
    /// (`source`, `uri`, `hdr`), whose table is built once (a change would
    /// remap most clients).
    pub fn is_dynamic(&self) -> bool {
        matches!(
            self,
            Balance::RoundRobin | Balance::LeastConn | Balance::Random { .. }
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyVersion {
    V1,
    V2,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Backend {
    pub name: String,
    pub loc: Loc,
    /// HAProxy's proxy id (see `Frontend::iid`).
    pub iid: u32,
    pub mode: Mode,
    pub balance: Balance,
    pub servers: Vec<Server>,
    /// `retries N` (HAProxy default 3).
    pub retries: u32,
    /// `option redispatch [interval]`: `None` when off. The interval follows
    /// HAProxy: positive P = redispatch on every Pth retry; negative N =
    /// redispatch on the Nth retry before the last; bare keyword = -1 (the
    /// last retry).
    pub redispatch: Option<i32>,
    /// `option allbackups`: use every usable backup server, not only the first.
    pub allbackups: bool,
    pub timeouts: Timeouts,
    /// `log` lines (`log global` expanded; `no log` clears).
    pub logs: Vec<LogTargetSpec>,
    pub conn_mode: HttpConnMode,
    pub forwardfor: Option<ForwardFor>,
    /// `http-reuse` (default `safe`).
    pub http_reuse: HttpReuse,
    /// `errorfile` lines, inherited ones first; the last for a code wins.
    pub errorfiles: Vec<ErrorFile>,
    pub http_request: Vec<HttpRule>,
    pub http_response: Vec<HttpRule>,
    /// `tcp-request content` rules of the backend: run once a stream is
    /// switched to it, before its `http-request` rules.
    pub tcp_req_cont: Vec<crate::http::TcpRule>,
    /// `stick` rules: persistence of a key to a server.
    pub stick_rules: Vec<crate::http::StickRule>,
    /// `option httpchk` with its `http-check send` / `expect` rules: the
    /// health checks of this backend's servers are HTTP checks. `None`:
    /// TCP connect checks (HAProxy's default layer 4 check).
    pub http_check: Option<HttpCheck>,
    /// `stats` (HTTP mode only; `monitor-*` are frontend keywords).
    pub services: super::Services,
    /// Removed by a reload: kept at its slot (see `config::reload`) for the
    /// streams that started before; nothing routes to it; never listed.
    pub retired: bool,
}

/// The request and the expectations of an HTTP health check.
///
/// The request is `METHOD URI VERSION`, the `headers`, `Connection:
/// close` (the checker reads one response, then closes), and the `body`
/// with its `Content-Length` when not empty. HAProxy's defaults:
/// `OPTIONS / HTTP/1.0`, no header, no body.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpCheck {
    pub method: String,
    pub uri: String,
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub version: String,
    /// `http-check send hdr NAME VALUE` (or headers hidden after the
    /// version of `option httpchk`, the deprecated form), in order.
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// `http-check expect` rules in order; a response passes when every
    /// one does, and the first that fails says why. Never empty: without
    /// any rule, HAProxy's implicit `status 200-399`.
    pub expects: Vec<HttpExpect>,
}

/// One `http-check expect [!] MATCH PATTERN` rule.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpExpect {
    /// `!`: the rule passes when the pattern does NOT match.
    pub inverse: bool,
    pub matcher: ExpectMatch,
}

/// What an `http-check expect` rule looks at.
#[derive(Debug, Clone, PartialEq)]
pub enum ExpectMatch {
    /// `status CODES`: the status is one of these inclusive ranges (`200`
    /// is `(200, 200)`, `200-399` is `(200, 399)`).
    Status(Vec<(u16, u16)>),
    /// `rstatus REGEX`: on the three status digits.
    Rstatus(Re),
    /// `string TEXT`: the (de-chunked) body contains TEXT.
    String(String),
    /// `rstring REGEX`: on the (de-chunked) body.
    Rstring(Re),
}

impl ExpectMatch {
    /// Whether the rule needs the response body (else the head is enough).
    pub fn needs_body(&self) -> bool {
        matches!(self, ExpectMatch::String(_) | ExpectMatch::Rstring(_))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Server {
    pub name: String,
    pub loc: Loc,
    pub addr: SocketAddr,
    /// `weight N`, 0..=256, default 1. Weight 0 takes no new load-balanced
    /// traffic.
    pub weight: u32,
    /// `maxconn N`: `None` = unlimited.
    pub maxconn: Option<u32>,
    /// `send-proxy` / `send-proxy-v2`.
    pub send_proxy: Option<ProxyVersion>,
    pub backup: bool,
    /// `disabled`: the server starts in maintenance.
    pub disabled: bool,
    /// `check` and its settings: the server's health is checked (see
    /// `crate::check`). `None`: never checked, always considered up.
    pub check: Option<CheckSettings>,
    /// `pool-max-conn N`: most idle connections kept for reuse; `None`
    /// (HAProxy's -1, the default) = unlimited, `Some(0)` = none kept.
    pub pool_max_conn: Option<u32>,
    /// `pool-purge-delay T` (default 5s): every T, half of the idle
    /// connections are closed; zero keeps none.
    pub pool_purge_delay: Duration,
}

/// A server's health check settings, with HAProxy's meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckSettings {
    /// `inter` (default 2s): delay between two checks while the server is
    /// fully up (or fully down without `downinter`, or transitioning without
    /// `fastinter`). It also bounds a whole check when `timeout check` is
    /// not set.
    pub inter: Duration,
    /// `fastinter`: delay while the server is transitioning (`UP 1/3`,
    /// `DOWN 1/2`); `None`: `inter`.
    pub fastinter: Option<Duration>,
    /// `downinter`: delay while the server is fully down; `None`: `inter`.
    pub downinter: Option<Duration>,
    /// `rise` (default 2): consecutive successes to go up.
    pub rise: u32,
    /// `fall` (default 3): consecutive failures to go down.
    pub fall: u32,
    /// `port`: check this port instead of the server's.
    pub port: Option<u16>,
    /// `addr`: check this address instead of the server's.
    pub addr: Option<std::net::IpAddr>,
}

impl Default for CheckSettings {
    fn default() -> Self {
        CheckSettings {
            inter: Duration::from_secs(2),
            fastinter: None,
            downinter: None,
            rise: 2,
            fall: 3,
            port: None,
            addr: None,
        }
    }
}
