//! Standard Webhooks signatures: `webhook-signature: v1,<base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))>`.
//!
//! Inputs: a secret written as `whsec_<base64>` (the key is the decoded part), a message id, a
//! Unix timestamp in seconds and the exact body bytes. Output: the header value.
//!
//! Failure: a secret without the `whsec_` prefix, with invalid base64 or with an empty key is
//! refused when parsed ([`SigningKey::parse`]), so a running sender always has a usable key.
//! Neither the secret nor the key is ever shown: `Debug` prints `SigningKey(***)`.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The prefix of a Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// Why a secret is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("the secret does not start with `whsec_`")]
    NoPrefix,
    #[error("the part after `whsec_` is not valid base64")]
    NotBase64,
    #[error("the key after `whsec_` is empty")]
    Empty,
}

/// The HMAC key of one endpoint.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey(Vec<u8>);

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(***)")
    }
}

impl SigningKey {
    /// Parses `whsec_<base64>`.
    pub fn parse(secret: &str) -> Result<Self, SecretError> {
        let encoded = secret
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SecretError::NoPrefix)?;
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| SecretError::NotBase64)?;
        if key.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Self(key))
    }

    /// The `webhook-signature` header value for one delivery attempt.
    pub fn sign(&self, message_id: &str, timestamp: u64, body: &[u8]) -> String {
        // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("hmac takes keys of any length");
        mac.update(message_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector published with the Standard Webhooks reference libraries (also Svix's
    /// `testSignFunctionWorks`): a signer that reproduces it is accepted by their verifiers.
    #[test]
    fn the_published_test_vector_is_reproduced() {
        let key = SigningKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("valid");
        let signature = key.sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn id_timestamp_and_body_all_count() {
        let key = SigningKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("valid");
        let base = key.sign("a", 1, b"{}");
        assert_ne!(base, key.sign("b", 1, b"{}"));
        assert_ne!(base, key.sign("a", 2, b"{}"));
        assert_ne!(base, key.sign("a", 1, b"{ }"));
        let other = SigningKey::parse("whsec_c2VjcmV0").expect("valid");
        assert_ne!(base, other.sign("a", 1, b"{}"));
    }

    #[test]
    fn bad_secrets_are_refused_and_never_shown() {
        assert_eq!(SigningKey::parse("c2VjcmV0"), Err(SecretError::NoPrefix));
        assert_eq!(
            SigningKey::parse("whsec_not base64!"),
            Err(SecretError::NotBase64)
        );
        assert_eq!(SigningKey::parse("whsec_"), Err(SecretError::Empty));
        let key = SigningKey::parse("whsec_c2VjcmV0").expect("valid");
        assert_eq!(format!("{key:?}"), "SigningKey(***)");
    }
}
