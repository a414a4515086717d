//! The HTTP server: actix-web's app for every request, except WebSocket upgrades, which
//! actix-http hands over with their connection to [`ws::upgrade_service`](super::ws).
//!
//! actix-web's `HttpServer` has no place for an upgrade service, so the server is put together
//! here from the same parts and with the same settings `HttpServer` uses (actix-server
//! listeners with a backlog of 1,024, a 5 s keep-alive and request-head timeout, a 1 s
//! disconnect timeout, half-closed connections allowed, idle keep-alive connections closed when
//! a graceful stop begins), plus `TCP_NODELAY` on every connection:
//! live messages are small and latency-bound, and Nagle's algorithm must not hold them back.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use actix_http::body::MessageBody;
use actix_http::{HttpService, KeepAlive, Request, Response};
use actix_server::Server;
use actix_service::{map_config, IntoServiceFactory, Service, ServiceFactory, ServiceFactoryExt};
use actix_web::dev::AppConfig;
use actix_web::web;

use super::ws;
use crate::state::AppState;

/// Connections waiting to be accepted, per listener (as `HttpServer`).
const BACKLOG: i32 = 1024;

/// A server listening on every address `listen` resolves to that can be bound (at least one),
/// with `app` built once per worker; the addresses bound.
pub fn bind<F, I, S, B>(
    listen: &str,
    shutdown_timeout_secs: u64,
    state: web::Data<AppState>,
    app: F,
) -> io::Result<(Server, Vec<SocketAddr>)>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as Service<Request>>::Future: 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    let mut builder = Server::build()
        .shutdown_timeout(shutdown_timeout_secs)
        .disable_signals();
    // Tells idle keep-alive connections to close when a graceful stop begins, instead of
    // holding the stop until their keep-alive runs out (upgraded connections are not
    // concerned: the registry closes their sessions).
    let stopping = builder.graceful_shutdown_signal();
    let (mut bound, mut failed) = (Vec::new(), None);
    for addr in listen.to_socket_addrs()? {
        let listener = match listener(addr) {
            Ok(listener) => listener,
            Err(e) => {
                failed = Some(e);
                continue;
            }
        };
        let addr = listener.local_addr()?;
        let (app, state, stopping) = (app.clone(), state.clone(), stopping.clone());
        builder = builder.listen(format!("quire-http-{addr}"), listener, move || {
            let host = addr.to_string();
            let app = app().into_factory().map_err(|e| e.into().error_response());
            let stopping = stopping.clone();
            HttpService::build()
                .graceful_shutdown_signal(move || {
                    let stopping = stopping.clone();
                    async move { stopping.notified().await }
                })
                .keep_alive(KeepAlive::default())
                .client_request_timeout(Duration::from_secs(5))
                .client_disconnect_timeout(Duration::from_secs(1))
                .h1_allow_half_closed(true)
                .tcp_nodelay(true)
                .local_addr(addr)
                .upgrade(ws::upgrade_service(state.clone()))
                // The app's own configuration, as `HttpServer` builds it (plain HTTP, this
                // listener's address as the default host).
                .finish(map_config(app, move |_| {
                    AppConfig::__priv_test_new(false, host.clone(), addr)
                }))
                .tcp()
        })?;
        bound.push(addr);
    }
    if bound.is_empty() {
        return Err(failed.unwrap_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "the address resolves to nothing",
            )
        }));
    }
    Ok((builder.run(), bound))
}

/// A listening socket as `HttpServer` makes one: address reuse, and a backlog of [`BACKLOG`].
fn listener(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}
