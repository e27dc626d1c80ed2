//! ringproxy: a TCP and HTTP/1.1 load balancer on thread-per-core io_uring
//! shards, with HAProxy's model of connections (L4), sessions (L5) and
//! streams (L6), and HAProxy's configuration language.
//!
//! Layout (see doc/internals/):
//! - `config`: configuration language -> typed, validated model (no I/O
//!   besides reading the files).
//! - `proto`: wire codecs (PROXY protocol), pure functions, no I/O.
//! - `shard`: one thread per core, its io_uring ring and event loop; the only
//!   place with io_uring `unsafe`.
//! - `mesh`: cross-shard messages and their ring-native wakeups.
//! - `listener`, `session`, `stream`, `backend`: the proxy model.
//! - `check`: health checks, on a thread of their own off the data path.
//! - `control`: the main thread after startup (signals; later the runtime
//!   API and reloads).

pub mod accesslog;
pub mod api;
pub mod backend;
pub mod check;
pub mod config;
pub mod connection;
pub mod control;
pub mod http;
pub mod listener;
pub mod mesh;
pub mod proto;
pub mod runtime;
pub mod session;
pub mod shard;
pub mod stats;
pub mod stick;
pub mod stream;
pub mod xfer;
