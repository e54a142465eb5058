//! Who is this user: verifying access tokens (PROTOCOL.md §1).

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use room_core::UserId;
use serde::Deserialize;

/// A verified user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user's id (`idx` claim).
    pub user: UserId,
    /// Their display name (`nickname` claim).
    pub nickname: String,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No token was presented.
    #[error("no access token")]
    Missing,
    /// The token is malformed, forged, uses another algorithm, or has bad claims.
    #[error("invalid access token: {0}")]
    Invalid(String),
    /// The token's `exp` is past (beyond the leeway).
    #[error("access token expired")]
    Expired,
}

/// Checks an access token and says who it names. Implement this to plug in
/// your own authentication instead of our HS256 JWTs.
pub trait Authenticate: Send + Sync + 'static {
    /// The identity `token` proves, or why it proves none.
    fn authenticate(&self, token: &str) -> Result<Identity, AuthError>;
}

/// Clock leeway for `exp`, in seconds (PROTOCOL.md §1).
pub const EXP_LEEWAY_SECS: u64 = 60;
/// Longest nickname, in characters.
pub const MAX_NICKNAME_CHARS: usize = 32;

/// HS256 JWTs signed with a server secret, as PROTOCOL.md §1 describes.
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
}

#[derive(Deserialize)]
struct Claims {
    idx: u64,
    nickname: String,
}

impl JwtVerifier {
    /// A verifier for tokens signed with `secret`.
    pub fn new(secret: &[u8]) -> Result<JwtVerifier, AuthError> {
        let key = DecodingKey::from_secret(secret).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.required_spec_claims.clear();
        validation.validate_exp = true;
        validation.leeway = EXP_LEEWAY_SECS;
        Ok(JwtVerifier { key, validation })
    }
}

impl Authenticate for JwtVerifier {
    fn authenticate(&self, token: &str) -> Result<Identity, AuthError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(|e| match e
            .kind()
        {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
            _ => AuthError::Invalid(e.to_string()),
        })?;
        let nickname = data.claims.nickname;
        let chars = nickname.chars().count();
        if chars == 0 || chars > MAX_NICKNAME_CHARS {
            return Err(AuthError::Invalid(format!(
                "nickname must be 1..={MAX_NICKNAME_CHARS} characters"
            )));
        }
        Ok(Identity {
            user: UserId(data.claims.idx),
            nickname,
        })
    }
}

/// Sign a token for `user` (development login, tools and tests).
pub fn sign_token(
    secret: &[u8],
    user: UserId,
    nickname: &str,
    exp: Option<u64>,
) -> Result<String, AuthError> {
    let mut claims = serde_json::json!({ "idx": user.0, "nickname": nickname });
    if let Some(exp) = exp {
        claims["exp"] = exp.into();
    }
    let key =
        jsonwebtoken::EncodingKey::from_secret(secret).map_err(|e| AuthError::Invalid(e.to_string()))?;
    jsonwebtoken::encode(&jsonwebtoken::Header::new(Algorithm::HS256), &claims, &key)
        .map_err(|e| AuthError::Invalid(e.to_string()))
}

/// The bare token of an `authorization` value: a `Bearer ` prefix is accepted.
pub fn strip_bearer(value: &str) -> &str {
    let value = value.trim();
    match value.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("bearer ") => value[7..].trim(),
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_token_names_its_user() {
        let verifier = JwtVerifier::new(b"s").unwrap();
        let token = sign_token(b"s", UserId(3), "guest", None).unwrap();
        assert_eq!(
            verifier.authenticate(&token).unwrap(),
            Identity {
                user: UserId(3),
                nickname: "guest".into()
            }
        );
    }

    #[test]
    fn a_token_signed_with_another_secret_is_invalid() {
        let verifier = JwtVerifier::new(b"s").unwrap();
        let token = sign_token(b"other", UserId(3), "guest", None).unwrap();
        assert!(matches!(
            verifier.authenticate(&token),
            Err(AuthError::Invalid(_))
        ));
    }

    #[test]
    fn bearer_prefix_is_stripped_case_insensitively() {
        assert_eq!(strip_bearer("Bearer abc"), "abc");
        assert_eq!(strip_bearer("bearer abc"), "abc");
        assert_eq!(strip_bearer("abc"), "abc");
    }
}
