//! SigV4 verification for the Bedrock routes, with known test credentials:
//! the signature is recomputed with `aws-sigv4` from the request as
//! received — method, raw path and query, the headers it says it signed,
//! the body, the time in `x-amz-date` — and compared with the one sent. A
//! gateway that signs wrongly gets Bedrock's 403, so a passing test proves
//! the signing is right, not only that a header is present.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::Response;
use serde_json::json;

use crate::errors::json_response;

/// The mock's one access key id; requests signed with any other are refused.
pub const TEST_ACCESS_KEY_ID: &str = "AKIAKEYWAYMOCKTEST01";
/// Its secret.
pub const TEST_SECRET_ACCESS_KEY: &str = "keyway/mock+bedrock/SECRET0000000000000000";
/// How far `x-amz-date` may be from the mock's clock, as AWS allows.
const MAX_SKEW: Duration = Duration::from_secs(5 * 60);

/// Checks the request's signature for `service`; `Err` is Bedrock's 403.
pub(crate) fn verify(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    service: &str,
) -> Result<(), Box<Response>> {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            refuse(
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            )
        })?;
    let parsed = Parsed::from(auth).ok_or_else(|| {
        refuse(
            "IncompleteSignatureException",
            "Authorization header requires Credential, SignedHeaders and Signature.",
        )
    })?;
    let region = check_scope(parsed.credential, service)?;
    let time = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_amz_date)
        .ok_or_else(|| {
            refuse(
                "IncompleteSignatureException",
                "x-amz-date is missing or malformed.",
            )
        })?;
    let skew = SystemTime::now()
        .duration_since(time)
        .unwrap_or_else(|e| e.duration());
    if skew > MAX_SKEW {
        return Err(refuse("InvalidSignatureException", "Signature expired."));
    }
    let expected = recompute(
        method,
        uri,
        headers,
        body,
        &parsed.signed_headers,
        region,
        service,
        time,
    )
    .ok_or_else(|| {
        refuse(
            "InvalidSignatureException",
            "The request could not be canonicalised.",
        )
    })?;
    if !constant_time_eq(expected.as_bytes(), parsed.signature.as_bytes()) {
        return Err(refuse(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
        ));
    }
    Ok(())
}

/// `KEY/DATE/REGION/SERVICE/aws4_request` names the test key and `service`;
/// returns the region.
fn check_scope<'a>(credential: &'a str, service: &str) -> Result<&'a str, Box<Response>> {
    let scope: Vec<&str> = credential.split('/').collect();
    let [key_id, _date, region, signed_service, "aws4_request"] = scope[..] else {
        return Err(refuse(
            "IncompleteSignatureException",
            "Credential must be KEY/DATE/REGION/SERVICE/aws4_request.",
        ));
    };
    if key_id != TEST_ACCESS_KEY_ID {
        return Err(refuse(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ));
    }
    if signed_service != service {
        return Err(refuse(
            "InvalidSignatureException",
            "Credential should be scoped to the correct service.",
        ));
    }
    Ok(region)
}

struct Parsed<'a> {
    credential: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

impl<'a> Parsed<'a> {
    fn from(auth: &'a str) -> Option<Self> {
        let rest = auth.strip_prefix("AWS4-HMAC-SHA256 ")?;
        let field = |name: &str| {
            rest.split(',')
                .map(str::trim)
                .find_map(|part| part.strip_prefix(name)?.strip_prefix('='))
        };
        Some(Self {
            credential: field("Credential")?,
            signed_headers: field("SignedHeaders")?.split(';').collect(),
            signature: field("Signature")?,
        })
    }
}

#[expect(clippy::too_many_arguments, reason = "the parts of one canonical request")]
fn recompute(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    signed: &[&str],
    region: &str,
    service: &str,
    time: SystemTime,
) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let url = format!("http://{host}{}", uri.path_and_query()?.as_str());
    // The signer adds `x-amz-date` (and a session token) itself.
    let mut signable = Vec::new();
    for name in signed
        .iter()
        .filter(|n| !matches!(**n, "x-amz-date" | "x-amz-security-token"))
    {
        signable.push((*name, headers.get(*name)?.to_str().ok()?));
    }
    let identity = Credentials::new(TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY, None, None, "mock").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .ok()?
        .into();
    let request = SignableRequest::new(
        method.as_str(),
        url,
        signable.into_iter(),
        SignableBody::Bytes(body),
    )
    .ok()?;
    let (_, signature) = sign(request, &params).ok()?.into_parts();
    Some(signature)
}

/// `20150830T123600Z`.
fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let at = time::PrimitiveDateTime::parse(s, format).ok()?.assume_utc();
    Some(SystemTime::from(at))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Bedrock's error shape: `{"message": …}` with the type in `x-amzn-ErrorType`.
pub(crate) fn bedrock_error(status: StatusCode, kind: &str, message: &str) -> Response {
    let mut response = json_response(status, &json!({"message": message}));
    if let Ok(v) = axum::http::HeaderValue::from_str(kind) {
        response.headers_mut().insert("x-amzn-errortype", v);
    }
    response
}

fn refuse(kind: &str, message: &str) -> Box<Response> {
    Box::new(bedrock_error(StatusCode::FORBIDDEN, kind, message))
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn amz_dates_parse_as_utc() {
        let t = parse_amz_date("20150830T123600Z").unwrap();
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(),
            1_440_938_160
        );
        assert!(parse_amz_date("2015-08-30").is_none());
    }

    #[test]
    fn authorization_headers_are_split_into_their_parts() {
        let p = Parsed::from("AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=abc").unwrap();
        assert_eq!(p.credential, "A/20150830/us-east-1/bedrock/aws4_request");
        assert_eq!(p.signed_headers, ["content-type", "host", "x-amz-date"]);
        assert_eq!(p.signature, "abc");
        assert!(Parsed::from("Bearer x").is_none());
    }
}
