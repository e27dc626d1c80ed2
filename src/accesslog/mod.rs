//! Access logs: HAProxy's `log` targets, `option tcplog` / `option httplog`
//! lines, syslog framing and a non-blocking per-shard sender.
//!
//! (Named `accesslog` so as not to shadow the `log` crate inside this crate.)
//!
//! - [`target`]: `log` arguments -> [`LogTarget`] ([`parse_log_target`]).
//! - [`format`]: [`LogRecord`] -> tcplog / httplog line, byte-exact with
//!   HAProxy's default formats, allocation-free once the buffer is warm.
//! - [`clock`]: local-time dates from a per-thread cache (one `localtime_r`
//!   per minute per thread at most in steady state).
//! - [`syslog`]: [`Framer`]: line -> bytes for one target (`<PRI>`, RFC 3164
//!   header, `short`, `raw`, `len` truncation, final LF). Pure: usable with
//!   io_uring sends.
//! - [`sender`]: [`LogSender`]: one per shard; sends framed lines with
//!   non-blocking writes, drops and counts what would block.
//!
//! Typical use on a shard:
//!
//! ```no_run
//! use ringproxy::accesslog::{LogRecord, LogSender, Level, format_tcplog, parse_log_target};
//! let target = parse_log_target(&["127.0.0.1:514", "local0", "info"]).unwrap();
//! let mut sender = LogSender::new(&[target], "ringproxy", std::process::id()).unwrap();
//! let rec = LogRecord::new("127.0.0.1:41234".parse().unwrap(), 0, "fe", "be");
//! sender.send_with(Level::Info, |buf| format_tcplog(&rec, buf));
//! ```

pub mod clock;
pub mod format;
pub mod sender;
pub mod syslog;
pub mod target;

pub use format::{
    LogRecord, format_httplog, format_httplog_with, format_tcplog, format_tcplog_with,
};
pub use sender::LogSender;
pub use syslog::Framer;
pub use target::{Facility, Level, LogFormat, LogTarget, TargetAddr, parse_log_target, pri};
