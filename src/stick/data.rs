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
        matches!(self.slot(), Slot::Rate(_))
    }

    /// Where the value of this type lives in [`Data`]: the one mapping
    /// from types to storage.
    fn slot(self) -> Slot {
        match self {
            DataType::ServerId => Slot::ServerId,
            DataType::Gpc0 => Slot::Counter(0),
            DataType::ConnCnt => Slot::Counter(1),
            DataType::ConnCur => Slot::Counter(2),
            DataType::SessCnt => Slot::Counter(3),
            DataType::HttpReqCnt => Slot::Counter(4),
            DataType::HttpErrCnt => Slot::Counter(5),
            DataType::BytesInCnt => Slot::Counter(6),
            DataType::BytesOutCnt => Slot::Counter(7),
            DataType::Gpc0Rate => Slot::Rate(0),
            DataType::ConnRate => Slot::Rate(1),
            DataType::SessRate => Slot::Rate(2),
            DataType::HttpReqRate => Slot::Rate(3),
            DataType::HttpErrRate => Slot::Rate(4),
            DataType::BytesInRate => Slot::Rate(5),
            DataType::BytesOutRate => Slot::Rate(6),
        }
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// Where a data type's value is kept in [`Data`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    ServerId,
    Counter(usize),
    Rate(usize),
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

/// An entry's values. Every type has its slot; only the table's stored
/// types are ever updated or shown.
#[derive(Debug, Clone, Default)]
pub struct Data {
    /// When an unreferenced entry expires (ms on CLOCK_MONOTONIC); 0:
    /// never (a table without `expire`).
    pub expire: u64,
    server_id: i64,
    counters: [u64; 8],
    rates: [Freq; 7],
}

impl Data {
    /// Fresh values of an entry that expires at `expire` (0: never).
    pub fn expiring(expire: u64) -> Data {
        Data {
            expire,
            ..Data::default()
        }
    }

    /// The counter of `dt` (None for rates and `server_id`).
    pub fn counter_mut(&mut self, dt: DataType) -> Option<&mut u64> {
        match dt.slot() {
            Slot::Counter(i) => self.counters.get_mut(i),
            _ => None,
        }
    }

    fn rate_mut(&mut self, dt: DataType) -> Option<&mut Freq> {
        match dt.slot() {
            Slot::Rate(i) => self.rates.get_mut(i),
            _ => None,
        }
    }

    /// The value of `dt` at `now` (a rate is read over its period).
    pub fn get(&self, st: &Stores, dt: DataType, now: u64) -> i64 {
        match dt.slot() {
            Slot::ServerId => self.server_id,
            Slot::Counter(i) => i64::try_from(self.counters[i]).unwrap_or(i64::MAX),
            Slot::Rate(i) => {
                i64::try_from(self.rates[i].read(now, st.period(dt))).unwrap_or(i64::MAX)
            }
        }
    }

    /// Adds `n` to counter `cnt` and rate `rate` when the table stores them.
    pub fn bump(&mut self, st: &Stores, cnt: DataType, rate: DataType, n: u64, now: u64) {
        if st.has(cnt)
            && let Some(c) = self.counter_mut(cnt)
        {
            *c = c.saturating_add(n);
        }
        if st.has(rate) {
            let p = st.period(rate);
            if let Some(f) = self.rate_mut(rate) {
                f.add(now, p, n);
            }
        }
    }

    /// `set table`: sets `dt` to `v` (a rate starts a period at `now`).
    pub fn set(&mut self, dt: DataType, v: i64, now: u64) {
        match dt.slot() {
            Slot::ServerId => self.server_id = v,
            Slot::Counter(i) => self.counters[i] = v.max(0) as u64,
            Slot::Rate(i) => self.rates[i].set(now, v.max(0) as u64),
        }
    }
}
