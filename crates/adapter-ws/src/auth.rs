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
    /// The token's `nbf` is still ahead (beyond the leeway).
    #[error("access token not valid yet")]
    NotYetValid,
    /// The token's `aud` does not name this server, or names an audience
    /// when the server is configured with none.
    #[error("access token is meant for another audience")]
    WrongAudience,
}

/// Checks an access token and says who it names. Implement this to plug in
/// your own authentication instead of our HS256 JWTs.
pub trait Authenticate: Send + Sync + 'static {
    /// The identity `token` proves, or why it proves none.
    fn authenticate(&self, token: &str) -> Result<Identity, AuthError>;
}

/// Clock leeway for `exp` and `nbf`, in seconds (PROTOCOL.md §1).
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
    /// A verifier for tokens signed with `secret`. It belongs to no audience:
    /// a token with an `aud` claim is refused (RFC 7519 §4.1.3: a principal
    /// that cannot identify itself with a value in `aud` must reject the
    /// token), so a token minted for another service never passes here.
    pub fn new(secret: &[u8]) -> Result<JwtVerifier, AuthError> {
        let key = DecodingKey::from_secret(secret).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.required_spec_claims.clear();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.leeway = EXP_LEEWAY_SECS;
        Ok(JwtVerifier { key, validation })
    }

    /// Accept only tokens whose `aud` claim names `audience` (a string equal
    /// to it, or an array containing it); tokens without `aud` are refused.
    pub fn with_audience(mut self, audience: &str) -> JwtVerifier {
        self.validation.set_audience(&[audience]);
        self.validation.set_required_spec_claims(&["aud"]);
        self
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
            jsonwebtoken::errors::ErrorKind::ImmatureSignature => AuthError::NotYetValid,
            jsonwebtoken::errors::ErrorKind::InvalidAudience => AuthError::WrongAudience,
            jsonwebtoken::errors::ErrorKind::MissingRequiredClaim(claim) if claim == "aud" => {
                AuthError::WrongAudience
            }
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
    sign_claims(
        secret,
        &TokenClaims {
            exp,
            ..TokenClaims::new(user, nickname)
        },
    )
}

/// The claims of a token [`sign_claims`] makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims<'a> {
    /// `idx`.
    pub user: UserId,
    /// `nickname`.
    pub nickname: &'a str,
    /// `exp`, seconds since the Unix epoch.
    pub exp: Option<u64>,
    /// `nbf`, seconds since the Unix epoch.
    pub nbf: Option<u64>,
    /// `aud`: the audience the server is configured with, if any.
    pub aud: Option<&'a str>,
}

impl<'a> TokenClaims<'a> {
    /// `idx` and `nickname` only.
    pub fn new(user: UserId, nickname: &'a str) -> TokenClaims<'a> {
        TokenClaims {
            user,
            nickname,
            exp: None,
            nbf: None,
            aud: None,
        }
    }
}

/// Sign a token with exactly `claims`.
pub fn sign_claims(secret: &[u8], claims: &TokenClaims<'_>) -> Result<String, AuthError> {
    let mut json = serde_json::json!({ "idx": claims.user.0, "nickname": claims.nickname });
    if let Some(exp) = claims.exp {
        json["exp"] = exp.into();
    }
    if let Some(nbf) = claims.nbf {
        json["nbf"] = nbf.into();
    }
    if let Some(aud) = claims.aud {
        json["aud"] = aud.into();
    }
    let key =
        jsonwebtoken::EncodingKey::from_secret(secret).map_err(|e| AuthError::Invalid(e.to_string()))?;
    jsonwebtoken::encode(&jsonwebtoken::Header::new(Algorithm::HS256), &json, &key)
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
    fn a_token_signed_for_the_configured_audience_names_its_user() {
        let verifier = JwtVerifier::new(b"s").unwrap().with_audience("myroom");
        let claims = TokenClaims {
            aud: Some("myroom"),
            ..TokenClaims::new(UserId(3), "guest")
        };
        let token = sign_claims(b"s", &claims).unwrap();
        assert_eq!(verifier.authenticate(&token).unwrap().user, UserId(3));
        let other = sign_claims(
            b"s",
            &TokenClaims {
                aud: Some("billing"),
                ..claims.clone()
            },
        )
        .unwrap();
        assert_eq!(verifier.authenticate(&other), Err(AuthError::WrongAudience));
        let plain = sign_token(b"s", UserId(3), "guest", None).unwrap();
        assert_eq!(verifier.authenticate(&plain), Err(AuthError::WrongAudience));
    }

    #[test]
    fn bearer_prefix_is_stripped_case_insensitively() {
        assert_eq!(strip_bearer("Bearer abc"), "abc");
        assert_eq!(strip_bearer("bearer abc"), "abc");
        assert_eq!(strip_bearer("abc"), "abc");
    }
}
