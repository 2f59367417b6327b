//! One client's failed authentications, as stored in NATS KV (and in the
//! local fallback): the times of its recent failures and, once they reached
//! the limit, when its block ends. Pure, so the window arithmetic is tested
//! without NATS. Times are Unix milliseconds: the record is shared by
//! gateways, so it needs a clock they share.

use std::net::IpAddr;

use bytes::Bytes;

/// Whose failures a record counts: an IPv4 address, or an IPv6 /64, since
/// one host commonly holds a whole /64 and could otherwise rotate through it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum IpKey {
    V4([u8; 4]),
    V6([u8; 8]),
}

impl IpKey {
    pub(crate) fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => IpKey::V4(v4.octets()),
            IpAddr::V6(v6) => {
                let mut prefix = [0; 8];
                prefix.copy_from_slice(&v6.octets()[..8]);
                IpKey::V6(prefix)
            }
        }
    }

    /// The NATS KV key: hex, so it only holds the KV key alphabet.
    pub(crate) fn kv_key(&self) -> String {
        match self {
            IpKey::V4(b) => format!("fail.v4.{}", hex::encode(b)),
            IpKey::V6(b) => format!("fail.v6.{}", hex::encode(b)),
        }
    }
}

/// What one more failure means for its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Counted; the limit is not reached.
    Counted,
    /// This failure reached the limit: blocked until then (Unix ms).
    NowBlocked(u64),
    /// The client was already blocked until then; nothing was counted.
    AlreadyBlocked(u64),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Record {
    /// When the current block ends; 0 when there is none.
    blocked_until: u64,
    /// The failures within the window, oldest first; never more than the
    /// limit, which bounds the record's size.
    failures: Vec<u64>,
}

impl Record {
    /// A stored record; an absent or unreadable one starts afresh.
    pub(crate) fn decode(value: Option<&[u8]>) -> Self {
        let text = value.and_then(|v| std::str::from_utf8(v).ok()).unwrap_or("");
        let mut numbers = text.split_ascii_whitespace().map(str::parse::<u64>);
        let Some(Ok(blocked_until)) = numbers.next() else {
            return Self::default();
        };
        let failures: Result<Vec<u64>, _> = numbers.collect();
        Self {
            blocked_until,
            failures: failures.unwrap_or_default(),
        }
    }

    pub(crate) fn encode(&self) -> Bytes {
        let mut text = self.blocked_until.to_string();
        for t in &self.failures {
            text.push(' ');
            text.push_str(&t.to_string());
        }
        Bytes::from(text)
    }

    /// Counts a failure at `now`. The `limit`-th failure within `window`
    /// blocks the client for a whole `window` from then; while blocked,
    /// nothing is counted, so a block ends when it said it would.
    pub(crate) fn fail(&mut self, now: u64, limit: u32, window: u64) -> Verdict {
        if now < self.blocked_until {
            return Verdict::AlreadyBlocked(self.blocked_until);
        }
        self.blocked_until = 0;
        self.failures.retain(|t| t.saturating_add(window) > now);
        self.failures.push(now);
        let limit = limit.max(1) as usize;
        if self.failures.len() >= limit {
            // A fresh count after the block: the failures are spent on it.
            self.failures.clear();
            self.blocked_until = now.saturating_add(window);
            return Verdict::NowBlocked(self.blocked_until);
        }
        Verdict::Counted
    }

    /// Holds nothing that matters at `now` any more, so it can be forgotten.
    pub(crate) fn is_stale(&self, now: u64, window: u64) -> bool {
        now >= self.blocked_until && self.failures.iter().all(|t| t.saturating_add(window) <= now)
    }
}

/// Whole seconds until `until` (at least 1): a `Retry-After`.
pub(crate) fn retry_after_secs(until: u64, now: u64) -> u64 {
    until.saturating_sub(now).div_ceil(1000).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: u64 = 60_000;

    #[test]
    fn the_limit_th_failure_within_the_window_blocks_for_a_window() {
        let mut r = Record::default();
        assert_eq!(r.fail(1_000, 3, WINDOW), Verdict::Counted);
        assert_eq!(r.fail(2_000, 3, WINDOW), Verdict::Counted);
        assert_eq!(r.fail(3_000, 3, WINDOW), Verdict::NowBlocked(63_000));
        assert_eq!(r.fail(62_999, 3, WINDOW), Verdict::AlreadyBlocked(63_000));
        // Once the block ends the count starts afresh.
        assert_eq!(r.fail(63_000, 3, WINDOW), Verdict::Counted);
        assert_eq!(r.fail(63_001, 3, WINDOW), Verdict::Counted);
    }

    #[test]
    fn the_window_slides_so_failures_spread_out_never_block() {
        let mut r = Record::default();
        for i in 0..10 {
            // Two failures per window, limit three: never blocked.
            assert_eq!(r.fail(i * 30_001, 3, WINDOW), Verdict::Counted, "failure {i}");
        }
        // Failures straddling a window boundary still count together.
        let mut r = Record::default();
        assert_eq!(r.fail(59_000, 3, WINDOW), Verdict::Counted);
        assert_eq!(r.fail(60_500, 3, WINDOW), Verdict::Counted);
        assert_eq!(r.fail(61_000, 3, WINDOW), Verdict::NowBlocked(121_000));
    }

    #[test]
    fn records_round_trip_and_garbage_starts_afresh() {
        let mut r = Record::default();
        r.fail(5, 3, WINDOW);
        r.fail(7, 3, WINDOW);
        assert_eq!(Record::decode(Some(&r.encode())), r);
        assert_eq!(Record::decode(Some(b"junk")), Record::default());
        assert_eq!(Record::decode(None), Record::default());
        assert!(!r.is_stale(7 + WINDOW - 1, WINDOW));
        assert!(r.is_stale(7 + WINDOW, WINDOW));
    }

    #[test]
    fn ipv6_clients_are_counted_per_64_and_keys_are_kv_safe() {
        let a = IpKey::of("2001:db8:1:2::1".parse().unwrap_or(IpAddr::from([0; 4])));
        let b = IpKey::of("2001:db8:1:2:ffff::9".parse().unwrap_or(IpAddr::from([0; 4])));
        assert_eq!(a, b);
        assert_eq!(a.kv_key(), "fail.v6.20010db800010002");
        let mapped = IpKey::of("::ffff:192.0.2.1".parse().unwrap_or(IpAddr::from([0; 4])));
        assert_eq!(mapped, IpKey::V4([192, 0, 2, 1]));
        assert_eq!(mapped.kv_key(), "fail.v4.c0000201");
        assert_eq!(retry_after_secs(10_001, 0), 11);
        assert_eq!(retry_after_secs(5, 10), 1);
    }
}
