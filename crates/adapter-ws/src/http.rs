//! The HTTP side of the front door, on the same port as the WebSocket:
//! the upgrade itself, health, readiness, metrics and a read-only room view.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use metrics_exporter_prometheus::PrometheusHandle;
use room_core::RoomId;
use room_node::Engine;
use subtle::ConstantTimeEq;

use crate::auth::{AuthError, Authenticate, Identity};
use crate::client_addr::ClientAddr;
use crate::config::WsConfig;
use crate::connection::{self, ConnectionContext};
use crate::handshake::{PresentedToken, SUBPROTOCOL, presented_token};
use crate::metrics_names as m;
use crate::readiness::{Draining, ReadinessCheck, StoreReady};
use crate::resume_query::{Handshake, ResumeAsk};

/// Everything the routes share.
#[derive(Clone)]
pub struct FrontDoor {
    engine: Engine,
    auth: Arc<dyn Authenticate>,
    config: Arc<WsConfig>,
    metrics: Option<PrometheusHandle>,
    readiness: Arc<Vec<Arc<dyn ReadinessCheck>>>,
    draining: Draining,
    admin_token: Option<Arc<str>>,
}

impl FrontDoor {
    /// A front door for `engine`, checking tokens with `auth`. Readiness
    /// checks the engine's map store until more checks are added.
    pub fn new(engine: Engine, auth: Arc<dyn Authenticate>, config: WsConfig) -> FrontDoor {
        let store: Arc<dyn ReadinessCheck> = Arc::new(StoreReady(engine.store().clone()));
        FrontDoor {
            engine,
            auth,
            config: Arc::new(config),
            metrics: None,
            readiness: Arc::new(vec![store]),
            draining: Draining::new(),
            admin_token: None,
        }
    }

    /// Also let `GET /rooms/{id}` through for requests presenting `token`
    /// (as a bearer token or `?token=`) instead of a user's access token.
    pub fn with_admin_token(mut self, token: impl Into<String>) -> FrontDoor {
        self.admin_token = Some(token.into().into());
        self
    }

    /// Serve `/metrics` from this Prometheus recorder.
    pub fn with_metrics(mut self, handle: PrometheusHandle) -> FrontDoor {
        self.metrics = Some(handle);
        self
    }

    /// Also require `check` for `/readyz`.
    pub fn with_readiness(mut self, check: Arc<dyn ReadinessCheck>) -> FrontDoor {
        Arc::make_mut(&mut self.readiness).push(check);
        self
    }

    /// Answer `/readyz` with 503 `{"draining":true}` once `draining` has begun.
    pub fn with_draining(mut self, draining: Draining) -> FrontDoor {
        self.draining = draining;
        self
    }

    /// The engine behind this door.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The WebSocket endpoint alone, to mount at a path of your choice in
    /// your own router: it checks the token with this door's [`Authenticate`]
    /// (401 before the upgrade otherwise) and serves the socket.
    ///
    /// ```
    /// # fn mount(door: adapter_ws::FrontDoor) -> axum::Router {
    /// axum::Router::new()
    ///     .route("/hello", axum::routing::get(|| async { "hello" }))
    ///     .route("/rooms/ws", door.websocket_route())
    /// # }
    /// ```
    pub fn websocket_route(&self) -> MethodRouter {
        get(upgrade).with_state(self.clone())
    }

    /// The WebSocket endpoint at `ws_path`, plus `/healthz`, `/readyz`,
    /// `/metrics`, `/rooms/{id}` (for a valid access token or the admin
    /// token, and only for rooms loaded on this node) and `POST
    /// /auth/check` (whether a token would pass the handshake).
    ///
    /// A route is relative to the router, so the WebSocket's own path and
    /// `/auth/check` are served under the same prefix when nested.
    pub fn router(&self, ws_path: &str) -> Router {
        Router::new()
            .route(ws_path, get(upgrade))
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics))
            .route("/rooms/{id}", get(room))
            .route("/rooms/{id}/route", get(route))
            .route(
                AUTH_CHECK,
                post(auth_check).layer(DefaultBodyLimit::max(16 * 1024)),
            )
            .with_state(self.clone())
    }

    /// Accept an upgrade for a user your own code already authenticated (in
    /// its own handler or middleware), with this door's frame limits and
    /// buffer sizes. `batch` asks for one frame per tick (`?batch=1`).
    ///
    /// ```
    /// use adapter_ws::{FrontDoor, Identity};
    /// use axum::extract::{State, ws::WebSocketUpgrade};
    /// use axum::response::Response;
    /// use room_core::UserId;
    ///
    /// async fn rooms(State(door): State<FrontDoor>, ws: WebSocketUpgrade) -> Response {
    ///     // ...your own check of the request here...
    ///     let identity = Identity { user: UserId(7), nickname: "owner".into() };
    ///     door.accept(ws, identity, false)
    /// }
    /// # fn mount(door: FrontDoor) -> axum::Router {
    /// # axum::Router::new().route("/rooms/ws", axum::routing::get(rooms)).with_state(door)
    /// # }
    /// ```
    pub fn accept(&self, ws: WebSocketUpgrade, identity: Identity, batch: bool) -> Response {
        upgrade_for(self, ws, Some(identity), Handshake::plain(batch), None)
    }

    /// Serve a socket that was already upgraded elsewhere, for `identity`,
    /// until it closes: the same reader, writer, limits and rooms as sockets
    /// of [`websocket_route`](Self::websocket_route). The upgrade's own
    /// settings (largest message, buffer sizes) are whatever the caller chose;
    /// [`accept`](Self::accept) applies this door's instead.
    pub async fn serve_socket(&self, socket: WebSocket, identity: Identity, batch: bool) {
        connection::serve(
            socket,
            self.context(),
            Some(identity),
            Handshake::plain(batch),
            None,
        )
        .await;
    }

    fn context(&self) -> ConnectionContext {
        ConnectionContext {
            engine: self.engine.clone(),
            auth: self.auth.clone(),
            config: self.config.clone(),
        }
    }
}

async fn upgrade(
    State(door): State<FrontDoor>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    client: Option<Extension<ClientAddr>>,
    ws: WebSocketUpgrade,
) -> Response {
    let identity = match presented_token(&headers, query.get("token").map(String::as_str)) {
        PresentedToken::Some(token) => match door.auth.authenticate(&token) {
            Ok(identity) => Some(identity),
            Err(e) => return unauthorized(e.to_string()),
        },
        PresentedToken::None if door.config.legacy_auth => None,
        PresentedToken::None => return unauthorized("no access token".to_owned()),
    };
    let batch = query.get("batch").is_some_and(|v| v == "1" || v == "true");
    // A legacy socket (no token at the handshake) is never opted into resume.
    let resume = match (&identity, door.engine.seat_key()) {
        (Some(identity), Some(key)) => ResumeAsk::of_query(
            query.get("resume").map(String::as_str),
            query.get("seq").map(String::as_str),
            key,
            identity.user,
        ),
        _ => ResumeAsk::No,
    };
    let client = client.map(|Extension(ClientAddr(ip))| ip);
    upgrade_for(&door, ws, identity, Handshake { batch, resume }, client)
}

/// Complete the upgrade with the door's limits; the socket is then served for `identity`
/// (`None`: a legacy socket that authenticates in its ENTER), from `client` if known.
fn upgrade_for(
    door: &FrontDoor,
    ws: WebSocketUpgrade,
    identity: Option<Identity>,
    handshake: Handshake,
    client: Option<IpAddr>,
) -> Response {
    let config = &door.config;
    let ctx = door.context();
    ws.protocols([SUBPROTOCOL])
        .read_buffer_size(config.read_buffer_bytes)
        .write_buffer_size(config.write_buffer_bytes)
        .max_message_size(config.max_frame_bytes)
        .max_frame_size(config.max_frame_bytes)
        .on_upgrade(move |socket| connection::serve(socket, ctx, identity, handshake, client))
}

/// Where a client asks whether its token passes the handshake (PROTOCOL.md §1).
pub const AUTH_CHECK: &str = "/auth/check";

/// Whether the token in the body (plain text) would pass the handshake:
/// 200 `{"user":"3","nickname":"n"}`, or 401 `{"reason":..,"message":..}`.
/// A browser cannot read the 401 of a refused upgrade; it can read this
/// (a plain-text POST needs no CORS preflight, and the answer is readable
/// from any origin: it says nothing the token's holder does not know).
async fn auth_check(State(door): State<FrontDoor>, body: String) -> Response {
    let cors = [(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")];
    let token = body.trim();
    let token = token.strip_prefix("Bearer ").unwrap_or(token);
    let outcome = if token.is_empty() {
        Err(AuthError::Missing)
    } else {
        door.auth.authenticate(token)
    };
    match outcome {
        Ok(identity) => (
            cors,
            axum::Json(serde_json::json!({
                "user": identity.user.0.to_string(),
                "nickname": identity.nickname,
            })),
        )
            .into_response(),
        Err(e) => {
            let reason = match e {
                AuthError::Missing => "missing",
                AuthError::Expired => "expired",
                AuthError::NotYetValid => "not_yet_valid",
                AuthError::WrongAudience => "wrong_audience",
                _ => "invalid",
            };
            let body = serde_json::json!({ "reason": reason, "message": e.to_string() });
            (StatusCode::UNAUTHORIZED, cors, axum::Json(body)).into_response()
        }
    }
}

fn unauthorized(reason: String) -> Response {
    metrics::counter!(m::UNAUTHORIZED).increment(1);
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        reason,
    )
        .into_response()
}

/// Each check's name with `ok`, `down` or `no answer within 2 s`. Why a
/// service is down goes to the log only: the reasons name hosts, ports and
/// paths, which are nobody's business who can reach this port. A draining
/// node answers 503 `{"draining":true}` whatever its services say.
async fn readyz(State(door): State<FrontDoor>) -> Response {
    if door.draining.is_draining() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({ "draining": true })),
        )
            .into_response();
    }
    let mut report = serde_json::Map::new();
    let mut ready = true;
    for check in door.readiness.iter() {
        let outcome = tokio::time::timeout(Duration::from_secs(2), check.check()).await;
        let status = match outcome {
            Ok(Ok(())) => "ok",
            Ok(Err(reason)) => {
                tracing::warn!(service = check.name(), %reason, "not ready");
                "down"
            }
            Err(_) => {
                tracing::warn!(service = check.name(), "not ready: no answer within 2 s");
                "no answer within 2 s"
            }
        };
        ready &= status == "ok";
        report.insert(check.name().to_owned(), status.into());
    }
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(serde_json::Value::Object(report))).into_response()
}

async fn metrics(State(door): State<FrontDoor>) -> Response {
    match &door.metrics {
        Some(handle) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            handle.render(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "metrics are not enabled").into_response(),
    }
}

/// The room as SYNC shows it, to a signed-in user or the admin token. Only a
/// room loaded here is shown: reading the store for anyone who asks would let
/// requests for every room id cost a store read each.
async fn room(
    State(door): State<FrontDoor>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(refusal) = door.refuse_viewer(&headers, query.get("token").map(String::as_str)) {
        return refusal;
    }
    let Ok(id) = id.parse::<u64>() else {
        return (StatusCode::BAD_REQUEST, "room id must be a number").into_response();
    };
    match door.engine.live_room_view(RoomId(id)).await {
        Some(view) => (
            [(header::CONTENT_TYPE, "application/json")],
            room_core::codec::encode_room(&view),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "room not loaded on this node").into_response(),
    }
}

impl FrontDoor {
    /// `None` for a valid access token or the admin token, else the 401 to send.
    fn refuse_viewer(&self, headers: &HeaderMap, query_token: Option<&str>) -> Option<Response> {
        let PresentedToken::Some(token) = presented_token(headers, query_token) else {
            return Some(unauthorized("no access token".to_owned()));
        };
        if let Some(admin) = &self.admin_token
            && bool::from(token.as_bytes().ct_eq(admin.as_bytes()))
        {
            return None;
        }
        self.auth
            .authenticate(&token)
            .err()
            .map(|e| unauthorized(e.to_string()))
    }
}

/// Where a client should connect for a room: its host if hosted, else the
/// least-loaded live node (in a cluster; 404 on a single node).
async fn route(State(door): State<FrontDoor>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        return (StatusCode::BAD_REQUEST, "room id must be a number").into_response();
    };
    if door.engine.cluster().is_none() {
        return (StatusCode::NOT_FOUND, "not a cluster: connect here").into_response();
    }
    match door.engine.route(RoomId(id)).await {
        Some(route) => axum::Json(serde_json::json!({
            "url": route.url,
            "node": route.node.0,
            "hosted": route.hosted,
        }))
        .into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "no live node known").into_response(),
    }
}

/// Install the process-wide Prometheus recorder and keep its histograms trimmed.
pub fn install_metrics() -> Result<PrometheusHandle, metrics_exporter_prometheus::BuildError> {
    let seconds = [
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
    ];
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Full(room_node::metrics_names::COMMAND_SECONDS.to_owned()),
            &seconds,
        )?
        .install_recorder()?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}
