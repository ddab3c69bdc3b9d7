//! The reference server of `scripts/bench-mock.sh`: a minimal axum handler that
//! answers every request with a fixed JSON body of a given size, served the same
//! way as the mock (axum::serve, TCP_NODELAY, tokio multi-thread runtime).
//!
//! Usage: `cargo run --release --example bench_reference -- <port> <body_bytes>`

use axum::Router;
use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::serve::ListenerExt;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let size: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1_000);
    // {"pad":"xxx..."} padded to exactly `size` bytes.
    let body = Bytes::from(format!("{{\"pad\":\"{}\"}}", "x".repeat(size.saturating_sub(10))));
    let app = Router::new().fallback(move || {
        let body = body.clone();
        async move { ([(CONTENT_TYPE, "application/json")], body) }
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("reference listening on http://{}", listener.local_addr()?);
    let listener = listener.tap_io(|s| {
        let _ = s.set_nodelay(true);
    });
    axum::serve(listener, app).await
}
