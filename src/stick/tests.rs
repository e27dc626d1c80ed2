use std::sync::Arc;

use super::*;

fn def(size: usize, expire_ms: Option<u64>) -> TableDef {
    let mut stores = Stores::default();
    stores.add(DataType::ConnCur, 0);
    stores.add(DataType::ConnCnt, 0);
    stores.add(DataType::ConnRate, 10_000);
    stores.add(DataType::HttpReqRate, 10_000);
    stores.add(DataType::Gpc0, 0);
    TableDef {
        name: "t".into(),
        key: KeyType::Ip,
        size,
        expire_ms,
        stores,
    }
}

fn key(s: &str) -> KeyBuf {
    KeyType::Ip.parse(s).unwrap()
}

#[test]
fn conn_cur_follows_trackers_exactly() {
    let t = Arc::new(StickTable::new(def(100, Some(60_000))));
    let k = key("10.0.0.1");
    let a = t.track(&k, 1000).unwrap();
    let b = t.track(&k, 1000).unwrap();
    assert_eq!(a.get(DataType::ConnCur, 1000), Some(2));
    assert_eq!(a.entry().refs(), 2);
    drop(a);
    assert_eq!(b.get(DataType::ConnCur, 1000), Some(1));
    assert_eq!(b.get(DataType::ConnCnt, 1000), Some(2));
    drop(b);
    let e = t.lookup(&k, 1000).unwrap();
    assert_eq!(e.get(&t.def.stores, DataType::ConnCur, 1000), Some(0));
    assert_eq!(e.refs(), 0);
    // Not stored: no value.
    assert_eq!(e.get(&t.def.stores, DataType::SessCnt, 1000), None);
}

#[test]
fn a_stream_sees_its_sessions_entries_without_owning_them() {
    let t = Arc::new(StickTable::new(def(100, None)));
    let mut sess = Trackers::default();
    sess.set(0, t.track(&key("10.0.0.1"), 1).unwrap());
    let strm = Trackers::default();
    for _ in 0..5 {
        let sc = Sc::new(Some(&sess), Some(&strm));
        assert!(sc.tracked(0));
        sc.count_request(1);
    }
    let e = t.lookup(&key("10.0.0.1"), 1).unwrap();
    assert_eq!(e.get(&t.def.stores, DataType::ConnCur, 1), Some(1));
    assert_eq!(e.get(&t.def.stores, DataType::HttpReqRate, 1), Some(5));
    assert_eq!(e.refs(), 1);
    drop(sess);
    assert_eq!(e.get(&t.def.stores, DataType::ConnCur, 1), Some(0));
}

#[test]
fn many_threads_leave_conn_cur_at_zero() {
    let t = Arc::new(StickTable::new(def(1000, Some(60_000))));
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let t = t.clone();
            std::thread::spawn(move || {
                for n in 0..5000u32 {
                    let k = key(&format!("10.0.{}.{}", i, n % 7));
                    let a = t.track(&k, 5).unwrap();
                    let b = t.track(&key("10.9.9.9"), 5).unwrap();
                    drop(a);
                    drop(b);
                }
            })
        })
        .collect();
    for th in threads {
        th.join().unwrap();
    }
    let e = t.lookup(&key("10.9.9.9"), 5).unwrap();
    assert_eq!(e.get(&t.def.stores, DataType::ConnCur, 5), Some(0));
    assert_eq!(e.get(&t.def.stores, DataType::ConnCnt, 5), Some(20_000));
    assert_eq!(t.used(), 4 * 7 + 1);
}

#[test]
fn unreferenced_entries_expire_and_tracked_ones_do_not() {
    let t = Arc::new(StickTable::new(def(100, Some(100))));
    let held = t.track(&key("10.0.0.1"), 1000).unwrap();
    drop(t.track(&key("10.0.0.2"), 1000).unwrap());
    let released_at = crate::shard::timer::now_ms();
    // The expiry restarts at the release (real clock).
    assert!(t.lookup(&key("10.0.0.2"), released_at).is_some());
    assert!(t.lookup(&key("10.0.0.2"), released_at + 200).is_none());
    assert!(t.lookup(&key("10.0.0.1"), released_at + 200).is_some());
    assert_eq!(t.purge(released_at + 200), 1);
    assert_eq!(t.used(), 1);
    drop(held);
}

#[test]
fn a_full_table_evicts_the_oldest_unreferenced_entry() {
    let t = Arc::new(StickTable::new(def(3, Some(1_000_000))));
    let a = t.track(&key("10.0.0.1"), 10).unwrap();
    t.update(&key("10.0.0.2"), 10, |_, _| ()).unwrap();
    t.update(&key("10.0.0.3"), 20, |_, _| ()).unwrap();
    // Full: .2 (expiring first, unreferenced) makes room.
    t.update(&key("10.0.0.4"), 30, |_, _| ()).unwrap();
    assert!(t.lookup(&key("10.0.0.2"), 30).is_none());
    assert!(t.lookup(&key("10.0.0.3"), 30).is_some());
    assert_eq!(t.used(), 3);
    // Full of tracked entries: nothing can be created.
    let b = t.track(&key("10.0.0.3"), 40).unwrap();
    let c = t.track(&key("10.0.0.4"), 40).unwrap();
    assert!(t.track(&key("10.0.0.5"), 40).is_none());
    drop((a, b, c));
}

#[test]
fn rates_slide_over_their_period() {
    let mut f = Freq::default();
    for _ in 0..10 {
        f.add(1000, 1000, 1);
    }
    assert_eq!(f.read(1000, 1000), 10);
    // Half-way through the next period, half of the previous one counts.
    assert_eq!(f.read(2500, 1000), 5);
    f.add(2500, 1000, 2);
    assert_eq!(f.read(2500, 1000), 7);
    // Two periods later, nothing.
    assert_eq!(f.read(5000, 1000), 0);
}

#[test]
fn clear_keeps_tracked_entries() {
    let t = Arc::new(StickTable::new(def(10, None)));
    let a = t.track(&key("10.0.0.1"), 1).unwrap();
    t.update(&key("10.0.0.2"), 1, |_, _| ()).unwrap();
    assert_eq!(t.clear(|_| true), 1);
    assert_eq!(t.used(), 1);
    drop(a);
    assert_eq!(t.clear(|_| true), 1);
    assert_eq!(t.used(), 0);
}
