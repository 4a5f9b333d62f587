//! Encryption at rest: round trips, wrong and missing keys, every kind of damage, rotation
//! with rewrap, and resuming a flushed stream.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use riskstream_core::crypt::{
    open_bytes, rewrap_file, seal_bytes, CryptError, MasterKeys, Rewrapped, SealWriter, CHUNK,
    HEADER_LEN,
};
use std::io::Write;

const S1: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const S2: &str = "2222222222222222222222222222222222222222222222222222222222222222";

fn keys(spec: &str) -> MasterKeys {
    MasterKeys::parse_inline(spec, "test").unwrap()
}

fn k1() -> MasterKeys {
    keys(&format!("m1:{S1}"))
}

/// Deterministic bytes that do not compress to nothing and hold a marker string.
fn payload(n: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(n);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while v.len() < n {
        if v.len() % 1000 == 0 {
            v.extend_from_slice(b"MARKER-4539148803436467");
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push((x % 251) as u8);
    }
    v.truncate(n);
    v
}

fn temp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("riskstream-crypt-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

#[test]
fn round_trips_exactly_at_every_size_and_hides_the_plaintext() {
    let k = k1();
    for n in [
        0,
        1,
        100,
        CHUNK - 1,
        CHUNK,
        CHUNK + 1,
        2 * CHUNK,
        3 * CHUNK + 17,
    ] {
        let p = payload(n);
        let c = seal_bytes(&k, &p).unwrap();
        assert_eq!(open_bytes(Some(&k), &c, "f").unwrap(), p, "size {n}");
        if n > 100 {
            assert!(!c.windows(6).any(|w| w == b"MARKER"), "size {n}");
        }
    }
    // Two encryptions of the same bytes differ (fresh data key and nonces).
    assert_ne!(
        seal_bytes(&k, b"same").unwrap(),
        seal_bytes(&k, b"same").unwrap()
    );
}

#[test]
fn unreadable_without_the_right_key() {
    let c = seal_bytes(&k1(), &payload(5000)).unwrap();
    let no = open_bytes(None, &c, "state.bin").unwrap_err();
    assert!(matches!(no, CryptError::NoKeys { .. }), "{no}");
    assert!(no.to_string().contains("state.bin") && no.to_string().contains("`m1`"));
    let other = open_bytes(Some(&keys(&format!("m2:{S2}"))), &c, "state.bin").unwrap_err();
    assert!(matches!(other, CryptError::UnknownKey { .. }), "{other}");
    assert!(other.to_string().contains("loaded: m2"), "{other}");
    // The same id with another secret: the wrapped data key does not open.
    let wrong = open_bytes(Some(&keys(&format!("m1:{S2}"))), &c, "state.bin").unwrap_err();
    assert!(matches!(wrong, CryptError::WrongKey { .. }), "{wrong}");
}

#[test]
fn a_flipped_byte_anywhere_is_detected() {
    let k = k1();
    let p = payload(2 * CHUNK + 300);
    let c = seal_bytes(&k, &p).unwrap();
    let mut positions: Vec<usize> = (0..HEADER_LEN + 8).collect();
    positions.extend((HEADER_LEN..c.len()).step_by(997));
    positions.extend(c.len() - 40..c.len());
    for &i in &positions {
        for bit in [0x01u8, 0x80] {
            let mut bad = c.clone();
            bad[i] ^= bit;
            // Plain reading (no header check by the caller) must refuse, whatever the byte.
            let r = open_bytes(Some(&k), &bad, "f");
            assert!(r.is_err(), "flip at {i} (bit {bit:#x}) went unnoticed");
            // The auto-detecting path must not take a damaged magic for a plain file.
            if i < 8 && bit == 0x01 {
                let e = riskstream_core::crypt::open_if_sealed(bad.clone(), "f").unwrap_err();
                assert!(e.to_string().contains("damaged"), "{e}");
            }
        }
    }
}

#[test]
fn truncation_and_swapped_chunks_are_detected() {
    let k = k1();
    // Chunks of equal size, closed by flushes, so two can be swapped.
    let mut w = SealWriter::new(Vec::new(), &k).unwrap();
    for piece in 0..4u8 {
        w.write_all(&[piece; 1000]).unwrap();
        w.flush().unwrap();
    }
    let c = w.finish().unwrap();
    let chunk = 4 + 1000 + 16;
    assert_eq!(c.len(), HEADER_LEN + 4 * chunk + 4 + 16);
    let mut whole = Vec::new();
    for piece in 0..4u8 {
        whole.extend_from_slice(&[piece; 1000]);
    }
    assert_eq!(open_bytes(Some(&k), &c, "f").unwrap(), whole);

    // Cut anywhere, including exactly at chunk boundaries (which decrypt cleanly up to
    // there) and just before the final chunk.
    for cut in [
        0,
        5,
        HEADER_LEN - 1,
        HEADER_LEN,
        HEADER_LEN + 2,
        HEADER_LEN + chunk,
    ]
    .into_iter()
    .chain((1..=4).map(|i| HEADER_LEN + i * chunk))
    .chain([c.len() - 1])
    {
        let e = open_bytes(Some(&k), &c[..cut], "f").unwrap_err();
        let ok = matches!(e, CryptError::Truncated { .. })
            || (cut < 8 && matches!(e, CryptError::Damaged { .. }));
        assert!(ok, "cut at {cut}: {e}");
    }

    let mut swapped = c.clone();
    let (a, b) = (HEADER_LEN, HEADER_LEN + chunk);
    let first = c[a..a + chunk].to_vec();
    swapped.copy_within(b..b + chunk, a);
    swapped[b..b + chunk].copy_from_slice(&first);
    let e = open_bytes(Some(&k), &swapped, "f").unwrap_err();
    assert!(
        matches!(&e, CryptError::Damaged { what, .. } if what.contains("chunk 0")),
        "{e}"
    );

    // A chunk dropped from the middle, and bytes appended after the end.
    let mut dropped = c[..a].to_vec();
    dropped.extend_from_slice(&c[b..]);
    assert!(matches!(
        open_bytes(Some(&k), &dropped, "f").unwrap_err(),
        CryptError::Damaged { .. }
    ));
    let mut longer = c.clone();
    longer.push(0);
    assert!(matches!(
        open_bytes(Some(&k), &longer, "f").unwrap_err(),
        CryptError::Damaged { .. }
    ));
}

#[test]
fn rotation_then_rewrap_leaves_files_readable_with_only_the_new_key() {
    let p = payload(CHUNK + 5000);
    let path = temp("rotate.bin");
    std::fs::write(&path, seal_bytes(&k1(), &p).unwrap()).unwrap();
    let body_before = std::fs::read(&path).unwrap()[HEADER_LEN..].to_vec();

    // Key 2 becomes primary; key 1 stays loaded: the old file still reads.
    let both = keys(&format!("m2:{S2},m1:{S1}"));
    assert_eq!(both.primary_id(), "m2");
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(open_bytes(Some(&both), &bytes, "f").unwrap(), p);
    let only2 = keys(&format!("m2:{S2}"));
    assert!(matches!(
        open_bytes(Some(&only2), &bytes, "f").unwrap_err(),
        CryptError::UnknownKey { .. }
    ));

    assert_eq!(
        rewrap_file(&path, &both).unwrap(),
        Rewrapped::From("m1".into())
    );
    assert_eq!(rewrap_file(&path, &both).unwrap(), Rewrapped::Current);
    let after = std::fs::read(&path).unwrap();
    // Only the header changed: the payload was not re-encrypted.
    assert_eq!(after[HEADER_LEN..], body_before[..]);
    assert_eq!(open_bytes(Some(&only2), &after, "f").unwrap(), p);
    assert!(open_bytes(Some(&k1()), &after, "f").is_err());

    // A plain file is left alone.
    let plain = temp("plain.json");
    std::fs::write(&plain, b"{\"a\":1}").unwrap();
    assert_eq!(rewrap_file(&plain, &both).unwrap(), Rewrapped::Plain);
    assert_eq!(std::fs::read(&plain).unwrap(), b"{\"a\":1}");
}

#[test]
fn a_flushed_stream_resumes_from_its_checkpointed_length() {
    let k = k1();
    let path = temp("dead.ndjson");
    let f = std::fs::File::create(&path).unwrap();
    let mut w = SealWriter::new(f, &k).unwrap();
    w.write_all(b"line one\n").unwrap();
    w.flush().unwrap();
    let keep = w.position();
    // Written after the checkpoint, then the process dies (no final chunk).
    w.write_all(b"line two, lost\n").unwrap();
    w.flush().unwrap();
    drop(w);
    let crashed = std::fs::read(&path).unwrap();
    assert!(matches!(
        open_bytes(Some(&k), &crashed, "f").unwrap_err(),
        CryptError::Truncated { .. }
    ));

    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let mut w = SealWriter::resume(f, Some(&k), keep, "dead.ndjson").unwrap();
    w.write_all(b"line three\n").unwrap();
    w.finish().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(
        open_bytes(Some(&k), &bytes, "f").unwrap(),
        b"line one\nline three\n"
    );
    // Resuming at a length that is not a chunk boundary is refused.
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    assert!(SealWriter::resume(f, Some(&k), keep + 3, "f").is_err());
}
