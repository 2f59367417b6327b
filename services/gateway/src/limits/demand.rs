//! What a request reserves before it goes upstream: its prompt, estimated
//! as bytes over three, plus the most output it may produce, and their cost
//! at the model's prices.
//!
//! Every step is checked. A `max_tokens` of 2^64 − 1 once wrapped
//! `prompt + max_tokens` round to a handful of tokens and its cost to
//! nothing, so such requests slipped past token limits and budgets: now the
//! output is first lowered to the model's `max_output_tokens`, and a demand
//! that still cannot be represented is refused rather than made small.

use keyway_proto::v1::PriceSnapshot;
use serde_json::{Map, Value};

use super::Demand;
use crate::cost;

/// The fields that bound an answer's length: OpenAI chat's two (the first
/// also Anthropic's and legacy completions') and the Responses API's.
pub(crate) const OUTPUT_FIELDS: [&str; 3] = ["max_tokens", "max_completion_tokens", "max_output_tokens"];

/// Lowers each output field above `cap` to `cap`, in the body that goes
/// upstream, so the upstream cannot produce more than was reserved. Returns
/// the largest output the request asks for once lowered, if it names one.
pub(crate) fn clamp_output(body: &mut Map<String, Value>, cap: u64) -> Option<u64> {
    let mut largest = None;
    for field in OUTPUT_FIELDS {
        if let Some(value) = body.get_mut(field)
            && let Some(asked) = value.as_u64()
        {
            if asked > cap {
                *value = Value::from(cap);
            }
            largest = largest.max(Some(asked.min(cap)));
        }
    }
    largest
}

/// The demand of a prompt of `prompt_bytes` and `output` tokens; `None` when
/// it does not fit in integers, which the caller refuses.
pub(crate) fn demand(prompt_bytes: usize, output: u64, price: Option<&PriceSnapshot>) -> Option<Demand> {
    let input = u64::try_from(prompt_bytes.div_ceil(3)).ok()?;
    let tokens = input.checked_add(output)?;
    let cost_micros = match price {
        None => 0,
        // Catalog prices are never negative, so neither is a cost that fits.
        Some(price) => u64::try_from(cost::cost_micros(price, input, 0, output)?).ok()?,
    };
    Some(Demand { tokens, cost_micros })
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn body(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn an_absurd_max_tokens_is_lowered_to_the_models_cap() {
        let mut b = body(json!({"max_tokens": u64::MAX, "max_completion_tokens": 10}));
        assert_eq!(clamp_output(&mut b, 4096), Some(4096));
        assert_eq!(b["max_tokens"], 4096);
        assert_eq!(b["max_completion_tokens"], 10);
        let mut b = body(json!({"max_completion_tokens": 1u64 << 63}));
        assert_eq!(clamp_output(&mut b, 4096), Some(4096));
        assert_eq!(b["max_completion_tokens"], 4096);
        let mut b = body(json!({"max_tokens": 100}));
        assert_eq!(clamp_output(&mut b, 4096), Some(100));
        assert_eq!(clamp_output(&mut body(json!({})), 4096), None);
    }

    #[test]
    fn a_demand_that_does_not_fit_is_none_never_wrapped() {
        let price = PriceSnapshot {
            input_micros_per_mtok: 3_000_000,
            output_micros_per_mtok: 15_000_000,
            cached_input_micros_per_mtok: 0,
            currency: "USD".into(),
            ..PriceSnapshot::default()
        };
        assert_eq!(
            demand(30, 64, Some(&price)),
            Some(Demand {
                tokens: 74,
                cost_micros: 990
            })
        );
        // The old arithmetic: 10 + (2^64 − 1) wrapped to 9 tokens.
        assert_eq!(demand(30, u64::MAX, None), None);
        // Tokens fit, but their cost at these prices does not.
        assert_eq!(demand(0, u64::MAX / 2, Some(&price)), None);
        assert_eq!(demand(0, 0, Some(&price)), Some(Demand::default()));
    }
}
