//! The accept loop: at most `server.maxConnections` connections at once (more wait in the
//! listen backlog), a deadline on each request's head (which also closes idle keep-alive
//! connections), and a graceful stop.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

use super::guard::ConnectedTo;

/// What one client may hold of the server.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub header_timeout: Duration,
}

/// Serves `app` on `listener` until `shutdown` completes, then lets open requests finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    // Dropping `stop` tells connections to finish; each holds a `done` receiver until it has.
    let (stop, stopping) = watch::channel(());
    let (done, done_watch) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    let bound = listener.local_addr().ok();
    loop {
        // Taking the slot before accepting leaves connections beyond the cap queued by the
        // kernel, not refused: they are served as soon as another closes.
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: pause instead of spinning.
                    if !is_per_connection(&e) {
                        eprintln!("warning: accepting a connection failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        tokio::spawn(serve_connection(
            stream,
            bound,
            app.clone(),
            limits,
            slot,
            stopping.clone(),
            done_watch.clone(),
        ));
    }
    drop(listener);
    drop(stop);
    drop(done_watch);
    done.closed().await;
}

fn is_per_connection(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        error.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

async fn serve_connection(
    stream: TcpStream,
    bound: Option<SocketAddr>,
    app: Router,
    limits: ConnectionLimits,
    _slot: OwnedSemaphorePermit,
    mut stopping: watch::Receiver<()>,
    _done: watch::Receiver<()>,
) {
    // Small responses leave at once instead of waiting for Nagle's algorithm.
    let _ = stream.set_nodelay(true);
    let connected = stream
        .local_addr()
        .ok()
        .zip(bound)
        .map(|(local, bound)| ConnectedTo { local, bound });
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        if let Some(connected) = connected {
            request.extensions_mut().insert(connected);
        }
        app.clone().oneshot(request)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let mut connection = pin!(builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades());
    let mut asked_to_stop = false;
    loop {
        tokio::select! {
            // Errors here are the client's (a reset, a head that never came): nothing to do.
            _ = connection.as_mut() => break,
            changed = stopping.changed(), if !asked_to_stop => {
                // The sender is dropped to stop; either way, finish the current request and close.
                let _ = changed;
                asked_to_stop = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}
