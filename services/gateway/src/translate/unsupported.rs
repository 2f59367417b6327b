//! The refusal/drop rule for what does not map: by default a parameter the
//! other wire cannot express is refused (a 400 in the client's shape that
//! names it); a model with `drop_unsupported: true` drops it instead, and
//! the answer lists it in `x-keyway-dropped-params`.

use serde_json::{Map, Value};

use crate::error::GatewayError;

/// A parameter the upstream's wire cannot express, under a model that does
/// not drop such parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unsupported {
    pub(crate) param: String,
    pub(crate) reason: &'static str,
}

impl From<Unsupported> for GatewayError {
    fn from(u: Unsupported) -> Self {
        GatewayError::Untranslatable {
            param: u.param,
            reason: u.reason,
        }
    }
}

/// Collects dropped parameters, or refuses the first one.
#[derive(Debug)]
pub(crate) struct Policy {
    drop: bool,
    dropped: Vec<String>,
}

impl Policy {
    pub(crate) fn new(drop: bool) -> Self {
        Self {
            drop,
            dropped: Vec::new(),
        }
    }

    /// `param` does not map: Ok (and remembered) when dropping, else refused.
    pub(crate) fn refuse(
        &mut self,
        param: impl Into<String>,
        reason: &'static str,
    ) -> Result<(), Unsupported> {
        let param = param.into();
        if !self.drop {
            return Err(Unsupported { param, reason });
        }
        if !self.dropped.contains(&param) {
            self.dropped.push(param);
        }
        Ok(())
    }

    /// `param` only tunes how the provider manages the request (it asks for
    /// nothing in the answer), so it is dropped under either policy, and
    /// still listed.
    pub(crate) fn drop_hint(&mut self, param: impl Into<String>) {
        let param = param.into();
        if !self.dropped.contains(&param) {
            self.dropped.push(param);
        }
    }

    pub(crate) fn into_dropped(self) -> Vec<String> {
        self.dropped
    }
}

/// Removes every parameter of `body` not in `mapped`, with its value, for
/// the caller to refuse, drop or ignore.
pub(crate) fn take_unmapped(body: &mut Map<String, Value>, mapped: &[&str]) -> Vec<(String, Value)> {
    let keys: Vec<String> = body
        .keys()
        .filter(|k| !mapped.contains(&k.as_str()))
        .cloned()
        .collect();
    keys.into_iter()
        .map(|k| {
            let v = body.remove(&k).unwrap_or(Value::Null);
            (k, v)
        })
        .collect()
}

/// Values of OpenAI-only parameters that ask for nothing beyond the default
/// and so translate to nothing rather than being refused.
pub(crate) fn is_openai_default(key: &str, value: &Value) -> bool {
    match key {
        "n" => value.as_u64() == Some(1),
        "logprobs" | "store" | "parallel_tool_calls" => {
            matches!(value, Value::Bool(false)) || value.is_null()
        }
        "presence_penalty" | "frequency_penalty" => value.as_f64() == Some(0.0),
        "response_format" => value["type"] == "text",
        "modalities" => value.as_array().is_some_and(|m| m.iter().all(|v| v == "text")),
        _ => value.is_null(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusing_names_the_parameter_and_dropping_remembers_it_once() {
        let mut strict = Policy::new(false);
        let err = strict.refuse("logprobs", "no log probabilities").err();
        let err = err.unwrap_or_else(|| Unsupported {
            param: String::new(),
            reason: "",
        });
        assert_eq!(err.param, "logprobs");
        assert!(GatewayError::from(err).to_string().contains("`logprobs`"));
        let mut lenient = Policy::new(true);
        assert!(lenient.refuse("n", "x").is_ok());
        assert!(lenient.refuse("n", "x").is_ok());
        assert!(lenient.refuse("seed", "x").is_ok());
        assert_eq!(lenient.into_dropped(), vec!["n".to_owned(), "seed".to_owned()]);
    }

    #[test]
    fn default_values_of_openai_only_parameters_ask_for_nothing() {
        use serde_json::json;
        assert!(is_openai_default("n", &json!(1)));
        assert!(!is_openai_default("n", &json!(2)));
        assert!(is_openai_default("logprobs", &json!(false)));
        assert!(!is_openai_default("logprobs", &json!(true)));
        assert!(is_openai_default("response_format", &json!({"type": "text"})));
        assert!(!is_openai_default(
            "response_format",
            &json!({"type": "json_object"})
        ));
        assert!(is_openai_default("seed", &Value::Null));
        assert!(!is_openai_default("seed", &json!(7)));
    }
}
