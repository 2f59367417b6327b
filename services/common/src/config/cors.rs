//! `KEYWAY_CORS_*`: which browser origins may call the API. Off by default:
//! without `KEYWAY_CORS_ORIGINS` no response carries a CORS header, so a
//! browser page of another origin cannot read any answer. Keyway's
//! credentials are bearer headers, which browsers never attach on their
//! own, so credentialed CORS (cookies, HTTP auth) stays off unless asked
//! for, and is never combined with `*`.

use super::{ConfigError, Vars};

/// `KEYWAY_CORS_ORIGINS`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CorsOrigins {
    /// Unset: no CORS headers at all.
    #[default]
    Off,
    /// `*`: any origin.
    Any,
    /// Exact origins, each `scheme://host[:port]`.
    List(Vec<String>),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsSettings {
    pub origins: CorsOrigins,
    /// `KEYWAY_CORS_ALLOW_CREDENTIALS`: send
    /// `Access-Control-Allow-Credentials: true` (default false).
    pub allow_credentials: bool,
}

impl CorsSettings {
    pub(super) fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let origins = match vars.get("KEYWAY_CORS_ORIGINS") {
            None => CorsOrigins::Off,
            Some(raw) if raw.trim() == "*" => CorsOrigins::Any,
            Some(raw) => CorsOrigins::List(
                raw.split(',')
                    .map(str::trim)
                    .filter(|o| !o.is_empty())
                    .map(|o| origin(o).ok_or_else(|| invalid(&raw)))
                    .collect::<Result<_, _>>()?,
            ),
        };
        Ok(Self {
            origins,
            allow_credentials: vars.flag("KEYWAY_CORS_ALLOW_CREDENTIALS", false)?,
        })
    }

    /// Any origin with credentials: a page anywhere could act with the
    /// browser's credentials. Refused in every environment.
    pub fn is_wildcard_with_credentials(&self) -> bool {
        self.origins == CorsOrigins::Any && self.allow_credentials
    }

    /// `KEYWAY_CORS_ORIGINS` as in effect, for `keyway config`.
    pub fn describe_origins(&self) -> String {
        match &self.origins {
            CorsOrigins::Off => "(off: no CORS headers)".to_owned(),
            CorsOrigins::Any => "*".to_owned(),
            CorsOrigins::List(list) => list.join(","),
        }
    }
}

/// An origin exactly as browsers send it in `Origin`: a URL's scheme, host
/// and port, with no path, so that it can be compared byte for byte.
fn origin(raw: &str) -> Option<String> {
    let url = url::Url::parse(raw).ok()?;
    let serialized = url.origin().ascii_serialization();
    let http = matches!(url.scheme(), "http" | "https");
    (http && serialized == raw).then_some(serialized)
}

fn invalid(raw: &str) -> ConfigError {
    ConfigError::invalid(
        "KEYWAY_CORS_ORIGINS",
        "* or comma-separated origins such as https://app.example.com (scheme, host and port only, no path or trailing slash)",
        raw,
    )
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cors(pairs: &[(&str, &str)]) -> Result<CorsSettings, ConfigError> {
        CorsSettings::from_vars(&Vars::from_pairs(pairs))
    }

    #[test]
    fn cors_is_off_by_default_and_origins_must_be_exact() {
        assert_eq!(cors(&[]).unwrap(), CorsSettings::default());
        let list = cors(&[(
            "KEYWAY_CORS_ORIGINS",
            "https://app.example.com, http://localhost:5173",
        )])
        .unwrap();
        assert_eq!(
            list.origins,
            CorsOrigins::List(vec![
                "https://app.example.com".into(),
                "http://localhost:5173".into()
            ])
        );
        for bad in [
            "https://app.example.com/",
            "app.example.com",
            "ftp://x.example",
            "https://A.example.com",
        ] {
            let err = cors(&[("KEYWAY_CORS_ORIGINS", bad)]).unwrap_err().to_string();
            assert!(err.contains("KEYWAY_CORS_ORIGINS"), "{bad}: {err}");
        }
        let any = cors(&[
            ("KEYWAY_CORS_ORIGINS", "*"),
            ("KEYWAY_CORS_ALLOW_CREDENTIALS", "true"),
        ])
        .unwrap();
        assert!(any.is_wildcard_with_credentials());
    }
}
