//! The log's tests: group commit, rotation, segments, torn tails, sealing.
#![allow(clippy::unwrap_used)]
use super::*;
use riskstream_core::crypt::HEADER_LEN;
use std::fs::OpenOptions;
use std::time::{Duration, Instant};

fn fsync() -> Options {
    Options {
        fsync: true,
        ..Options::default()
    }
}

fn master(secret_end: &str) -> MasterKeys {
    MasterKeys::parse_inline(&format!("m1:{}{secret_end}", "ab".repeat(31)), "test").unwrap()
}

fn read_all(dir: &Path, from: u64, keys: Option<&MasterKeys>) -> Result<Vec<Record>, String> {
    let mut got = Vec::new();
    replay(dir, "d", from, keys, |_, r| {
        got.push(r);
        Ok(())
    })?;
    Ok(got)
}

#[tokio::test]
async fn with_master_keys_the_log_is_sealed_and_reads_back_only_with_them() {
    let dir = tempfile::tempdir().unwrap();
    let keys = master("01");
    let o = Options {
        keys: Some(keys.clone()),
        ..fsync()
    };
    // Small segments: records cross into new parts, and a rotation starts a generation.
    let w = Wal::start_sized(dir.path(), "d", 0, o, 4096).unwrap();
    let mut want = Vec::new();
    for i in 0..150 {
        let rec = Record::Decision {
            tx: serde_json::json!({"TRANSACTION_ID": format!("secret-tx-{i}"), "TX_AMOUNT": 12.5})
                .as_object()
                .unwrap()
                .clone(),
            decision: format!("{{\"tx_id\":\"secret-tx-{i}\"}}"),
            actor: "k".into(),
        };
        w.append(rec.clone()).await.unwrap().unwrap();
        want.push(rec);
        if i == 90 {
            w.rotate();
        }
    }
    drop(w);
    let segs = segment::segments(dir.path(), "d").unwrap();
    assert!(segs.len() > 3, "{segs:?}");
    for (g, part) in &segs {
        let bytes = std::fs::read(segment::part_of(dir.path(), "d", *g, *part)).unwrap();
        assert!(
            riskstream_core::crypt::is_sealed(&bytes),
            "segment {g}.{part} has no header"
        );
        assert!(
            !bytes.windows(9).any(|w| w == b"secret-tx"),
            "segment {g}.{part} holds a transaction in clear"
        );
    }
    assert_eq!(read_all(dir.path(), 0, Some(&keys)).unwrap(), want);
    // Without keys, or with another secret under the same id: a clear refusal.
    let e = read_all(dir.path(), 0, None).unwrap_err();
    assert!(e.contains("master keys"), "{e}");
    let e = read_all(dir.path(), 0, Some(&master("02"))).unwrap_err();
    assert!(e.contains("not the one it was written with"), "{e}");
    // A segment renamed into another's place does not open there.
    let (a, b) = (
        segment::part_of(dir.path(), "d", 0, 1),
        segment::part_of(dir.path(), "d", 0, 2),
    );
    let tmp = dir.path().join("swap");
    std::fs::rename(&a, &tmp).unwrap();
    std::fs::rename(&b, &a).unwrap();
    std::fs::rename(&tmp, &b).unwrap();
    let e = read_all(dir.path(), 0, Some(&keys)).unwrap_err();
    assert!(e.contains("does not authenticate"), "{e}");
}

#[tokio::test]
async fn a_plain_log_is_still_read_once_keys_are_configured() {
    let dir = tempfile::tempdir().unwrap();
    let w = Wal::start(dir.path(), "d", 0, true).unwrap();
    w.append(label(1)).await.unwrap().unwrap();
    drop(w);
    let keys = master("01");
    let o = Options {
        keys: Some(keys.clone()),
        ..fsync()
    };
    let w = Wal::start_with(dir.path(), "d", 1, o).unwrap();
    w.append(label(2)).await.unwrap().unwrap();
    drop(w);
    assert_eq!(
        read_all(dir.path(), 0, Some(&keys)).unwrap(),
        vec![label(1), label(2)]
    );
}

#[test]
fn a_header_that_never_reached_the_disk_whole_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let keys = master("01");
    let s = RecordSealer::new(&keys, &context("d", 0, 0)).unwrap();
    // Half a header, then the zeros laid down ahead.
    let mut bytes = s.header()[..60].to_vec();
    bytes.resize(4096, 0);
    std::fs::write(file_of(dir.path(), "d", 0), &bytes).unwrap();
    let r = replay(dir.path(), "d", 0, Some(&keys), |_, _| Ok(())).unwrap();
    assert_eq!((r.records, r.torn_bytes), (0, HEADER_LEN as u64));
    assert_eq!(
        std::fs::metadata(file_of(dir.path(), "d", 0))
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn the_writer_waits_only_when_traffic_is_heavy_and_current() {
    let ms = Duration::from_millis(1);
    let t0 = Instant::now();
    let mut p = Pace::default();
    assert!(!p.gathers(ms, t0), "no history: no wait");
    p.flushed(1, t0);
    assert!(!p.gathers(ms, t0));
    // One record a millisecond: a 1 ms wait gathers one more, not worth it.
    p.flushed(1, t0 + ms);
    assert!(!p.gathers(ms, t0 + ms * 2));
    // Ten records in a millisecond: waiting gathers about ten.
    p.flushed(10, t0 + ms * 2);
    assert!(p.gathers(ms, t0 + ms * 3));
    assert!(
        !p.gathers(Duration::ZERO, t0 + ms * 3),
        "no delay configured"
    );
    // The burst is over: the last group is more than four delays old.
    assert!(!p.gathers(ms, t0 + ms * 7));
}

#[tokio::test]
async fn with_a_commit_delay_every_record_is_durable_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let o = Options {
        fsync: true,
        commit_delay: Duration::from_millis(2),
        keys: None,
    };
    let w = Wal::start_with(dir.path(), "d", 0, o).unwrap();
    let mut acks = Vec::new();
    for round in 0..20_i64 {
        for i in 0..25_i64 {
            acks.push(w.append(label(round * 25 + i)));
        }
        std::thread::sleep(Duration::from_micros(300));
    }
    for a in acks {
        a.await.unwrap().unwrap();
    }
    drop(w);
    let mut seen = Vec::new();
    replay(dir.path(), "d", 0, None, |_, r| {
        if let Record::Label { time, .. } = r {
            seen.push(time);
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(seen, (0..500).collect::<Vec<_>>());
}

fn label(i: i64) -> Record {
    Record::Label {
        tx_id: format!("t{i}"),
        fraud: i % 2 == 0,
        time: i,
        correction: false,
        actor: "t".into(),
    }
}

#[tokio::test]
async fn records_come_back_in_order_across_rotations_and_a_torn_tail_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let w = Wal::start(dir.path(), "d", 0, true).unwrap();
    for i in 0..3 {
        w.append(label(i)).await.unwrap().unwrap();
    }
    let g = w.rotate();
    assert_eq!(g, 1);
    for i in 3..5 {
        w.append(label(i)).await.unwrap().unwrap();
    }
    drop(w);
    // A record half on disk after the last whole one (over the zeros laid ahead).
    let last = file_of(dir.path(), "d", 1);
    let whole: u64 = (3..5)
        .map(|i| encode(&label(i)).unwrap().len() as u64)
        .sum();
    {
        use std::os::unix::fs::FileExt;
        let f = OpenOptions::new().write(true).open(&last).unwrap();
        let mut torn = encode(&label(9)).unwrap();
        let keep = torn.len() - 5;
        torn.truncate(keep);
        f.write_all_at(&torn, whole).unwrap();
    }
    let mut got = Vec::new();
    let r = replay(dir.path(), "d", 0, None, |_, rec| {
        got.push(rec);
        Ok(())
    })
    .unwrap();
    assert_eq!(got, (0..5).map(label).collect::<Vec<_>>());
    assert_eq!((r.files, r.records), (2, 5));
    assert!(r.torn_bytes > 0);
    assert_eq!(
        std::fs::metadata(&last).unwrap().len(),
        whole,
        "cut at the torn record"
    );
    // From generation 1 only the records after the rotation.
    let mut n = 0;
    replay(dir.path(), "d", 1, None, |_, _| {
        n += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(n, 2);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&last).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "log files are owner-only: {mode:o}");
}

#[test]
fn a_damaged_record_before_the_end_is_an_error_that_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = file_of(dir.path(), "d", 0);
    let mut bytes = encode(&label(1)).unwrap();
    bytes[14] ^= 0xff;
    bytes.extend(encode(&label(2)).unwrap());
    std::fs::write(&p, bytes).unwrap();
    let e = replay(dir.path(), "d", 0, None, |_, _| Ok(())).unwrap_err();
    assert!(
        e.contains("d.wal.0000000000 at byte 0") && e.contains("damaged"),
        "{e}"
    );
}

#[tokio::test]
async fn a_generation_spans_segments_from_the_spare_and_replays_in_order() {
    let dir = tempfile::tempdir().unwrap();
    // Segments of 4 KiB: a few records each, so the writer moves on many times.
    let w = Wal::start_sized(dir.path(), "d", 3, fsync(), 4096).unwrap();
    let mut want = Vec::new();
    for i in 0..200 {
        w.append(label(i)).await.unwrap().unwrap();
        want.push(label(i));
        if i == 120 {
            assert_eq!(w.rotate(), 4);
        }
    }
    let segs = segment::segments(dir.path(), "d").unwrap();
    assert!(segs.len() > 4, "{segs:?}");
    assert!(segs.iter().any(|&(g, p)| g == 3 && p > 0), "{segs:?}");
    assert!(segs.iter().any(|&(g, p)| g == 4 && p > 0), "{segs:?}");
    assert_eq!(generations(dir.path(), "d").unwrap(), vec![3, 4]);
    let mut got = Vec::new();
    let r = replay(dir.path(), "d", 0, None, |_, rec| {
        got.push(rec);
        Ok(())
    })
    .unwrap();
    assert_eq!(got, want, "every record once, in order, across segments");
    assert_eq!((r.files, r.records, r.torn_bytes), (segs.len(), 200, 0));
    // From generation 4: only what followed the rotation.
    let mut from4 = Vec::new();
    replay(dir.path(), "d", 4, None, |g, rec| {
        assert_eq!(g, 4);
        from4.push(rec);
        Ok(())
    })
    .unwrap();
    assert_eq!(from4, want[121..].to_vec());
    // Pruning generation 3 removes all of its parts, and nothing of 4.
    w.prune_before(4);
    assert!(segment::segments(dir.path(), "d")
        .unwrap()
        .iter()
        .all(|&(g, _)| g == 4));
    drop(w);
    // The spare is not mistaken for a segment, and a restart removes a stale one.
    let spare = dir.path().join("d.wal.spare");
    std::fs::write(&spare, b"half").unwrap();
    assert!(segment::segments(dir.path(), "d")
        .unwrap()
        .iter()
        .all(|&(g, _)| g == 4));
    let w = Wal::start_sized(dir.path(), "d", 5, fsync(), 4096).unwrap();
    w.append(label(1)).await.unwrap().unwrap();
    drop(w);
    let mut n = 0;
    replay(dir.path(), "d", 5, None, |_, _| {
        n += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn a_record_larger_than_a_segment_grows_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut segs = segment::Segments::start(dir.path(), "d", 1024).unwrap();
    let mut cur = Current::open(&mut segs, None, 0, 0).unwrap();
    let big = Record::Label {
        tx_id: "x".repeat(5000),
        fraud: true,
        time: 1,
        correction: false,
        actor: "t".into(),
    };
    let mut buf = Vec::new();
    cur.add(&mut segs, None, &mut buf, body(&big).unwrap(), true)
        .unwrap();
    flush(&mut cur, &mut buf, true).unwrap();
    let mut got = Vec::new();
    replay(dir.path(), "d", 0, None, |_, r| {
        got.push(r);
        Ok(())
    })
    .unwrap();
    assert_eq!(got, vec![big]);
}
