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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Receiving the request ('R').
    Request,
    /// Waiting in a queue ('Q').
    Queue,
    /// Connecting to the server ('C').
    Connect,
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

impl fmt::Display for Termination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = match self.cause {
            Cause::None => '-',
            Cause::ClientAbort => 'C',
            Cause::ServerAbort => 'S',
            Cause::ClientTimeout => 'c',
            Cause::ServerTimeout => 's',
            Cause::Killed => 'K',
            Cause::Resource => 'R',
        };
        // A normal end has no phase in HAProxy's notation.
        let p = match (self.cause, self.phase) {
            (Cause::None, _) => '-',
            (_, Phase::Request) => 'R',
            (_, Phase::Queue) => 'Q',
            (_, Phase::Connect) => 'C',
            (_, Phase::Data) => 'D',
            (_, Phase::Last) => 'L',
        };
        write!(f, "{c}{p}")
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
    }
}
