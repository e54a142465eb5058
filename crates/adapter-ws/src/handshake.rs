//! Finding the access token of an upgrade request (PROTOCOL.md §1).

use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, SEC_WEBSOCKET_PROTOCOL};

/// The subprotocol the server answers with.
pub const SUBPROTOCOL: &str = "myroom.v1";
const BEARER_PROTOCOL_PREFIX: &str = "bearer.";

/// Where a token was found, and the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresentedToken {
    /// No token at all.
    None,
    /// A token, from the header, the query or a subprotocol.
    Some(String),
}

/// The token of a request: `Authorization: Bearer`, else `?token=`, else a `bearer.<token>` subprotocol.
pub fn presented_token(headers: &HeaderMap, query_token: Option<&str>) -> PresentedToken {
    if let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        return PresentedToken::Some(crate::auth::strip_bearer(value).to_owned());
    }
    if let Some(token) = query_token {
        return PresentedToken::Some(token.to_owned());
    }
    for value in headers.get_all(SEC_WEBSOCKET_PROTOCOL) {
        let Ok(value) = value.to_str() else { continue };
        for offered in value.split(',').map(str::trim) {
            if let Some(token) = offered.strip_prefix(BEARER_PROTOCOL_PREFIX) {
                return PresentedToken::Some(token.to_owned());
            }
        }
    }
    PresentedToken::None
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn header_wins_over_query_and_subprotocol() {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer h"));
        headers.insert(
            SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("myroom.v1, bearer.p"),
        );
        assert_eq!(
            presented_token(&headers, Some("q")),
            PresentedToken::Some("h".into())
        );
    }

    #[test]
    fn token_is_read_from_the_bearer_subprotocol() {
        let mut headers = HeaderMap::new();
        headers.insert(
            SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("myroom.v1, bearer.abc.def.ghi"),
        );
        assert_eq!(
            presented_token(&headers, None),
            PresentedToken::Some("abc.def.ghi".into())
        );
    }

    #[test]
    fn no_token_anywhere_is_none() {
        assert_eq!(presented_token(&HeaderMap::new(), None), PresentedToken::None);
    }
}
