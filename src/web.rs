//! The room in a browser: the page at `GET /` (assets compiled into the
//! binary), the signed-in user's games for the owner's palette, and, only
//! when development login is on, a user list and a token route.
//!
//! | route | answer |
//! |---|---|
//! | `GET /`, `/style.css`, `/main.js` and the page's other modules | the page |
//! | `GET /lib/myroom-client/*.js` | the client library the page is built on (`clients/js/src`) |
//! | `GET /web/config` | `{"wsPath":"/library","devLogin":true}` |
//! | `GET /me/games` (token as `Authorization: Bearer` or `?token=`) | `{"user":1,"nickname":"alice","games":[{"id":"12","name":"Chess"}]}`, 401 for a bad token |
//! | `GET /dev/users` (dev login only) | `[{"user":1,"nickname":"alice"}]` |
//! | `POST /dev/token` (dev login only) `{"user":1}` | `{"token":"...","user":1,"nickname":"alice"}`, 404 for an unknown user |

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use adapter_ws::{Authenticate, TokenClaims, sign_claims, strip_bearer};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use room_core::{RoomId, UserId};
use room_ports::{MapStore, StoreError};
use serde::Deserialize;
use serde_json::json;

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

// `/FILE` from web/, and `/lib/myroom-client/FILE` from clients/js/src/.
macro_rules! page {
    ($file:literal, $content_type:expr) => {
        (
            concat!("/", $file),
            $content_type,
            include_str!(concat!("../web/", $file)),
        )
    };
}
macro_rules! lib {
    ($file:literal) => {
        (
            concat!("/lib/myroom-client/", $file),
            JS,
            include_str!(concat!("../clients/js/src/", $file)),
        )
    };
}
/// The page's files, compiled in: (path, content type, body). The page is
/// native ES modules loaded without a bundler, so every module it imports,
/// the library's included, needs its own route here.
const ASSETS: &[(&str, &str, &str)] = &[
    ("/", HTML, include_str!("../web/index.html")),
    page!("style.css", CSS),
    page!("main.js", JS),
    page!("connection.js", JS),
    page!("room-state.js", JS),
    page!("render.js", JS),
    page!("editor.js", JS),
    page!("ui.js", JS),
    lib!("index.js"),
    lib!("client.js"),
    lib!("codec.js"),
    lib!("state.js"),
    lib!("errors.js"),
    lib!("backoff.js"),
    lib!("emitter.js"),
    lib!("handshake.js"),
];

/// How long a development-login token is valid.
pub const DEV_TOKEN_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);
/// Most users `/dev/users` lists.
pub const DEV_USERS_LIMIT: usize = 200;

/// The page allows only its own scripts, styles and connections back to this host.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// What the web routes need.
#[derive(Clone)]
pub struct WebOptions {
    /// Users and their games.
    pub store: Arc<dyn MapStore>,
    /// Checks tokens, the same way the WebSocket handshake does.
    pub auth: Arc<dyn Authenticate>,
    /// The secret the development login signs tokens with (the one `auth` checks).
    pub secret: Vec<u8>,
    /// The `aud` the development login puts in its tokens (the one `auth` expects).
    pub audience: Option<String>,
    /// Serve `/dev/users` and `/dev/token`.
    pub dev_login: bool,
    /// Where the WebSocket endpoint is mounted, for the page to connect to.
    pub ws_path: String,
}

#[derive(Clone)]
struct Web(Arc<WebOptions>);

/// The page's routes, and the development login routes when `options.dev_login` is set.
pub fn router(options: WebOptions) -> Router {
    let dev_login = options.dev_login;
    let mut router = Router::new();
    for &(path, content_type, body) in ASSETS {
        router = router.route(path, get(move || async move { asset(content_type, body) }));
    }
    router = router
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/web/config", get(config))
        .route("/me/games", get(my_games));
    if dev_login {
        router = router
            .route("/dev/users", get(dev_users))
            .route("/dev/token", post(dev_token));
    }
    router.with_state(Web(Arc::new(options)))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        ],
        body,
    )
        .into_response()
}

async fn config(State(web): State<Web>) -> Response {
    Json(json!({ "wsPath": web.0.ws_path, "devLogin": web.0.dev_login })).into_response()
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// The answer for a store error: what failed, never the store's own words
/// (they name hosts, ports and paths); those go to the log.
fn store_error(e: StoreError) -> Response {
    tracing::warn!(error = %e, "a web route could not use the store");
    match e {
        StoreError::Unavailable(_) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the room store is unavailable; try again",
        ),
        _ => error(StatusCode::INTERNAL_SERVER_ERROR, "unexpected store error"),
    }
}

/// The bearer token of `Authorization`, else `?token=`.
fn request_token<'a>(headers: &'a HeaderMap, query: &'a HashMap<String, String>) -> Option<&'a str> {
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(strip_bearer);
    from_header
        .or_else(|| query.get("token").map(|t| t.trim()))
        .filter(|t| !t.is_empty())
}

async fn my_games(
    State(web): State<Web>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let Some(token) = request_token(&headers, &query) else {
        return error(StatusCode::UNAUTHORIZED, "no access token");
    };
    let identity = match web.0.auth.authenticate(token) {
        Ok(identity) => identity,
        Err(e) => return error(StatusCode::UNAUTHORIZED, e.to_string()),
    };
    match web.0.store.owned_games(identity.user).await {
        Ok(games) => {
            let games: Vec<_> = games
                .into_iter()
                .map(|g| json!({ "id": g.id.to_string(), "name": g.name }))
                .collect();
            Json(json!({ "user": identity.user.0, "nickname": identity.nickname, "games": games }))
                .into_response()
        }
        Err(e) => store_error(e),
    }
}

async fn dev_users(State(web): State<Web>) -> Response {
    match web.0.store.list_users(DEV_USERS_LIMIT).await {
        Ok(users) => Json(users).into_response(),
        Err(e) => store_error(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    user: u64,
}

async fn dev_token(
    State(web): State<Web>,
    body: Result<Json<TokenRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(TokenRequest { user })) = body else {
        return error(StatusCode::BAD_REQUEST, "expected {\"user\": <id>}");
    };
    // Each user owns exactly one room, so the room's owner is the user.
    let nickname = match web.0.store.load_room(RoomId(user)).await {
        Ok(Some(room)) => room.owner_nickname,
        Ok(None) => return error(StatusCode::NOT_FOUND, format!("no user {user}")),
        Err(e) => return store_error(e),
    };
    let exp = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default() + DEV_TOKEN_LIFETIME;
    let claims = TokenClaims {
        exp: Some(exp.as_secs()),
        aud: web.0.audience.as_deref(),
        ..TokenClaims::new(UserId(user), &nickname)
    };
    match sign_claims(&web.0.secret, &claims) {
        Ok(token) => Json(json!({ "token": token, "user": user, "nickname": nickname })).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use adapter_ws::JwtVerifier;
    use room_ports::UserSeed;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn serve(dev_login: bool) -> (std::net::SocketAddr, tempdir::Dir) {
        let dir = tempdir::Dir::new();
        let store: Arc<dyn MapStore> = Arc::new(room_node::DiskMapStore::open(&dir.0).unwrap());
        let users: Vec<UserSeed> = crate::fixtures::demo_users();
        store.seed_users(&users).await.unwrap();
        let app = router(WebOptions {
            store,
            auth: Arc::new(JwtVerifier::new(b"s").unwrap()),
            secret: b"s".to_vec(),
            audience: None,
            dev_login,
            ws_path: "/library".into(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (addr, dir)
    }

    /// One HTTP/1.1 request; the status code and the body.
    async fn request(
        addr: std::net::SocketAddr,
        method: &str,
        path: &str,
        extra: &str,
        body: &str,
    ) -> (u16, String) {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).await.unwrap();
        let status = raw[9..12].parse().unwrap();
        let body = raw
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    mod tempdir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                use std::sync::atomic::{AtomicU32, Ordering};
                static N: AtomicU32 = AtomicU32::new(0);
                let path = std::env::temp_dir().join(format!(
                    "myroom-web-test-{}-{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::create_dir_all(&path).unwrap();
                Dir(path)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[tokio::test]
    async fn the_page_and_its_assets_are_served() {
        let (addr, _dir) = serve(false).await;
        let (status, body) = request(addr, "GET", "/", "", "").await;
        assert_eq!(status, 200);
        assert!(
            body.contains(r#"<script type="module" src="/main.js">"#),
            "{body}"
        );
        for &(path, _, content) in ASSETS {
            let (status, body) = request(addr, "GET", path, "", "").await;
            assert_eq!(status, 200, "{path}");
            assert_eq!(body, content, "{path}");
        }
        let (_, config) = request(addr, "GET", "/web/config", "", "").await;
        assert_eq!(config, r#"{"devLogin":false,"wsPath":"/library"}"#);
    }

    /// The modules a module imports, as the browser resolves them against `path`.
    fn imports_of(path: &str, source: &str) -> Vec<String> {
        let dir = &path[..=path.rfind('/').unwrap()];
        source
            .lines()
            .filter_map(|line| line.split_once("from '").map(|(_, rest)| rest))
            .filter_map(|rest| rest.split_once('\'').map(|(spec, _)| spec))
            .map(|spec| match spec.strip_prefix("./") {
                Some(relative) => format!("{dir}{relative}"),
                None => spec.to_owned(),
            })
            .collect()
    }

    #[test]
    fn every_module_the_page_imports_is_served() {
        let served: Vec<&str> = ASSETS.iter().map(|&(path, _, _)| path).collect();
        let mut checked = 0;
        for &(path, content_type, source) in ASSETS {
            if content_type != JS {
                continue;
            }
            for import in imports_of(path, source) {
                assert!(
                    served.contains(&import.as_str()),
                    "{path} imports {import}, which is not served"
                );
                checked += 1;
            }
        }
        // main.js alone imports five modules; the library's index several more.
        assert!(
            checked >= 10,
            "only {checked} imports found: is the parser still right?"
        );
    }

    #[tokio::test]
    async fn dev_routes_exist_only_with_dev_login() {
        let (addr, _dir) = serve(false).await;
        assert_eq!(request(addr, "GET", "/dev/users", "", "").await.0, 404);
        assert_eq!(
            request(
                addr,
                "POST",
                "/dev/token",
                "Content-Type: application/json\r\n",
                r#"{"user":1}"#
            )
            .await
            .0,
            404
        );
    }

    #[tokio::test]
    async fn a_dev_token_works_for_my_games_and_unknown_users_are_404() {
        let (addr, _dir) = serve(true).await;
        let (status, users) = request(addr, "GET", "/dev/users", "", "").await;
        assert_eq!(status, 200);
        assert!(users.contains(r#"{"user":1,"nickname":"alice"}"#), "{users}");

        let json = "Content-Type: application/json\r\n";
        assert_eq!(
            request(addr, "POST", "/dev/token", json, r#"{"user":99}"#)
                .await
                .0,
            404
        );
        assert_eq!(
            request(addr, "POST", "/dev/token", json, r#"{"usr":1}"#).await.0,
            400
        );
        let (status, body) = request(addr, "POST", "/dev/token", json, r#"{"user":1}"#).await;
        assert_eq!(status, 200, "{body}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["nickname"], "alice");
        let token = body["token"].as_str().unwrap();
        let verified = JwtVerifier::new(b"s").unwrap().authenticate(token).unwrap();
        assert_eq!(verified.user, UserId(1));

        let (status, games) = request(
            addr,
            "GET",
            "/me/games",
            &format!("Authorization: Bearer {token}\r\n"),
            "",
        )
        .await;
        assert_eq!(status, 200);
        assert!(games.contains(r#"{"id":"12","name":"Chess"}"#), "{games}");
        let (status, _) = request(addr, "GET", &format!("/me/games?token={token}"), "", "").await;
        assert_eq!(status, 200);
        assert_eq!(
            request(addr, "GET", "/me/games?token=nonsense", "", "").await.0,
            401
        );
        assert_eq!(request(addr, "GET", "/me/games", "", "").await.0, 401);
    }
}
