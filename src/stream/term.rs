//! How a stream ended, as HAProxy's two-letter termination state: who or
//! what ended it (cause) and in which phase of its life. The same value
//! drives counters and the log line.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// Normal end ('-').
    None,
    /// The client aborted or failed ('C').
    ClientAbort,
    /// The server aborted, refused or failed ('S'), including "no server".
    ServerAbort,
    /// The client-side timeout struck ('c').
    ClientTimeout,
    /// The server-side timeout struck ('s').
    ServerTimeout,
    /// Killed by the proxy itself, e.g. on stop ('K').
    Killed,
    /// The proxy ran out of a resource ('R').
    Resource,
    /// The proxy refused the request or response: a deny rule, an invalid
    /// message ('P').
    Proxy,
    /// The proxy answered itself: return, redirect, a service ('L').
    Local,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Receiving the request ('R').
    Request,
    /// Waiting in a queue ('Q').
    Queue,
    /// Connecting to the server ('C').
    Connect,
    /// Waiting for the server's response headers ('H').
    Headers,
    /// Moving data ('D').
    Data,
    /// Closing, the last bytes ('L').
    Last,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Termination {
    pub cause: Cause,
    pub phase: Phase,
}

impl Termination {
    pub fn new(cause: Cause, phase: Phase) -> Termination {
        Termination { cause, phase }
    }
}

impl Termination {
    /// HAProxy's two-letter code (`cD`, `sQ`, `--`...), as log bytes.
    pub fn code(&self) -> [u8; 2] {
        let c = match self.cause {
            Cause::None => b'-',
            Cause::ClientAbort => b'C',
            Cause::ServerAbort => b'S',
            Cause::ClientTimeout => b'c',
            Cause::ServerTimeout => b's',
            Cause::Killed => b'K',
            Cause::Resource => b'R',
            Cause::Proxy => b'P',
            Cause::Local => b'L',
        };
        // A normal end has no phase in HAProxy's notation.
        let p = match (self.cause, self.phase) {
            (Cause::None, _) => b'-',
            (_, Phase::Request) => b'R',
            (_, Phase::Queue) => b'Q',
            (_, Phase::Connect) => b'C',
            (_, Phase::Headers) => b'H',
            (_, Phase::Data) => b'D',
            (_, Phase::Last) => b'L',
        };
        [c, p]
    }
}

impl fmt::Display for Termination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [c, p] = self.code();
        write!(f, "{}{}", c as char, p as char)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_haproxy() {
        let t = |c, p| Termination::new(c, p).to_string();
        assert_eq!(t(Cause::None, Phase::Data), "--");
        assert_eq!(t(Cause::ClientTimeout, Phase::Data), "cD");
        assert_eq!(t(Cause::ServerTimeout, Phase::Queue), "sQ");
        assert_eq!(t(Cause::ServerAbort, Phase::Connect), "SC");
        assert_eq!(t(Cause::ClientAbort, Phase::Data), "CD");
        assert_eq!(t(Cause::Killed, Phase::Data), "KD");
        assert_eq!(t(Cause::Proxy, Phase::Request), "PR");
        assert_eq!(t(Cause::Local, Phase::Request), "LR");
        assert_eq!(t(Cause::ServerTimeout, Phase::Headers), "sH");
    }
}
