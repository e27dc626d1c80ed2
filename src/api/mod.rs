//! The runtime API: HAProxy's "stats socket" command line interface, on a
//! dedicated thread (never a shard).
//!
//! - `command`: framing (`\n`, `;`), words, the `Command` enum, levels and
//!   HAProxy's usage text (pure).
//! - `conv`: one client's protocol state: interactive mode, prompt, when to
//!   close (pure).
//! - `format`: HAProxy's output formats from snapshot data (pure).
//! - `view`: reads the running state (`Runtime`) into that data.
//! - `exec`: runs commands; what needs the shards becomes a `Job` for the
//!   executor thread, through the `Shards` trait (`ops`).
//! - `listen`, `server`: the sockets and the `poll(2)` loop.
//!
//! Read-only commands (`show info`, `show stat`, `show servers state`,
//! `show backend`, `get weight`) read `Runtime` directly; commands that
//! change servers or list streams go through `Shards`, implemented by the
//! coordinator (`control::shards::ShardOps`).

mod command;
mod conv;
mod exec;
pub(crate) mod format;
mod listen;
mod ops;
mod server;
mod table;
pub(crate) mod view;

#[cfg(test)]
mod tests;

pub use listen::{Bound, bind_all};
pub use ops::{NotRemovable, ServerId, SessionRow, Shards};
pub use server::{ApiHandle, start};
