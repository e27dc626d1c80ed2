//! Stick tables shared by every shard, and the counters sessions and
//! streams track in them (seed 002).
//!
//! Design (see `doc/internals/stick-tables.md`): one table is shared by all
//! shards, split in lock stripes chosen by a hash of the key; an entry is an
//! `Arc` whose values sit behind their own small mutex. A shard touches a
//! stripe lock only to find or create an entry (once per tracking rule,
//! that is once per connection or per request), and an entry's lock for a
//! few nanoseconds per update. Counts are therefore exact across shards
//! (`conn_cur` is one number, not a sum of per-shard guesses) without
//! messages, at the price of a shared cache line per hot key. The other
//! design the issue suggested, an owner shard per key reached by messages,
//! would make every `track-sc` an asynchronous round trip before the
//! connection's rules could go on.
//!
//! Ownership is the model's: a [`Tracked`] is one reference (HAProxy's
//! `ref_cnt`) and one `conn_cur`, owned by the session or the stream that
//! tracked it, and given back when it is dropped: a session slot freed,
//! however the session died (embryonic, killed, closed), gives its counts
//! back exactly once. A stream sees its session's entries through
//! [`Sc`], by reference: it can update their rates and counters but holds
//! no `Tracked` of them, so it can neither take a second reference nor
//! decrement their `conn_cur` (the bug of seed 002).

mod data;
mod key;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

pub use data::{Data, DataType, Freq, Stores};
use key::MapKey;
pub use key::{DEFAULT_STRING_LEN, KeyBuf, KeyType, MAX_KEY_LEN};

/// `track-sc0`, `track-sc1`, `track-sc2`: HAProxy's default
/// `tune.stick-counters`.
pub const MAX_SC: usize = 3;

/// A `stick-table` line as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDef {
    /// The name of the proxy that declares it.
    pub name: String,
    pub key: KeyType,
    /// Most entries held at once.
    pub size: usize,
    /// How long an entry no one tracks lives after its last use (ms);
    /// None: until evicted by a full table.
    pub expire_ms: Option<u64>,
    pub stores: Stores,
}

type Stripe = HashMap<MapKey, Arc<Entry>>;

/// One table, shared by every shard.
pub struct StickTable {
    pub def: TableDef,
    stripes: Box<[Mutex<Stripe>]>,
    used: AtomicUsize,
}

impl std::fmt::Debug for StickTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StickTable")
            .field("name", &self.def.name)
            .field("used", &self.used())
            .finish_non_exhaustive()
    }
}

/// One key's values. `refs` counts the [`Tracked`] that hold it.
pub struct Entry {
    key: MapKey,
    refs: AtomicU32,
    data: Mutex<Data>,
}

impl Entry {
    pub fn key(&self) -> &[u8] {
        self.key.bytes()
    }

    /// Sessions and streams tracking it (`use=` in `show table`).
    pub fn refs(&self) -> u32 {
        self.refs.load(Ordering::Acquire)
    }

    fn data(&self) -> MutexGuard<'_, Data> {
        // A panic while holding an entry lock leaves plain numbers behind:
        // they stay usable.
        self.data.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The value of `dt` now, if the table stores it.
    pub fn get(&self, st: &Stores, dt: DataType, now: u64) -> Option<i64> {
        st.has(dt).then(|| self.data().get(st, dt, now))
    }

    /// When it expires if no one tracks it (ms), 0 for never.
    pub fn expire(&self) -> u64 {
        self.data().expire
    }

    /// Adds one to gpc0 (and its rate); the new value, if stored.
    pub fn inc_gpc0(&self, st: &Stores, now: u64) -> Option<i64> {
        let mut d = self.data();
        d.bump(st, DataType::Gpc0, DataType::Gpc0Rate, 1, now);
        st.has(DataType::Gpc0)
            .then(|| d.get(st, DataType::Gpc0, now))
    }

    /// Sets gpc0 to zero; the value before, if stored.
    pub fn clr_gpc0(&self, st: &Stores, now: u64) -> Option<i64> {
        let mut d = self.data();
        let before = st
            .has(DataType::Gpc0)
            .then(|| d.get(st, DataType::Gpc0, now));
        d.set(DataType::Gpc0, 0, now);
        before
    }

    fn live(&self, now: u64) -> bool {
        if self.refs() > 0 {
            return true;
        }
        let exp = self.data().expire;
        exp == 0 || exp > now
    }
}

/// FNV-1a: picks the stripe (the map itself hashes with a keyed SipHash, so
/// a client choosing keys can only crowd one stripe, not degrade a map).
fn stripe_of(key: &[u8], n: usize) -> usize {
    let mut h: u32 = 0x811c_9dc5;
    for b in key {
        h = (h ^ u32::from(*b)).wrapping_mul(0x0100_0193);
    }
    (h as usize) & (n - 1)
}

impl StickTable {
    pub fn new(def: TableDef) -> StickTable {
        // Enough stripes that shards rarely meet on one, few enough that a
        // full small table evicts from a meaningful share of its entries.
        let n = (def.size / 256).clamp(1, 64).next_power_of_two();
        StickTable {
            def,
            stripes: (0..n).map(|_| Mutex::new(HashMap::new())).collect(),
            used: AtomicUsize::new(0),
        }
    }

    /// Entries held (expired ones included until purged).
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn stripe(&self, key: &[u8]) -> MutexGuard<'_, Stripe> {
        let i = stripe_of(key, self.stripes.len());
        self.stripes[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    fn next_expire(&self, now: u64) -> u64 {
        self.def.expire_ms.map_or(0, |e| now + e.max(1))
    }

    /// Removes from `map` what nobody tracks and has expired; with
    /// `evict_one`, when nothing expired, also the unreferenced entry that
    /// would expire first (HAProxy evicts its oldest entries when full).
    fn purge_stripe(&self, map: &mut Stripe, now: u64, evict_one: bool) -> usize {
        let before = map.len();
        map.retain(|_, e| e.live(now));
        let mut removed = before - map.len();
        if removed == 0 && evict_one {
            let oldest = map
                .iter()
                .filter(|(_, e)| e.refs() == 0)
                .min_by_key(|(_, e)| e.expire())
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                map.remove(&k);
                removed = 1;
            }
        }
        self.used.fetch_sub(removed, Ordering::Relaxed);
        removed
    }

    /// The live entry of `key`, created if missing (None: the table is
    /// full of tracked entries). With `take_ref`, the reference is taken
    /// under the stripe lock, so a purge cannot remove it meanwhile.
    fn get_or_create(&self, key: &KeyBuf, now: u64, take_ref: bool) -> Option<Arc<Entry>> {
        let k = key.bytes();
        let mut map = self.stripe(k);
        if let Some(e) = map.get(k) {
            if e.live(now) {
                if take_ref {
                    e.refs.fetch_add(1, Ordering::AcqRel);
                }
                return Some(e.clone());
            }
            // Expired and unreferenced: it starts afresh.
            map.remove(k);
            self.used.fetch_sub(1, Ordering::Relaxed);
        }
        if self.used() >= self.def.size && self.purge_stripe(&mut map, now, true) == 0 {
            return None;
        }
        let key = MapKey::new(k);
        let e = Arc::new(Entry {
            key: key.clone(),
            refs: AtomicU32::new(u32::from(take_ref)),
            data: Mutex::new(Data::expiring(self.next_expire(now))),
        });
        map.insert(key, e.clone());
        self.used.fetch_add(1, Ordering::Relaxed);
        Some(e)
    }

    /// The live entry of `key`, if any; nothing is created (`src_*`
    /// fetches, `show table ... key`).
    pub fn lookup(&self, key: &KeyBuf, now: u64) -> Option<Arc<Entry>> {
        let map = self.stripe(key.bytes());
        map.get(key.bytes()).filter(|e| e.live(now)).cloned()
    }

    /// `track-scN`: the entry of `key`, referenced by the returned tracker,
    /// with its connection counts started (`conn_cur`, `conn_cnt`,
    /// `conn_rate`, as HAProxy's `stream_start_counters`). None when the
    /// table is full of tracked entries: the rule then tracks nothing.
    pub fn track(self: &Arc<Self>, key: &KeyBuf, now: u64) -> Option<Tracked> {
        let entry = self.get_or_create(key, now, true)?;
        {
            let st = &self.def.stores;
            let mut d = entry.data();
            if st.has(DataType::ConnCur)
                && let Some(c) = d.counter_mut(DataType::ConnCur)
            {
                *c += 1;
            }
            d.bump(st, DataType::ConnCnt, DataType::ConnRate, 1, now);
            d.expire = self.next_expire(now);
        }
        Some(Tracked {
            table: self.clone(),
            entry,
        })
    }

    /// Creates or refreshes `key` without tracking it and runs `f` on its
    /// values (`stick store-request`, `set table`, `src_inc_gpc0`).
    pub fn update<R>(
        &self,
        key: &KeyBuf,
        now: u64,
        f: impl FnOnce(&Stores, &mut Data) -> R,
    ) -> Option<R> {
        let entry = self.get_or_create(key, now, false)?;
        let mut d = entry.data();
        d.expire = self.next_expire(now);
        Some(f(&self.def.stores, &mut d))
    }

    /// Live entries, for `show table` (a copy of the list: no stripe stays
    /// locked while the caller formats them).
    pub fn entries(&self, now: u64) -> Vec<Arc<Entry>> {
        let mut out = Vec::new();
        for s in self.stripes.iter() {
            let map = s.lock().unwrap_or_else(|p| p.into_inner());
            out.extend(map.values().filter(|e| e.live(now)).cloned());
        }
        out
    }

    /// Removes expired entries nobody tracks; returns how many.
    pub fn purge(&self, now: u64) -> usize {
        let mut n = 0;
        for s in self.stripes.iter() {
            let mut map = s.lock().unwrap_or_else(|p| p.into_inner());
            n += self.purge_stripe(&mut map, now, false);
        }
        n
    }

    /// `clear table`: removes the entries `keep` refuses, except those
    /// still tracked (HAProxy keeps an entry in use); returns how many went.
    pub fn clear(&self, mut remove: impl FnMut(&Entry) -> bool) -> usize {
        let mut n = 0;
        for s in self.stripes.iter() {
            let mut map = s.lock().unwrap_or_else(|p| p.into_inner());
            let before = map.len();
            map.retain(|_, e| e.refs() > 0 || !remove(e));
            n += before - map.len();
        }
        self.used.fetch_sub(n, Ordering::Relaxed);
        n
    }

    /// `clear table NAME key KEY`: removes `key` unless it is tracked (then
    /// Err, HAProxy's "in use"); Ok(false) when there was no such entry.
    pub fn remove(&self, key: &KeyBuf) -> Result<bool, InUse> {
        let mut map = self.stripe(key.bytes());
        match map.get(key.bytes()) {
            None => return Ok(false),
            Some(e) if e.refs() > 0 => return Err(InUse),
            Some(_) => {}
        }
        map.remove(key.bytes());
        self.used.fetch_sub(1, Ordering::Relaxed);
        Ok(true)
    }

    /// `set table`: sets each value of `key`, creating the entry.
    pub fn set(&self, key: &KeyBuf, values: &[(DataType, i64)], now: u64) -> bool {
        self.update(key, now, |_, d| {
            for (dt, v) in values {
                d.set(*dt, *v, now);
            }
        })
        .is_some()
    }

    /// The compatible tables of two configurations are one: a reload keeps
    /// the entries (and the sessions tracking them stay exact).
    pub fn compatible(&self, def: &TableDef) -> bool {
        self.def.key == def.key && self.def.stores == def.stores
    }
}

/// An entry some session or stream tracks: it cannot be removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InUse;

/// One tracked entry: a reference and a `conn_cur` the owner (session or
/// stream) gives back when it drops this.
pub struct Tracked {
    table: Arc<StickTable>,
    entry: Arc<Entry>,
}

impl std::fmt::Debug for Tracked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracked")
            .field("table", &self.table.def.name)
            .finish_non_exhaustive()
    }
}

impl Tracked {
    pub fn table(&self) -> &Arc<StickTable> {
        &self.table
    }

    pub fn entry(&self) -> &Arc<Entry> {
        &self.entry
    }

    /// The value of `dt`, if the table stores it.
    pub fn get(&self, dt: DataType, now: u64) -> Option<i64> {
        self.entry.get(&self.table.def.stores, dt, now)
    }

    /// Adds `n` to a counter and its rate (each only if stored).
    pub fn bump(&self, cnt: DataType, rate: DataType, n: u64, now: u64) {
        let st = &self.table.def.stores;
        if st.has(cnt) || st.has(rate) {
            self.entry.data().bump(st, cnt, rate, n, now);
        }
    }

    /// `sc-inc-gpc0` / `scN_inc_gpc0`: the new gpc0 (None if not stored).
    pub fn inc_gpc0(&self, now: u64) -> Option<i64> {
        self.entry.inc_gpc0(&self.table.def.stores, now)
    }

    /// `sc-clr-gpc0` / `scN_clr_gpc0`: the value before (None if not stored).
    pub fn clr_gpc0(&self, now: u64) -> Option<i64> {
        self.entry.clr_gpc0(&self.table.def.stores, now)
    }
}

impl Drop for Tracked {
    /// HAProxy's `stream_store_counters`: `conn_cur` down, the expiry
    /// restarted, the reference given back (last, so that a purge never
    /// sees an unreferenced entry with a stale expiry).
    fn drop(&mut self) {
        let now = crate::shard::timer::now_ms();
        {
            let mut d = self.entry.data();
            if self.table.def.stores.has(DataType::ConnCur)
                && let Some(c) = d.counter_mut(DataType::ConnCur)
            {
                *c = c.saturating_sub(1);
            }
            d.expire = self.table.next_expire(now);
        }
        self.entry.refs.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The `track-sc0..2` slots of a session or of a stream.
#[derive(Debug, Default)]
pub struct Trackers {
    slots: [Option<Tracked>; MAX_SC],
}

impl Trackers {
    pub fn get(&self, i: usize) -> Option<&Tracked> {
        self.slots.get(i)?.as_ref()
    }

    pub fn set(&mut self, i: usize, t: Tracked) {
        if let Some(s) = self.slots.get_mut(i) {
            *s = Some(t);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.slots.iter().all(Option::is_none)
    }

    /// `sess_cnt`, `sess_rate`: the session these belong to was accepted.
    pub fn count_session(&self, now: u64) {
        for t in self.slots.iter().flatten() {
            t.bump(DataType::SessCnt, DataType::SessRate, 1, now);
        }
    }
}

/// What a stream sees of the stick counters: each `scN` is the stream's own
/// tracked entry, else its session's (HAProxy's automatic lookup into the
/// session's counters, seed 002). Updates through it reach both; references
/// and `conn_cur` stay with their owners.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sc<'a> {
    pub sess: Option<&'a Trackers>,
    pub strm: Option<&'a Trackers>,
}

impl<'a> Sc<'a> {
    pub fn new(sess: Option<&'a Trackers>, strm: Option<&'a Trackers>) -> Sc<'a> {
        Sc { sess, strm }
    }

    /// Neither the stream nor its session tracks anything.
    pub fn is_empty(&self) -> bool {
        self.sess.is_none_or(Trackers::is_empty) && self.strm.is_none_or(Trackers::is_empty)
    }

    pub fn get(&self, i: usize) -> Option<&'a Tracked> {
        self.strm
            .and_then(|t| t.get(i))
            .or_else(|| self.sess.and_then(|t| t.get(i)))
    }

    /// Whether `scN` is tracked already, by the stream or its session: a
    /// `track-scN` rule is then ignored (the stream never takes over an
    /// entry its session tracks).
    pub fn tracked(&self, i: usize) -> bool {
        self.get(i).is_some()
    }

    fn each(&self) -> impl Iterator<Item = &'a Tracked> + '_ {
        (0..MAX_SC).filter_map(|i| self.get(i))
    }

    /// A new HTTP request (`http_req_cnt`, `http_req_rate`).
    pub fn count_request(&self, now: u64) {
        for t in self.each() {
            t.bump(DataType::HttpReqCnt, DataType::HttpReqRate, 1, now);
        }
    }

    /// An HTTP error: a bad request, or a 4xx answer other than 401/407.
    pub fn count_http_error(&self, now: u64) {
        for t in self.each() {
            t.bump(DataType::HttpErrCnt, DataType::HttpErrRate, 1, now);
        }
    }

    /// Bytes the stream moved: from the client (`in`), to it (`out`).
    pub fn count_bytes(&self, bytes_in: u64, bytes_out: u64, now: u64) {
        for t in self.each() {
            if bytes_in > 0 {
                t.bump(DataType::BytesInCnt, DataType::BytesInRate, bytes_in, now);
            }
            if bytes_out > 0 {
                t.bump(
                    DataType::BytesOutCnt,
                    DataType::BytesOutRate,
                    bytes_out,
                    now,
                );
            }
        }
    }
}

/// Whether an HTTP status counts as an error in `http_err_cnt` (HAProxy:
/// 4xx, except 401 and 407 which are part of normal authentication).
pub fn is_http_error(status: u16) -> bool {
    (400..500).contains(&status) && status != 401 && status != 407
}
