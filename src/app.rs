//! Wiring the server: store, engine, front door, routes; start and stop.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use adapter_ws::{
    CancellationToken, Draining, FdBudget, FrontDoor, JwtVerifier, RateConfig, ServeConfig, WsConfig,
};
use backon::{ConstantBuilder, Retryable};
use metrics_exporter_prometheus::PrometheusHandle;
use room_core::RoomLimits;
use room_node::{DiskMapStore, Engine, EngineConfig, SeatKey};
use room_ports::{MapStore, UserSeed};
use tokio::task::JoinHandle;

use crate::fixtures::{FixturesError, demo_users, load_fixtures};
use crate::pending_store::PendingStore;
use crate::settings::ServerArgs;

/// Seeding users waits for MySQL to take writes: once a second, for as long as it takes.
const SEED_RETRY: ConstantBuilder = ConstantBuilder::new()
    .with_delay(Duration::from_secs(1))
    .without_max_times();

/// The secret used when none is configured: fine on a laptop, never in production.
pub const DEV_JWT_SECRET: &str = "myroom-development-secret";

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The fixtures file is bad.
    #[error(transparent)]
    Fixtures(#[from] FixturesError),
    /// The data directory cannot be used.
    #[error("cannot use data directory {path}: {source}")]
    Data {
        /// The directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The listen address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The store refused the users.
    #[error("cannot create users: {0}")]
    Seed(#[from] room_ports::StoreError),
    /// The cluster settings are incomplete or invalid.
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
    /// The settings would let strangers sign in as anyone.
    #[error(transparent)]
    Settings(#[from] crate::settings::SettingsError),
    /// The token verifier could not be built.
    #[error("bad JWT secret: {0}")]
    Secret(#[from] adapter_ws::AuthError),
}

/// A server that is running.
pub struct RunningServer {
    addr: SocketAddr,
    engine: Engine,
    stop: CancellationToken,
    drain: Duration,
    draining: Draining,
    drain_delay: Duration,
    task: JoinHandle<()>,
}

impl RunningServer {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The engine, for inspection.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Say "draining" on `/readyz` while still serving for the drain delay
    /// (`--drain-delay-ms`), then stop accepting, close every socket with
    /// 1001, let rooms finish storing, and wait for the connections to close:
    /// all within the drain time (`--drain-ms`), whatever the peers do; what
    /// is still open then is dropped.
    pub async fn shutdown(mut self) {
        self.draining.begin();
        if !self.drain_delay.is_zero() {
            tracing::info!(delay = ?self.drain_delay, "draining: /readyz says so; still serving until the delay is over");
            tokio::time::sleep(self.drain_delay).await;
        }
        let deadline = tokio::time::Instant::now() + self.drain;
        self.stop.cancel();
        if tokio::time::timeout_at(deadline, self.engine.shutdown(self.drain))
            .await
            .is_err()
        {
            tracing::warn!("drain time is over before every room was stored and every socket closed");
        }
        // The serve loop ends by itself at its own drain deadline; the margin
        // only covers scheduling, and aborting is the answer if it passes.
        if tokio::time::timeout_at(deadline + Duration::from_millis(500), &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
    }

    /// Run until the listener fails (or forever).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// The process-wide metrics recorder (installed on first use).
pub fn metrics_handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| match adapter_ws::install_metrics() {
            Ok(handle) => Some(handle),
            Err(e) => {
                tracing::warn!(error = %e, "metrics recorder not installed; /metrics is off");
                None
            }
        })
        .clone()
}

/// Start a server with `args`.
pub async fn start(args: ServerArgs) -> Result<RunningServer, StartError> {
    let security = crate::settings::security(&args)?;
    let users: Vec<UserSeed> = match &args.fixtures {
        Some(path) => load_fixtures(path)?,
        None => demo_users(),
    };
    let store = open_store(&args, &users).await?;

    let secret = match security.secret {
        Some(secret) => secret,
        None => {
            tracing::warn!("no --jwt-secret given: using the development secret; do not expose this server");
            DEV_JWT_SECRET.to_owned()
        }
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|source| StartError::Listen {
            addr: args.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Listen {
        addr: args.listen,
        source,
    })?;
    let advertise = args
        .advertise
        .clone()
        .unwrap_or_else(|| format!("ws://{addr}{}", args.ws_path));

    // Seat tokens (PROTOCOL.md §9) are signed under a key derived from the
    // access tokens' secret: every node of a cluster has it, nothing else.
    let mut builder = Engine::builder(store)
        .config(engine_config(&args))
        .seat_key(SeatKey::derive(secret.as_bytes()));
    let mut readiness = Vec::new();
    if let Some(node) = crate::cluster::cluster_ports(&args, advertise)? {
        builder = builder.cluster(node.ports);
        readiness = node.readiness;
    } else {
        // A standalone node keeps its rooms' seats across a restart in its data
        // directory, whatever stores the maps (PROTOCOL.md §9).
        builder = builder.room_states(args.data.join("room-states"));
    }
    let engine = builder.build();
    let mut verifier = JwtVerifier::new(secret.as_bytes())?;
    if let Some(audience) = &args.jwt_audience {
        verifier = verifier.with_audience(audience);
    }
    let verifier = Arc::new(verifier);
    let draining = Draining::new();
    let mut door =
        FrontDoor::new(engine.clone(), verifier.clone(), ws_config(&args)).with_draining(draining.clone());
    if let Some(handle) = metrics_handle() {
        door = door.with_metrics(handle);
    }
    for check in readiness {
        door = door.with_readiness(check);
    }
    if let Some(token) = &args.admin_token {
        door = door.with_admin_token(token.clone());
    }
    let dev_login = security.dev_login;
    if dev_login {
        tracing::warn!(
            "development login is on: anyone who can reach this server can sign in as any user \
             (POST /dev/token); turn it off with --dev-login=false"
        );
    }
    let web = crate::web::router(crate::web::WebOptions {
        store: engine.store().clone(),
        auth: verifier,
        secret: secret.clone().into_bytes(),
        audience: args.jwt_audience.clone(),
        dev_login,
        ws_path: args.ws_path.clone(),
    });
    let router = door.router(&args.ws_path).merge(web);

    let stop = CancellationToken::new();
    let serve_config = serve_config(&args);
    let task = tokio::spawn(adapter_ws::serve(listener, router, serve_config, stop.clone()));
    tracing::info!(%addr, users = users.len(), "listening; WebSocket at ws://{addr}{}", args.ws_path);
    Ok(RunningServer {
        addr,
        engine,
        stop,
        drain: Duration::from_millis(args.drain_ms),
        draining,
        drain_delay: args.drain_delay(),
        task,
    })
}

/// The embedded disk store, seeded now; or MySQL, connected (and seeded) in
/// the background so the server listens, and says it is not ready, meanwhile.
async fn open_store(args: &ServerArgs, users: &[UserSeed]) -> Result<Arc<dyn MapStore>, StartError> {
    let Some(url) = &args.mysql else {
        let store = DiskMapStore::open(&args.data).map_err(|source| StartError::Data {
            path: args.data.display().to_string(),
            source,
        })?;
        store.seed_users(users).await?;
        return Ok(Arc::new(store));
    };
    let pending = Arc::new(PendingStore::new(
        "MySQL",
        Duration::from_millis(args.store_wait_ms),
    ));
    let config = adapter_mysql::MysqlConfig::new(url.clone());
    let (users, ready) = (users.to_vec(), pending.clone());
    tokio::spawn(async move {
        // The first attempt alone: if it fails the store is down, and calls stop waiting for it.
        let store = match adapter_mysql::MysqlStore::connect(config.clone()).await {
            Ok(store) => store,
            Err(e) => {
                ready.set_down();
                if !e.is_retryable() {
                    tracing::error!(error = %e, "MySQL cannot be used; maps cannot be loaded or stored");
                    return;
                }
                tracing::warn!(error = %e, "MySQL not available yet; retrying");
                match adapter_mysql::MysqlStore::connect_with_retry(config, Default::default()).await {
                    Ok(store) => store,
                    Err(e) => {
                        tracing::error!(error = %e, "MySQL cannot be used; maps cannot be loaded or stored");
                        return;
                    }
                }
            }
        };
        tracing::info!(target = store.target(), "connected to MySQL");
        let seeded = (|| store.seed_users(&users))
            .retry(SEED_RETRY)
            .notify(|e, _| {
                ready.set_down();
                tracing::warn!(error = %e, "cannot seed users into MySQL yet; retrying");
            })
            .await;
        if let Err(e) = seeded {
            tracing::error!(error = %e, "cannot seed users into MySQL; maps cannot be loaded or stored");
            return;
        }
        ready.set(Arc::new(store));
    });
    Ok(pending)
}

fn engine_config(args: &ServerArgs) -> EngineConfig {
    EngineConfig {
        limits: RoomLimits {
            capacity: args.room_capacity,
            max_side: args.max_side,
        },
        outbox_capacity: args.outbox_capacity,
        outbox_bytes: outbox_bytes(args),
        builds_in_flight: usize::from(args.builds_in_flight),
        tick: Duration::from_millis(args.tick_ms.max(1)),
        forward_timeout: Duration::from_millis(args.forward_timeout_ms.max(1)),
        resume_grace: Duration::from_millis(args.resume_grace_ms),
        resume_log: args.resume_log,
    }
}

/// The per-socket byte budget: at least four of the largest SYNC (about one
/// largest BUILD frame), so that one being written does not make every next
/// message close the socket.
fn outbox_bytes(args: &ServerArgs) -> usize {
    let least = args.max_frame_bytes.saturating_mul(4);
    if args.outbox_bytes < least {
        tracing::warn!(
            asked = args.outbox_bytes,
            used = least,
            "--outbox-bytes is below 4x --max-frame-bytes; using that"
        );
    }
    args.outbox_bytes.max(least)
}

fn ws_config(args: &ServerArgs) -> WsConfig {
    WsConfig {
        max_frame_bytes: args.max_frame_bytes,
        legacy_max_frame_bytes: args.legacy_max_frame_bytes,
        legacy_auth: args.legacy_auth,
        legacy_enter_deadline: Duration::from_millis(args.legacy_enter_deadline_ms),
        rate: RateConfig {
            per_second: args.rate,
            burst: args.rate_burst,
            ..RateConfig::default()
        },
        ping_interval: Duration::from_millis(args.ping_interval_ms.max(10)),
        dead_peer_timeout: Duration::from_millis(args.dead_peer_ms.max(10)),
        write_timeout: Duration::from_millis(args.write_timeout_ms.max(10)),
        ..WsConfig::default()
    }
}

/// The accept loop's limits; the total cap is the smaller of
/// `--max-connections` and what the descriptor budget leaves after the reserve.
fn serve_config(args: &ServerArgs) -> ServeConfig {
    let mut max_connections = args.max_connections.max(1);
    match FdBudget::raise() {
        Some(budget) => {
            let fd_cap = budget.connection_cap(args.fd_reserve);
            tracing::info!(
                soft_before = budget.soft_before,
                soft = budget.soft,
                hard = budget.hard,
                open = budget.open_at_start,
                reserve = args.fd_reserve,
                fd_cap,
                "open-file limit (RLIMIT_NOFILE): soft {} -> {}, hard {}",
                budget.soft_before,
                budget.soft,
                budget.hard
            );
            if fd_cap < max_connections {
                tracing::info!(
                    max_connections = fd_cap,
                    "connections capped by the open-file limit, not by --max-connections"
                );
                max_connections = fd_cap;
            }
        }
        None => tracing::info!("open-file limit unknown here: only --max-connections caps connections"),
    }
    ServeConfig {
        header_timeout: Duration::from_millis(args.header_timeout_ms.max(1)),
        max_connections,
        max_connections_per_ip: args.max_connections_per_ip,
        drain: Duration::from_millis(args.drain_ms),
        trusted_proxies: args.trusted_proxies.clone(),
        forwarded_header: args.forwarded_header,
    }
}
