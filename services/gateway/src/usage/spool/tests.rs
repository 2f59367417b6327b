#![expect(clippy::unwrap_used)]

use super::*;

fn records(n: usize, tag: &str) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("{tag}-{i:04}").into_bytes()).collect()
}

/// Every record of every segment, oldest first, removing the segments.
async fn drain(spool: &mut Spool, batch: usize) -> Vec<Vec<u8>> {
    let mut all = Vec::new();
    while let Some((path, mut reader)) = spool.oldest().await.unwrap() {
        loop {
            let b = reader.next_batch(batch).await.unwrap();
            if b.is_empty() {
                break;
            }
            assert!(b.len() <= batch);
            all.extend(b);
        }
        spool.remove(&path).unwrap();
    }
    all
}

#[tokio::test]
async fn records_come_back_in_order_across_segments_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), 1 << 20).unwrap();
    spool.append(&[b"a".to_vec(), b"bb".to_vec()]).await.unwrap();
    let (first, mut reader) = spool.oldest().await.unwrap().unwrap();
    assert_eq!(
        reader.next_batch(10).await.unwrap(),
        vec![b"a".to_vec(), b"bb".to_vec()]
    );
    spool.append(&[b"c".to_vec()]).await.unwrap();
    spool.remove(&first).unwrap();
    drop(spool);
    let mut reopened = Spool::open(dir.path(), 1 << 20).unwrap();
    assert!(!reopened.is_empty());
    assert_eq!(drain(&mut reopened, 10).await, vec![b"c".to_vec()]);
    assert!(reopened.is_empty() && reopened.oldest().await.unwrap().is_none());
}

#[tokio::test]
async fn segments_rotate_by_size_and_replay_in_bounded_batches() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open_with(dir.path(), 1 << 20, 256).unwrap();
    let written = records(100, "r");
    for chunk in written.chunks(7) {
        spool.append(chunk).await.unwrap();
    }
    let files = segments(dir.path()).unwrap();
    assert!(files.len() > 5, "{} segments", files.len());
    for (_, path) in &files {
        // One batch of 7 may overshoot a segment's bound, never more.
        assert!(fs::metadata(path).unwrap().len() <= 256 + 7 * 24);
    }
    assert_eq!(drain(&mut spool, 3).await, written);
    assert!(spool.is_empty());
}

#[tokio::test]
async fn a_full_spool_refuses_and_says_how_many() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), 20).unwrap();
    assert_eq!(spool.append(&[vec![0; 4], vec![0; 4]]).await.unwrap(), 1);
    let mut big = Spool::open(dir.path(), u64::MAX).unwrap();
    assert_eq!(big.append(&[vec![0; record::MAX_RECORD + 1]]).await.unwrap(), 1);
}

/// The byte offset where record `i` of a segment of equal records starts.
fn offset_of(i: u64, payload_len: u64) -> u64 {
    FILE_HEADER_LEN + i * (record::HEADER_LEN as u64 + payload_len)
}

#[tokio::test]
async fn a_torn_tail_and_a_corrupt_record_are_quarantined_and_every_valid_record_replays() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), 1 << 20).unwrap();
    let first = records(10, "a");
    spool.append(&first).await.unwrap();
    drop(spool);
    let mut spool = Spool::open(dir.path(), 1 << 20).unwrap();
    let second = records(10, "b");
    spool.append(&second).await.unwrap();
    let files = segments(dir.path()).unwrap();
    let payload = first[0].len() as u64;
    // A flipped byte inside record 4's payload of the first segment.
    let mut bytes = fs::read(&files[0].1).unwrap();
    bytes[(offset_of(4, payload) + 14) as usize] ^= 0xff;
    fs::write(&files[0].1, bytes).unwrap();
    // The second segment cut in the middle of its last record.
    let f = OpenOptions::new().write(true).open(&files[1].1).unwrap();
    f.set_len(offset_of(9, payload) + 5).unwrap();
    drop(f);

    let mut spool = Spool::open(dir.path(), 1 << 20).unwrap();
    let replayed = drain(&mut spool, 4).await;
    let mut expected: Vec<Vec<u8>> = first
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 4)
        .map(|(_, r)| r.clone())
        .collect();
    expected.extend_from_slice(&second[..9]);
    assert_eq!(replayed, expected);
    let kept = quarantined(dir.path()).unwrap();
    let names: Vec<&str> = kept.iter().map(|q| q.file.as_str()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names[0].starts_with("000000000001.") && names[0].ends_with(".corrupt"),
        "{names:?}"
    );
    assert!(
        names[1].starts_with("000000000002.") && names[1].ends_with(".torn"),
        "{names:?}"
    );
    assert_eq!(kept[0].bytes, record::HEADER_LEN as u64 + payload);
    assert_eq!(kept[1].bytes, 5);
}

#[tokio::test]
async fn segments_of_the_previous_format_are_still_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let mut legacy = Vec::new();
    for r in [b"old-1".as_slice(), b"old-22"] {
        legacy.extend_from_slice(&(r.len() as u32).to_be_bytes());
        legacy.extend_from_slice(r);
    }
    // A torn last record, as a crash mid-write left it.
    legacy.extend_from_slice(&9u32.to_be_bytes());
    legacy.extend_from_slice(b"old");
    fs::write(segment_path(dir.path(), 7), &legacy).unwrap();
    let mut spool = Spool::open(dir.path(), 1 << 20).unwrap();
    spool.append(&[b"new".to_vec()]).await.unwrap();
    assert_eq!(
        drain(&mut spool, 10).await,
        vec![b"old-1".to_vec(), b"old-22".to_vec(), b"new".to_vec()]
    );
    let kept = quarantined(dir.path()).unwrap();
    assert_eq!((kept.len(), kept[0].bytes), (1, 7));
}
