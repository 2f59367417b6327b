//! Cost in integer micro-units of the catalog currency, from the prices in
//! force (snapshotted into the event), rounded half up exactly once.

use keyway_proto::v1::PriceSnapshot;

use crate::catalog::Price;

/// Catalog prices (per million tokens, decimal) as integer micro-units per
/// million tokens, so every later step is exact integer arithmetic.
pub(crate) fn snapshot(price: &Price) -> PriceSnapshot {
    let micros = |p: f64| (p * 1_000_000.0).round() as i64;
    PriceSnapshot {
        input_micros_per_mtok: micros(price.input_per_mtok),
        output_micros_per_mtok: micros(price.output_per_mtok),
        cached_input_micros_per_mtok: micros(price.cached_input_per_mtok),
        currency: price.currency.clone(),
        cache_write_micros_per_mtok: micros(price.cache_write()),
        cache_write_1h_micros_per_mtok: micros(price.cache_write_1h()),
    }
}

/// The token counts a cost is computed from. `input` includes `cached` and
/// `cache_write`; `cache_write` includes `cache_write_1h`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tokens {
    pub(crate) input: u64,
    pub(crate) cached: u64,
    pub(crate) cache_write: u64,
    pub(crate) cache_write_1h: u64,
    pub(crate) output: u64,
}

/// Each kind of token at its own price: plain input, cache reads, 5-minute
/// and 1-hour cache writes, output (reasoning included). The parts are
/// clamped so they never add up to more than `input`. `None` as below.
pub(crate) fn cost_of(price: &PriceSnapshot, t: &Tokens) -> Option<i64> {
    let cached = t.cached.min(t.input);
    let write = t.cache_write.min(t.input - cached);
    let write_1h = t.cache_write_1h.min(write);
    let term =
        |tokens: u64, micros_per_mtok: i64| i128::from(tokens).checked_mul(i128::from(micros_per_mtok));
    let scaled = term(t.input - cached - write, price.input_micros_per_mtok)?
        .checked_add(term(cached, price.cached_input_micros_per_mtok)?)?
        .checked_add(term(write - write_1h, price.cache_write_micros_per_mtok)?)?
        .checked_add(term(write_1h, price.cache_write_1h_micros_per_mtok)?)?
        .checked_add(term(t.output, price.output_micros_per_mtok)?)?;
    // Round half up, once: micro-units per million tokens → micro-units.
    i64::try_from(scaled.checked_add(500_000)? / 1_000_000).ok()
}

/// `input` includes `cached`; cached input tokens have their own price.
/// `None` when the cost does not fit in an `i64` (absurd token counts or
/// prices): never a wrapped, truncated or negative number.
pub(crate) fn cost_micros(price: &PriceSnapshot, input: u64, cached: u64, output: u64) -> Option<i64> {
    let tokens = Tokens {
        input,
        cached,
        output,
        ..Tokens::default()
    };
    cost_of(price, &tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(input: f64, output: f64, cached: f64) -> PriceSnapshot {
        snapshot(&Price {
            input_per_mtok: input,
            output_per_mtok: output,
            cached_input_per_mtok: cached,
            cache_write_per_mtok: None,
            cache_write_1h_per_mtok: None,
            currency: "USD".into(),
        })
    }

    #[test]
    fn cache_writes_cost_their_own_price_defaulting_to_1_25_and_2_times_input() {
        let p = price(3.0, 15.0, 0.30);
        assert_eq!(
            (p.cache_write_micros_per_mtok, p.cache_write_1h_micros_per_mtok),
            (3_750_000, 6_000_000)
        );
        // 10 input tokens: 2 cached, 5 written (3 of them for 1 h), 3 plain; 4 output.
        let t = Tokens {
            input: 10,
            cached: 2,
            cache_write: 5,
            cache_write_1h: 3,
            output: 4,
        };
        // 3×3 + 2×0.3 + 2×3.75 + 3×6 + 4×15 = 9 + 0.6 + 7.5 + 18 + 60 = 95.1 µ
        assert_eq!(cost_of(&p, &t), Some(95));
        // Parts larger than the input are clamped, never negative.
        let absurd = Tokens {
            input: 3,
            cached: 2,
            cache_write: 9,
            cache_write_1h: 9,
            output: 0,
        };
        assert_eq!(cost_of(&p, &absurd), Some(7)); // 2×0.3 + 1×6 = 6.6
    }

    #[test]
    fn a_million_tokens_cost_the_listed_price() {
        let p = price(0.15, 0.60, 0.075);
        assert_eq!(cost_micros(&p, 1_000_000, 0, 0), Some(150_000));
        assert_eq!(cost_micros(&p, 0, 0, 1_000_000), Some(600_000));
        assert_eq!(cost_micros(&p, 1_000_000, 1_000_000, 0), Some(75_000));
    }

    #[test]
    fn rounding_happens_once_and_half_up() {
        let p = price(3.0, 15.0, 0.30);
        // 1 input token = 3 micro-units exactly; 1 output token = 15.
        assert_eq!(cost_micros(&p, 1, 0, 1), Some(18));
        let tiny = price(0.15, 0.0, 0.0);
        // 0.15 µ per token: 3 tokens = 0.45 → 0; 4 tokens = 0.6 → 1; 10 = 1.5 → 2.
        assert_eq!(cost_micros(&tiny, 3, 0, 0), Some(0));
        assert_eq!(cost_micros(&tiny, 4, 0, 0), Some(1));
        assert_eq!(cost_micros(&tiny, 10, 0, 0), Some(2));
        // Rounded once over the sum, not per component.
        let p = price(0.25, 0.25, 0.0);
        assert_eq!(cost_micros(&p, 2, 0, 2), Some(1));
    }

    #[test]
    fn cached_tokens_never_exceed_input() {
        let p = price(1.0, 1.0, 0.5);
        assert_eq!(cost_micros(&p, 2, 10, 0), Some(1));
    }

    #[test]
    fn a_cost_that_does_not_fit_is_none_not_a_wrapped_number() {
        // u64::MAX output tokens at 0.15 per million: ~2.8e18 µ, still fits.
        let cheap = price(0.0, 0.15, 0.0);
        assert_eq!(
            cost_micros(&cheap, 0, 0, u64::MAX),
            Some(2_767_011_611_056_432_742)
        );
        // At 15 per million it does not (the old code wrapped it).
        assert_eq!(cost_micros(&price(15.0, 15.0, 0.0), 0, 0, u64::MAX), None);
        let dear = price(1_000_000.0, 1_000_000.0, 0.0);
        assert_eq!(cost_micros(&dear, u64::MAX, 0, u64::MAX), None);
        let max = PriceSnapshot {
            input_micros_per_mtok: i64::MAX,
            output_micros_per_mtok: i64::MAX,
            cached_input_micros_per_mtok: i64::MAX,
            currency: "USD".into(),
            ..PriceSnapshot::default()
        };
        assert_eq!(cost_micros(&max, u64::MAX, u64::MAX, u64::MAX), None);
    }
}
