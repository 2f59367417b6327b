//! Properties of the spool as a whole (the record format's own are in
//! `record.rs`): any records, appended in any batches into segments of any
//! size, come back in order exactly once after a reopen; and a segment cut
//! anywhere or with any byte flipped loses only what the damage touched —
//! what comes back is always an in-order subsequence of what was written,
//! with nothing invented or repeated, and reading never fails.

#![expect(clippy::unwrap_used)]

use proptest::prelude::*;

use super::*;

#[derive(Debug, Clone)]
enum Damage {
    None,
    /// The segment `.0`, cut at `.1`.
    Cut(proptest::sample::Index, proptest::sample::Index),
    /// The segment `.0`, with bit `.2` of byte `.1` flipped.
    Flip(proptest::sample::Index, proptest::sample::Index, u8),
}

fn damage() -> impl Strategy<Value = Damage> {
    let index = any::<proptest::sample::Index>;
    prop_oneof![
        Just(Damage::None),
        (index(), index()).prop_map(|(s, at)| Damage::Cut(s, at)),
        (index(), index(), 0u8..8).prop_map(|(s, at, bit)| Damage::Flip(s, at, bit)),
    ]
}

/// Distinct records (each starts with its number), of any content after.
fn written() -> impl Strategy<Value = Vec<Vec<u8>>> {
    proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 1..60).prop_map(|tails| {
        tails
            .into_iter()
            .enumerate()
            .map(|(i, tail)| {
                let mut record = format!("{i:05}|").into_bytes();
                record.extend(tail);
                record
            })
            .collect()
    })
}

fn apply(dir: &Path, damage: &Damage) {
    let files = segments(dir).unwrap();
    let (segment, at, flip) = match damage {
        Damage::None => return,
        Damage::Cut(s, at) => (s, at, None),
        Damage::Flip(s, at, bit) => (s, at, Some(*bit)),
    };
    let path = &files[segment.index(files.len())].1;
    let mut bytes = fs::read(path).unwrap();
    let at = at.index(bytes.len());
    match flip {
        None => bytes.truncate(at),
        Some(bit) => bytes[at] ^= 1 << bit,
    }
    fs::write(path, bytes).unwrap();
}

async fn drain(spool: &mut Spool) -> Vec<Vec<u8>> {
    let mut all = Vec::new();
    while let Some((path, mut reader)) = spool.oldest().await.unwrap() {
        loop {
            let batch = reader.next_batch(7).await.unwrap();
            if batch.is_empty() {
                break;
            }
            all.extend(batch);
        }
        spool.remove(&path).unwrap();
    }
    all
}

fn is_in_order_subsequence(read: &[Vec<u8>], written: &[Vec<u8>]) -> bool {
    let mut rest = written.iter();
    read.iter().all(|r| rest.any(|w| w == r))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn records_come_back_in_order_once_and_damage_loses_only_what_it_touched(
        written in written(),
        batch in 1usize..9,
        segment_bytes in 64u64..2048,
        damage in damage(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let read = runtime.block_on(async {
            let mut spool = Spool::open_with(dir.path(), 1 << 30, segment_bytes).unwrap();
            for chunk in written.chunks(batch) {
                spool.append(chunk).await.unwrap();
            }
            drop(spool);
            apply(dir.path(), &damage);
            let mut reopened = Spool::open_with(dir.path(), 1 << 30, segment_bytes).unwrap();
            drain(&mut reopened).await
        });
        prop_assert!(is_in_order_subsequence(&read, &written), "read {} of {}", read.len(), written.len());
        if matches!(damage, Damage::None) {
            prop_assert_eq!(read, written);
        }
    }
}
