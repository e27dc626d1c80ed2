//! What a stick-table entry stores: HAProxy's data types, in HAProxy's
//! order (the order `show table` prints them in), and the frequency
//! counters behind the `_rate(P)` types.

/// One storable data type. The order is HAProxy's (`enum stktable_data_type`
/// without the types ringproxy does not store), which is the order of
/// `show table`'s columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataType {
    ServerId,
    Gpc0,
    Gpc0Rate,
    ConnCnt,
    ConnRate,
    ConnCur,
    SessCnt,
    SessRate,
    HttpReqCnt,
    HttpReqRate,
    HttpErrCnt,
    HttpErrRate,
    BytesInCnt,
    BytesInRate,
    BytesOutCnt,
    BytesOutRate,
}

impl DataType {
    pub const ALL: [DataType; 16] = [
        DataType::ServerId,
        DataType::Gpc0,
        DataType::Gpc0Rate,
        DataType::ConnCnt,
        DataType::ConnRate,
        DataType::ConnCur,
        DataType::SessCnt,
        DataType::SessRate,
        DataType::HttpReqCnt,
        DataType::HttpReqRate,
        DataType::HttpErrCnt,
        DataType::HttpErrRate,
        DataType::BytesInCnt,
        DataType::BytesInRate,
        DataType::BytesOutCnt,
        DataType::BytesOutRate,
    ];

    /// The name in `store`, `data.TYPE` and `show table`.
    pub fn name(self) -> &'static str {
        match self {
            DataType::ServerId => "server_id",
            DataType::Gpc0 => "gpc0",
            DataType::Gpc0Rate => "gpc0_rate",
            DataType::ConnCnt => "conn_cnt",
            DataType::ConnRate => "conn_rate",
            DataType::ConnCur => "conn_cur",
            DataType::SessCnt => "sess_cnt",
            DataType::SessRate => "sess_rate",
            DataType::HttpReqCnt => "http_req_cnt",
            DataType::HttpReqRate => "http_req_rate",
            DataType::HttpErrCnt => "http_err_cnt",
            DataType::HttpErrRate => "http_err_rate",
            DataType::BytesInCnt => "bytes_in_cnt",
            DataType::BytesInRate => "bytes_in_rate",
            DataType::BytesOutCnt => "bytes_out_cnt",
            DataType::BytesOutRate => "bytes_out_rate",
        }
    }

    pub fn from_name(s: &str) -> Option<DataType> {
        DataType::ALL.into_iter().find(|d| d.name() == s)
    }

    /// A frequency counter: declared `name(period)`.
    pub fn is_rate(self) -> bool {
        matches!(
            self,
            DataType::Gpc0Rate
                | DataType::ConnRate
                | DataType::SessRate
                | DataType::HttpReqRate
                | DataType::HttpErrRate
                | DataType::BytesInRate
                | DataType::BytesOutRate
        )
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// The data types a table stores, with the period (ms) of each rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stores {
    mask: u32,
    periods: [u32; 16],
}

impl Stores {
    pub fn add(&mut self, dt: DataType, period_ms: u32) {
        self.mask |= dt.bit();
        self.periods[dt as usize] = period_ms;
    }

    pub fn has(&self, dt: DataType) -> bool {
        self.mask & dt.bit() != 0
    }

    /// The period of a stored rate (ms, at least 1).
    pub fn period(&self, dt: DataType) -> u64 {
        u64::from(self.periods[dt as usize].max(1))
    }

    pub fn iter(&self) -> impl Iterator<Item = DataType> + '_ {
        DataType::ALL.into_iter().filter(|d| self.has(*d))
    }
}

/// HAProxy's `freq_ctr` over a period: events in the current period and
/// the previous one; the rate read at `now` is the current count plus the
/// previous one weighted by what remains of the current period (a sliding
/// window, without keeping each event).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Freq {
    /// Start of the current period (ms); 0 before the first event.
    tick: u64,
    curr: u64,
    prev: u64,
}

impl Freq {
    fn rotated(mut self, now: u64, period: u64) -> Freq {
        if self.tick == 0 {
            self.tick = now;
            return self;
        }
        let elapsed = now.saturating_sub(self.tick);
        if elapsed >= period {
            self.prev = if elapsed >= 2 * period { 0 } else { self.curr };
            self.curr = 0;
            self.tick = now - elapsed % period;
        }
        self
    }

    pub fn add(&mut self, now: u64, period: u64, n: u64) {
        *self = self.rotated(now, period);
        self.curr = self.curr.saturating_add(n);
    }

    /// Events per period, as HAProxy's `read_freq_ctr_period`.
    pub fn read(&self, now: u64, period: u64) -> u64 {
        let f = self.rotated(now, period);
        let remain = (f.tick + period).saturating_sub(now).min(period);
        f.curr + (u128::from(f.prev) * u128::from(remain) / u128::from(period)) as u64
    }

    /// `set table ... data.X_rate V`: V events in a period starting now.
    pub fn set(&mut self, now: u64, v: u64) {
        *self = Freq {
            tick: now,
            curr: v,
            prev: 0,
        };
    }
}

/// An entry's values. Every type has its field; only the table's stored
/// types are ever updated or shown.
#[derive(Debug, Clone, Default)]
pub struct Data {
    /// When an unreferenced entry expires (ms on CLOCK_MONOTONIC); 0:
    /// never (a table without `expire`).
    pub expire: u64,
    pub server_id: i64,
    pub gpc0: u64,
    pub gpc0_rate: Freq,
    pub conn_cnt: u64,
    pub conn_rate: Freq,
    pub conn_cur: u64,
    pub sess_cnt: u64,
    pub sess_rate: Freq,
    pub http_req_cnt: u64,
    pub http_req_rate: Freq,
    pub http_err_cnt: u64,
    pub http_err_rate: Freq,
    pub bytes_in_cnt: u64,
    pub bytes_in_rate: Freq,
    pub bytes_out_cnt: u64,
    pub bytes_out_rate: Freq,
}

impl Data {
    fn rate(&mut self, dt: DataType) -> Option<&mut Freq> {
        Some(match dt {
            DataType::Gpc0Rate => &mut self.gpc0_rate,
            DataType::ConnRate => &mut self.conn_rate,
            DataType::SessRate => &mut self.sess_rate,
            DataType::HttpReqRate => &mut self.http_req_rate,
            DataType::HttpErrRate => &mut self.http_err_rate,
            DataType::BytesInRate => &mut self.bytes_in_rate,
            DataType::BytesOutRate => &mut self.bytes_out_rate,
            _ => return None,
        })
    }

    fn counter(&mut self, dt: DataType) -> Option<&mut u64> {
        Some(match dt {
            DataType::Gpc0 => &mut self.gpc0,
            DataType::ConnCnt => &mut self.conn_cnt,
            DataType::ConnCur => &mut self.conn_cur,
            DataType::SessCnt => &mut self.sess_cnt,
            DataType::HttpReqCnt => &mut self.http_req_cnt,
            DataType::HttpErrCnt => &mut self.http_err_cnt,
            DataType::BytesInCnt => &mut self.bytes_in_cnt,
            DataType::BytesOutCnt => &mut self.bytes_out_cnt,
            _ => return None,
        })
    }

    /// The value of `dt` at `now` (a rate is read over its period).
    pub fn get(&self, st: &Stores, dt: DataType, now: u64) -> i64 {
        let rate = |f: &Freq| f.read(now, st.period(dt)) as i64;
        let n = |c: u64| i64::try_from(c).unwrap_or(i64::MAX);
        match dt {
            DataType::ServerId => self.server_id,
            DataType::Gpc0 => n(self.gpc0),
            DataType::Gpc0Rate => rate(&self.gpc0_rate),
            DataType::ConnCnt => n(self.conn_cnt),
            DataType::ConnRate => rate(&self.conn_rate),
            DataType::ConnCur => n(self.conn_cur),
            DataType::SessCnt => n(self.sess_cnt),
            DataType::SessRate => rate(&self.sess_rate),
            DataType::HttpReqCnt => n(self.http_req_cnt),
            DataType::HttpReqRate => rate(&self.http_req_rate),
            DataType::HttpErrCnt => n(self.http_err_cnt),
            DataType::HttpErrRate => rate(&self.http_err_rate),
            DataType::BytesInCnt => n(self.bytes_in_cnt),
            DataType::BytesInRate => rate(&self.bytes_in_rate),
            DataType::BytesOutCnt => n(self.bytes_out_cnt),
            DataType::BytesOutRate => rate(&self.bytes_out_rate),
        }
    }

    /// Adds `n` to counter `cnt` and rate `rate` when the table stores them.
    pub fn bump(&mut self, st: &Stores, cnt: DataType, rate: DataType, n: u64, now: u64) {
        if st.has(cnt)
            && let Some(c) = self.counter(cnt)
        {
            *c = c.saturating_add(n);
        }
        if st.has(rate) {
            let p = st.period(rate);
            if let Some(f) = self.rate(rate) {
                f.add(now, p, n);
            }
        }
    }

    /// `set table`: sets `dt` to `v` (a rate starts a period at `now`).
    pub fn set(&mut self, dt: DataType, v: i64, now: u64) {
        if dt == DataType::ServerId {
            self.server_id = v;
        } else if let Some(f) = self.rate(dt) {
            f.set(now, v.max(0) as u64);
        } else if let Some(c) = self.counter(dt) {
            *c = v.max(0) as u64;
        }
    }
}
