//! The myroom server: `cargo run --release --example server`, then open the
//! URL it logs. Every flag has a `MYROOM_...` environment fallback (`--help`).

use clap::Parser;
use myroom::app;
use myroom::logging;
use myroom::settings::ServerArgs;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = ServerArgs::parse();
    logging::init(args.log_format);
    let server = match app::start(args).await {
        Ok(server) => server,
        Err(e) => {
            tracing::error!("{e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    tracing::info!("open http://{}/ in a browser", server.addr());
    shutdown_signal().await;
    tracing::info!("shutting down: closing sockets");
    server.shutdown().await;
    std::process::ExitCode::SUCCESS
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => return interrupt.await.unwrap_or(()),
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
