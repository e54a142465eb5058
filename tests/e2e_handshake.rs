//! PROTOCOL.md §1: the token is checked before the upgrade; legacy mode.

mod common;

use common::{Client, Event, SECRET, TestServer, token};
use room_core::{ErrorCode, ServerMsg, UserId};
use tokio_tungstenite::tungstenite::Error as WsError;

fn status_of(result: Result<Client, WsError>) -> u16 {
    match result {
        Err(WsError::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("expected an HTTP refusal, got {other:?}"),
        Ok(_) => panic!("expected an HTTP refusal, got a socket"),
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn b64(bytes: &[u8]) -> String {
    // URL-safe base64 without padding, enough for hand-made tokens.
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[tokio::test]
async fn token_in_authorization_header_is_accepted() {
    let server = TestServer::start().await;
    let mut client = Client::connect_with_header(
        &server.ws_url(""),
        "authorization",
        &format!("Bearer {}", token(1)),
    )
    .await
    .unwrap();
    client.enter(1).await;
}

#[tokio::test]
async fn token_in_query_is_accepted() {
    let server = TestServer::start().await;
    let mut client = server.connect(1).await;
    client.enter(1).await;
}

#[tokio::test]
async fn token_in_subprotocol_is_accepted_and_server_answers_myroom_v1() {
    let server = TestServer::start().await;
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(server.ws_url(""))
            .unwrap();
    let offered = format!("myroom.v1, bearer.{}", token(1));
    request
        .headers_mut()
        .insert("sec-websocket-protocol", offered.parse().unwrap());
    let (mut ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(
        response.headers().get("sec-websocket-protocol").unwrap(),
        "myroom.v1"
    );
    use futures_util::SinkExt;
    ws.send(r#"10{"room_id":1}"#.into()).await.unwrap();
}

#[tokio::test]
async fn missing_token_is_401() {
    let server = TestServer::start().await;
    assert_eq!(status_of(Client::connect(&server.ws_url("")).await), 401);
}

#[tokio::test]
async fn garbage_token_is_401() {
    let server = TestServer::start().await;
    assert_eq!(
        status_of(Client::connect(&server.ws_url("?token=not.a.jwt")).await),
        401
    );
}

#[tokio::test]
async fn token_with_wrong_signature_is_401() {
    let server = TestServer::start().await;
    let forged = adapter_ws::sign_token(b"another secret", UserId(1), "alice", None).unwrap();
    assert_eq!(
        status_of(Client::connect(&server.ws_url(&format!("?token={forged}"))).await),
        401
    );
}

#[tokio::test]
async fn alg_none_token_is_401() {
    let server = TestServer::start().await;
    let header = b64(br#"{"alg":"none","typ":"JWT"}"#);
    let claims = b64(br#"{"idx":1,"nickname":"alice"}"#);
    let unsigned = format!("{header}.{claims}.");
    assert_eq!(
        status_of(Client::connect(&server.ws_url(&format!("?token={unsigned}"))).await),
        401
    );
}

#[tokio::test]
async fn token_with_other_alg_is_401() {
    let server = TestServer::start().await;
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()).unwrap();
    let claims = serde_json::json!({"idx": 1, "nickname": "alice"});
    let hs512 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512),
        &claims,
        &key,
    )
    .unwrap();
    assert_eq!(
        status_of(Client::connect(&server.ws_url(&format!("?token={hs512}"))).await),
        401
    );
}

#[tokio::test]
async fn expired_token_is_401() {
    let server = TestServer::start().await;
    let expired = adapter_ws::sign_token(SECRET.as_bytes(), UserId(1), "alice", Some(now() - 120)).unwrap();
    assert_eq!(
        status_of(Client::connect(&server.ws_url(&format!("?token={expired}"))).await),
        401
    );
}

#[tokio::test]
async fn token_expired_within_the_60s_leeway_is_accepted() {
    let server = TestServer::start().await;
    let recent = adapter_ws::sign_token(SECRET.as_bytes(), UserId(1), "alice", Some(now() - 20)).unwrap();
    assert!(
        Client::connect(&server.ws_url(&format!("?token={recent}")))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn token_with_empty_nickname_is_401() {
    let server = TestServer::start().await;
    let bad = adapter_ws::sign_token(SECRET.as_bytes(), UserId(1), "", None).unwrap();
    assert_eq!(
        status_of(Client::connect(&server.ws_url(&format!("?token={bad}"))).await),
        401
    );
}

#[tokio::test]
async fn nickname_shown_to_others_is_the_tokens() {
    let server = TestServer::start().await;
    let mut owner = server.connect(1).await;
    owner.enter(1).await;
    let renamed = adapter_ws::sign_token(SECRET.as_bytes(), UserId(2), "robert", None).unwrap();
    let mut guest = Client::connect(&server.ws_url(&format!("?token={renamed}")))
        .await
        .unwrap();
    guest.enter(1).await;
    match owner.next_msg().await {
        ServerMsg::Enter { nickname, .. } => assert_eq!(nickname, "robert"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn enter_authorization_naming_another_user_is_76401() {
    let server = TestServer::start().await;
    let mut client = server.connect(1).await;
    client
        .send(&format!(r#"10{{"room_id":"1","authorization":"{}"}}"#, token(2)))
        .await;
    client.expect_error(ErrorCode::Unauthorized).await;
    client
        .send(&format!(r#"10{{"room_id":"1","authorization":"{}"}}"#, token(1)))
        .await;
    assert!(matches!(client.next_msg().await, ServerMsg::Sync { .. }));
}

async fn legacy_server() -> TestServer {
    TestServer::start_with(|args| {
        args.legacy_auth = true;
        args.legacy_enter_deadline_ms = 1500;
    })
    .await
}

#[tokio::test]
async fn legacy_mode_accepts_upgrade_without_token_and_enter_with_authorization() {
    let server = legacy_server().await;
    let mut client = Client::connect(&server.ws_url("")).await.unwrap();
    client
        .send(&format!(
            r#"10{{"room_id":"1","authorization":"Bearer {}"}}"#,
            token(1)
        ))
        .await;
    assert!(matches!(client.next_msg().await, ServerMsg::Sync { .. }));
}

#[tokio::test]
async fn legacy_mode_commands_before_a_valid_enter_are_76102() {
    let server = legacy_server().await;
    let mut client = Client::connect(&server.ws_url("")).await.unwrap();
    for frame in ["11", r#"20{"direction":1}"#, "19"] {
        client.send(frame).await;
        client.expect_error(ErrorCode::NotInRoom).await;
    }
}

#[tokio::test]
async fn legacy_mode_invalid_authorization_is_76401() {
    let server = legacy_server().await;
    let mut client = Client::connect(&server.ws_url("")).await.unwrap();
    client.send(r#"10{"room_id":"1","authorization":"forged"}"#).await;
    client.expect_error(ErrorCode::Unauthorized).await;
    client.send(r#"10{"room_id":"1"}"#).await;
    client.expect_error(ErrorCode::Unauthorized).await;
}

#[tokio::test]
async fn legacy_mode_closes_1008_without_a_valid_enter_before_the_deadline() {
    let server = legacy_server().await;
    let mut client = Client::connect(&server.ws_url("")).await.unwrap();
    client.expect_close(1008).await;
}

#[tokio::test]
async fn legacy_mode_caps_frames_at_4_kib_before_enter() {
    let server = legacy_server().await;
    let mut client = Client::connect(&server.ws_url("")).await.unwrap();
    client
        .send(&format!(r#"11{{"pad":"{}"}}"#, "x".repeat(5000)))
        .await;
    client.expect_error(ErrorCode::FrameTooLarge).await;
    client.expect_close(1009).await;
}

#[tokio::test]
async fn legacy_mode_still_checks_a_handshake_token() {
    let server = legacy_server().await;
    assert_eq!(
        status_of(Client::connect(&server.ws_url("?token=forged")).await),
        401
    );
    let mut client = server.connect(1).await;
    client.enter(1).await;
    // A socket that authenticated at the handshake is not subject to the deadline.
    tokio::time::sleep(std::time::Duration::from_millis(1800)).await;
    client.expect_alive_in_room().await;
    assert!(!matches!(
        client.next_event_within(common::QUIET).await,
        Some(Event::Close(_))
    ));
}

/// A token signed with the test secret carrying exactly `claims`.
fn signed(claims: serde_json::Value) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()).unwrap();
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap()
}

async fn accepted(server: &TestServer, token: &str) -> bool {
    match Client::connect(&server.ws_url(&format!("?token={token}"))).await {
        Ok(_) => true,
        Err(WsError::Http(response)) if response.status() == 401 => false,
        Err(other) => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn token_not_valid_before_a_time_past_the_leeway_is_401_and_within_it_accepted() {
    let server = TestServer::start().await;
    let early = signed(serde_json::json!({"idx": 1, "nickname": "alice", "nbf": now() + 120}));
    assert!(
        !accepted(&server, &early).await,
        "nbf two minutes ahead is refused"
    );
    let skewed = signed(serde_json::json!({"idx": 1, "nickname": "alice", "nbf": now() + 20}));
    assert!(
        accepted(&server, &skewed).await,
        "nbf within the 60 s leeway is accepted"
    );
    let past = signed(serde_json::json!({"idx": 1, "nickname": "alice", "nbf": now() - 20}));
    assert!(accepted(&server, &past).await);
}

#[tokio::test]
async fn with_an_audience_configured_only_tokens_for_it_are_accepted() {
    let server = TestServer::start_with(|args| args.jwt_audience = Some("myroom".into())).await;
    let ours = signed(serde_json::json!({"idx": 1, "nickname": "alice", "aud": "myroom"}));
    assert!(
        accepted(&server, &ours).await,
        "aud naming this server is accepted"
    );
    let among = signed(serde_json::json!({"idx": 1, "nickname": "alice", "aud": ["other", "myroom"]}));
    assert!(
        accepted(&server, &among).await,
        "aud listing this server is accepted"
    );
    let theirs = signed(serde_json::json!({"idx": 1, "nickname": "alice", "aud": "billing"}));
    assert!(
        !accepted(&server, &theirs).await,
        "aud naming another service is refused"
    );
    let none = signed(serde_json::json!({"idx": 1, "nickname": "alice"}));
    assert!(
        !accepted(&server, &none).await,
        "no aud is refused once an audience is configured"
    );
}

#[tokio::test]
async fn without_an_audience_configured_a_token_with_aud_is_401() {
    // RFC 7519 §4.1.3: a server that cannot name itself in `aud` must refuse it.
    let server = TestServer::start().await;
    let scoped = signed(serde_json::json!({"idx": 1, "nickname": "alice", "aud": "myroom"}));
    assert!(!accepted(&server, &scoped).await);
    let plain = signed(serde_json::json!({"idx": 1, "nickname": "alice"}));
    assert!(accepted(&server, &plain).await);
}
