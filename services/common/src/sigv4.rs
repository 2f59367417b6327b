//! AWS Signature Version 4 for the providers that need it (Bedrock), with
//! the `aws-sigv4` crate: the gateway signs each upstream call and the keys
//! service signs its key test. A provider "key" for AWS is
//! `ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]`, so it fits the same
//! BYOK and `api_key_env` slots as any other key; a bare access key id takes
//! its secret from `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`), as the
//! AWS SDKs' environment provider does.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::{
    http_request::{SignableBody, SignableRequest, SigningSettings, sign as sigv4_sign},
    sign::v4,
};

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error(
        "the AWS credentials are not ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN] and AWS_SECRET_ACCESS_KEY is not set"
    )]
    Credentials,
    #[error("the request cannot be signed: {0}")]
    Sign(String),
}

/// One set of AWS credentials. `Debug` never shows the secret.
#[derive(Clone)]
pub struct AwsCredentials {
    pub access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl AwsCredentials {
    pub fn new(access_key_id: &str, secret_access_key: &str, session_token: Option<&str>) -> Self {
        Self {
            access_key_id: access_key_id.to_owned(),
            secret_access_key: secret_access_key.to_owned(),
            session_token: session_token.map(str::to_owned),
        }
    }

    /// `ACCESS_KEY_ID:SECRET[:TOKEN]`, or a bare access key id whose secret
    /// (and optional session token) `env` supplies.
    pub fn from_key(key: &str, env: impl Fn(&str) -> Option<String>) -> Result<Self, SigningError> {
        let mut parts = key.trim().splitn(3, ':');
        let id = parts
            .next()
            .filter(|s| !s.is_empty())
            .ok_or(SigningError::Credentials)?;
        match parts.next() {
            Some(secret) if !secret.is_empty() => {
                Ok(Self::new(id, secret, parts.next().filter(|t| !t.is_empty())))
            }
            Some(_) => Err(SigningError::Credentials),
            None => {
                let secret = env("AWS_SECRET_ACCESS_KEY")
                    .filter(|s| !s.is_empty())
                    .ok_or(SigningError::Credentials)?;
                let token = env("AWS_SESSION_TOKEN").filter(|s| !s.is_empty());
                Ok(Self::new(id, &secret, token.as_deref()))
            }
        }
    }
}

/// Who signs, for which region and service, at what time.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub credentials: &'a AwsCredentials,
    pub region: &'a str,
    pub service: &'a str,
    pub time: SystemTime,
}

/// Signs one request and returns the headers to add (`authorization`,
/// `x-amz-date`, and `x-amz-security-token` with a session token). `url`
/// must be already percent-encoded; `headers` are the ones sent and signed
/// besides `host`, which is taken from the URL.
pub fn sign(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    scope: &Scope<'_>,
) -> Result<Vec<(&'static str, String)>, SigningError> {
    let Scope {
        credentials,
        region,
        service,
        time,
    } = *scope;
    let identity = Credentials::new(
        &credentials.access_key_id,
        &credentials.secret_access_key,
        credentials.session_token.clone(),
        None,
        "keyway",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| SigningError::Sign(e.to_string()))?
        .into();
    let request = SignableRequest::new(method, url, headers.iter().copied(), SignableBody::Bytes(body))
        .map_err(|e| SigningError::Sign(e.to_string()))?;
    let (instructions, _signature) = sigv4_sign(request, &params)
        .map_err(|e| SigningError::Sign(e.to_string()))?
        .into_parts();
    let (added, _params) = instructions.into_parts();
    Ok(added
        .into_iter()
        .map(|h| (h.name(), h.value().to_owned()))
        .collect())
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn keys_split_into_id_secret_and_token() {
        let none = |_: &str| None;
        let c = AwsCredentials::from_key("AKID:se/cr+et:tok", none).unwrap();
        assert_eq!(
            (
                c.access_key_id.as_str(),
                c.secret_access_key.as_str(),
                c.session_token.as_deref()
            ),
            ("AKID", "se/cr+et", Some("tok"))
        );
        assert!(AwsCredentials::from_key("AKID", none).is_err());
        assert!(AwsCredentials::from_key("AKID:", none).is_err());
        let env = |n: &str| (n == "AWS_SECRET_ACCESS_KEY").then(|| "s3cret".to_owned());
        let c = AwsCredentials::from_key("AKID", env).unwrap();
        assert_eq!(c.secret_access_key, "s3cret");
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    /// The AWS documentation's example (IAM `ListUsers`, 2015-08-30), whose
    /// signature is published: a check that the crate is driven right.
    #[test]
    fn signature_matches_the_published_aws_example() {
        let creds = AwsCredentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None);
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160); // 20150830T123600Z
        let headers = sign(
            "GET",
            "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08",
            &[("content-type", "application/x-www-form-urlencoded; charset=utf-8")],
            b"",
            &Scope {
                credentials: &creds,
                region: "us-east-1",
                service: "iam",
                time,
            },
        )
        .unwrap();
        let auth = headers.iter().find(|(n, _)| *n == "authorization").unwrap();
        assert_eq!(
            auth.1,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
        assert!(
            headers
                .iter()
                .any(|(n, v)| *n == "x-amz-date" && v == "20150830T123600Z")
        );
    }
}
