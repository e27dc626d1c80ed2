//! Wire codecs: pure functions over byte slices; no I/O, no unsafe.
//!
//! Everything here is callable from any shard without setup: codecs take the
//! bytes received so far and return what they mean, so the event loop keeps
//! full control of buffering, timeouts and when to give up on a peer.

#![forbid(unsafe_code)]

pub mod http1;
pub mod proxy;
