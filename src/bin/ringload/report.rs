//! Counters and latency histogram of a run, merged across worker threads,
//! and their two renderings: the table on stdout and the JSON object the
//! bench script parses (keys fixed by the CLI contract in `main.rs`).

use std::fmt::Write as _;

use hdrhistogram::Histogram;

/// Highest latency recorded, in microseconds (1 hour); larger values are
/// clamped to it.
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Errors by kind, as the contract defines them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Errors {
    /// connect() failed or was refused.
    pub connect: u64,
    /// Read error or reset, EOF in the middle of a response, or an
    /// unparsable response.
    pub read: u64,
    /// Write error (EPIPE, reset).
    pub write: u64,
    /// No progress on a busy connection for `--timeout`.
    pub timeout: u64,
    /// A complete response with a status outside 200..=399.
    pub status: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Connect,
    Read,
    Write,
    Timeout,
}

impl Errors {
    pub fn count(&mut self, kind: ErrorKind) {
        match kind {
            ErrorKind::Connect => self.connect += 1,
            ErrorKind::Read => self.read += 1,
            ErrorKind::Write => self.write += 1,
            ErrorKind::Timeout => self.timeout += 1,
        }
    }

    fn add(&mut self, o: &Errors) {
        self.connect += o.connect;
        self.read += o.read;
        self.write += o.write;
        self.timeout += o.timeout;
        self.status += o.status;
    }
}

/// What one worker measured; `merge` sums them.
///
/// Contract: `record_latency` and the counters never allocate (the
/// histogram has fixed bounds), so workers can update them per request.
pub struct Stats {
    pub requests: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub errors: Errors,
    /// Latencies in microseconds.
    pub hist: Histogram<u64>,
    /// Exact sum of the recorded latencies, for the mean.
    pub latency_sum_ns: u64,
    /// Measured time: for merged stats, the longest of the workers'.
    pub elapsed_ns: u64,
    /// Connections established (idle mode: those open when all were).
    pub established: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

impl Stats {
    pub fn new() -> Self {
        Stats {
            requests: 0,
            bytes_read: 0,
            bytes_written: 0,
            errors: Errors::default(),
            hist: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds"),
            latency_sum_ns: 0,
            elapsed_ns: 0,
            established: 0,
        }
    }

    /// Clears everything (end of warmup); keeps the histogram's memory.
    pub fn reset(&mut self) {
        self.hist.reset();
        self.requests = 0;
        self.bytes_read = 0;
        self.bytes_written = 0;
        self.errors = Errors::default();
        self.latency_sum_ns = 0;
        self.elapsed_ns = 0;
        self.established = 0;
    }

    #[inline]
    pub fn record_latency(&mut self, ns: u64) {
        self.latency_sum_ns = self.latency_sum_ns.saturating_add(ns);
        self.hist.saturating_record((ns / 1000).max(1));
    }

    pub fn merge(&mut self, o: &Stats) {
        self.requests += o.requests;
        self.bytes_read += o.bytes_read;
        self.bytes_written += o.bytes_written;
        self.errors.add(&o.errors);
        self.hist
            .add(&o.hist)
            .expect("histograms with the same bounds");
        self.latency_sum_ns = self.latency_sum_ns.saturating_add(o.latency_sum_ns);
        self.elapsed_ns = self.elapsed_ns.max(o.elapsed_ns);
        self.established += o.established;
    }

    fn secs(&self) -> f64 {
        self.elapsed_ns as f64 / 1e9
    }

    fn per_sec(&self, n: u64) -> f64 {
        let s = self.secs();
        if s > 0.0 { n as f64 / s } else { 0.0 }
    }

    fn latency(&self) -> Latency {
        let q = |q: f64| {
            if self.hist.is_empty() {
                0
            } else {
                self.hist.value_at_quantile(q)
            }
        };
        let recorded = self.hist.len();
        Latency {
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            p999: q(0.999),
            max: if recorded == 0 { 0 } else { self.hist.max() },
            mean: if recorded == 0 {
                0.0
            } else {
                self.latency_sum_ns as f64 / recorded as f64 / 1000.0
            },
        }
    }
}

/// Latency summary in microseconds.
struct Latency {
    p50: u64,
    p90: u64,
    p99: u64,
    p999: u64,
    max: u64,
    mean: f64,
}

/// How the run was set up, for the report headers.
pub struct RunInfo {
    /// "http", "tcp" or "idle".
    pub mode: &'static str,
    pub target: String,
    pub connections: usize,
    pub threads: usize,
    pub pipeline: usize,
    pub keepalive: bool,
    pub rate: Option<f64>,
    /// tcp mode: "up", "down" or "both".
    pub direction: Option<&'static str>,
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// The human-readable table (MB are 10^6 bytes).
pub fn table(info: &RunInfo, s: &Stats) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "ringload {}  {}  c={} t={} d={:.1}s",
        info.mode,
        info.target,
        info.connections,
        info.threads,
        s.secs()
    );
    match info.mode {
        "tcp" => {
            let _ = write!(out, " direction={}", info.direction.unwrap_or("both"));
        }
        _ => {
            let _ = write!(
                out,
                " pipeline={} {}",
                info.pipeline,
                if info.keepalive {
                    "keep-alive"
                } else {
                    "close"
                }
            );
            if let Some(r) = info.rate {
                let _ = write!(out, " rate={r}/s");
            }
        }
    }
    out.push('\n');
    if info.mode == "idle" {
        let _ = writeln!(
            out,
            "  established   {} of {}",
            s.established, info.connections
        );
    }
    if info.mode != "tcp" {
        let _ = writeln!(
            out,
            "  requests      {}   ({:.1}/s)",
            s.requests,
            s.per_sec(s.requests)
        );
    }
    let _ = writeln!(
        out,
        "  read          {:.1} MB  ({:.2} MB/s)   written {:.1} MB ({:.2} MB/s)",
        mb(s.bytes_read),
        mb(s.bytes_read) / s.secs().max(1e-9),
        mb(s.bytes_written),
        mb(s.bytes_written) / s.secs().max(1e-9),
    );
    let e = &s.errors;
    let _ = writeln!(
        out,
        "  errors        connect {}  read {}  write {}  timeout {}  status {}",
        e.connect, e.read, e.write, e.timeout, e.status
    );
    if info.mode != "tcp" {
        let l = s.latency();
        let _ = writeln!(
            out,
            "  latency       p50 {:.2}ms  p90 {:.2}ms  p99 {:.2}ms  p99.9 {:.2}ms  max {:.2}ms  mean {:.2}ms",
            ms(l.p50),
            ms(l.p90),
            ms(l.p99),
            ms(l.p999),
            ms(l.max),
            l.mean / 1000.0
        );
    }
    out
}

/// A finite float as JSON (NaN and infinities become 0).
fn num(x: f64, decimals: usize) -> String {
    if x.is_finite() {
        format!("{x:.decimals$}")
    } else {
        "0".to_string()
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The JSON object of the contract, on one line. `established` is present
/// in idle mode only, `direction` in tcp mode only.
pub fn json(info: &RunInfo, s: &Stats) -> String {
    let l = s.latency();
    let e = &s.errors;
    let secs = s.secs().max(1e-9);
    let mut out = String::new();
    let _ = write!(
        out,
        "{{\"tool\":\"ringload\",\"mode\":{},\"target\":{},\"connections\":{},\"threads\":{},\
         \"pipeline\":{},\"keepalive\":{},\"rate\":{},\"duration_s\":{},",
        json_string(info.mode),
        json_string(&info.target),
        info.connections,
        info.threads,
        info.pipeline,
        info.keepalive,
        info.rate.map_or("null".to_string(), |r| num(r, 3)),
        num(s.secs(), 3),
    );
    if let Some(d) = info.direction {
        let _ = write!(out, "\"direction\":{},", json_string(d));
    }
    let _ = write!(
        out,
        "\"requests\":{},\"rps\":{},\"bytes_read\":{},\"bytes_written\":{},\
         \"read_mb_s\":{},\"written_mb_s\":{},\
         \"errors\":{{\"connect\":{},\"read\":{},\"write\":{},\"timeout\":{},\"status\":{}}},\
         \"latency_us\":{{\"p50\":{},\"p90\":{},\"p99\":{},\"p999\":{},\"max\":{},\"mean\":{}}}",
        s.requests,
        num(s.per_sec(s.requests), 1),
        s.bytes_read,
        s.bytes_written,
        num(mb(s.bytes_read) / secs, 2),
        num(mb(s.bytes_written) / secs, 2),
        e.connect,
        e.read,
        e.write,
        e.timeout,
        e.status,
        l.p50,
        l.p90,
        l.p99,
        l.p999,
        l.max,
        num(l.mean, 1),
    );
    if info.mode == "idle" {
        let _ = write!(out, ",\"established\":{}", s.established);
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_and_render() {
        let mut a = Stats::new();
        a.requests = 3;
        a.bytes_read = 2_000_000;
        a.elapsed_ns = 2_000_000_000;
        for ns in [100_000, 200_000, 300_000] {
            a.record_latency(ns);
        }
        let mut b = Stats::new();
        b.requests = 1;
        b.errors.status = 1;
        b.elapsed_ns = 1_000_000_000;
        b.record_latency(8_000_000);
        a.merge(&b);
        assert_eq!(a.requests, 4);
        assert_eq!(a.elapsed_ns, 2_000_000_000);
        let info = RunInfo {
            mode: "http",
            target: "http://h/\"q\"".into(),
            connections: 2,
            threads: 2,
            pipeline: 1,
            keepalive: true,
            rate: None,
            direction: None,
        };
        let j = json(&info, &a);
        assert!(j.contains("\"target\":\"http://h/\\\"q\\\"\""), "{j}");
        assert!(j.contains("\"rps\":2.0,"), "{j}");
        assert!(j.contains("\"read_mb_s\":1.00,"), "{j}");
        assert!(j.contains("\"status\":1}"), "{j}");
        assert!(j.contains("\"p50\":200,"), "{j}");
        assert!(j.contains("\"rate\":null"), "{j}");
        assert!(j.contains("\"mean\":2150.0}"), "{j}");
        assert!(!j.contains("established"));
        let t = table(&info, &a);
        assert!(t.contains("requests      4   (2.0/s)"), "{t}");
        a.reset();
        assert_eq!(
            (a.requests, a.hist.len(), a.errors),
            (0, 0, Errors::default())
        );
    }
}
