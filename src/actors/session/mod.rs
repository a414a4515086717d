//! `SessionActor`: one WebSocket connection.
//!
//! It authenticates the hello, joins the document actor, decodes frames, enforces size and rate
//! limits, runs the heartbeat, and owns the bounded outgoing queue its writer drains into the
//! socket. The session is an actix actor over the connection itself (`reader`, `writer`: the
//! upgrade hands it the TCP stream) rather than an `actix-web-actors` `WebsocketContext`: the
//! latter buffers outgoing frames without bound and cannot tell how far behind a client is.
//! Outgoing frames go through the session's outbox (bounded in messages and bytes, see
//! `outbox`), which the [`SocketWriter`] drains into the connection only as fast as the client
//! reads, so a client that stops reading fills its outbox and is disconnected with `too_slow`
//! instead of growing the server's memory.
//!
//! Every close goes through the outbox's close slot, which is never full, so the client always
//! gets a close frame with its code (when it reads again within `close_grace`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use actix::prelude::*;
use tokio::sync::mpsc::error::TrySendError;

mod reader;
mod rules;
mod stream;
mod writer;

pub use reader::{FrameError, Incoming, SocketReader};
use rules::{close_reason_for, peer_for, reverify_verdict};
pub use stream::SharedStream;
pub use writer::SocketWriter;

use crate::actors::document::{DocumentActor, Join, Kick, Leave, SetPresence, Submit};
use crate::actors::outbox::{outbox, Outbox, OutboxLimits, Outgoing};
use crate::actors::registry::{send_to_document, DocumentRegistry, Lookup};
use crate::actors::state::reject_all;
use crate::auth::rights::Permission;
use crate::auth::tokens::DocumentRef;
use crate::auth::{self, Authenticator};

use crate::wire::client::ClientMessage;
use crate::wire::common::{CloseCode, CloseReason, RejectCode, PROTOCOL_VERSION};

/// Limits and timings of WebSocket sessions.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Largest accepted frame (after reassembling continuations).
    pub max_frame_bytes: usize,
    /// Most changes in one `changes` message.
    pub max_batch: usize,
    /// Largest presence state.
    pub max_presence_bytes: usize,
    /// Sustained frames per second a client may send, and the burst above it.
    pub frames_per_second: f64,
    pub frame_burst: f64,
    /// Messages queued for a client before it counts as too slow and is disconnected.
    pub outbox_capacity: usize,
    /// Bytes queued for a client before it counts as too slow (one larger message, such as a
    /// big welcome, is still admitted into an empty queue).
    pub outbox_bytes: usize,
    /// How long a closing session's writer may take to deliver what precedes the close frame
    /// and the close frame itself, before the socket is dropped.
    pub close_grace: Duration,
    pub hello_timeout: Duration,
    pub heartbeat_interval: Duration,
    /// A client silent for this long (no frame, no pong) is disconnected.
    pub client_timeout: Duration,
    /// How often a live session's token is verified again (revocation from other nodes,
    /// attenuation expiries).
    pub reverify_interval: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            max_frame_bytes: 1024 * 1024,
            max_batch: 100,
            max_presence_bytes: 4096,
            frames_per_second: 200.0,
            frame_burst: 1000.0,
            outbox_capacity: 1024,
            outbox_bytes: 4 * 1024 * 1024,
            close_grace: Duration::from_secs(10),
            hello_timeout: Duration::from_secs(5),
            heartbeat_interval: Duration::from_secs(15),
            client_timeout: Duration::from_secs(45),
            reverify_interval: Duration::from_secs(30),
        }
    }
}

static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);

enum Phase {
    AwaitingHello,
    Joining,
    Joined {
        document: Addr<DocumentActor>,
        expires_at: SystemTime,
        token: Arc<str>,
    },
    Closing,
}

/// A token bucket: `rate` frames per second, bursts up to `burst`.
struct RateLimit {
    tokens: f64,
    rate: f64,
    burst: f64,
    at: Instant,
}

impl RateLimit {
    fn allow(&mut self) -> bool {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate).min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// One WebSocket session. See the module documentation.
pub struct SessionActor {
    id: u64,
    auth: Authenticator,
    registry: Addr<DocumentRegistry>,
    config: Arc<SessionConfig>,
    outbox: Outbox,
    stream: Option<SocketReader<SharedStream>>,
    phase: Phase,
    last_seen: Instant,
    limit: RateLimit,
    /// The document named in the upgrade's `?document_id=`, if any: a token for another
    /// document is refused at hello.
    expected_document: Option<String>,
}

/// Starts a session on a connection whose upgrade was just answered (`early`: bytes the client
/// sent with the handshake) and returns its writer, the future the connection runs until the
/// socket is done.
pub fn serve(
    io: tokio::net::TcpStream,
    early: bytes::BytesMut,
    auth: Authenticator,
    registry: Addr<DocumentRegistry>,
    config: Arc<SessionConfig>,
    expected_document: Option<String>,
) -> SocketWriter<SharedStream> {
    let (outbox, rx) = outbox(OutboxLimits {
        messages: config.outbox_capacity,
        bytes: config.outbox_bytes,
    });
    let io = Arc::new(io);
    let reader = SocketReader::new(SharedStream(io.clone()), early, config.max_frame_bytes);
    let write = SharedStream(io);
    let grace = config.close_grace;
    SessionActor::new(auth, registry, config, outbox, reader)
        .expect_document(expected_document)
        .start();
    SocketWriter::new(rx, write, grace)
}

impl SessionActor {
    /// A session on an upgraded connection: it reads `stream`, and its writer (see [`serve`])
    /// drains `outbox`.
    pub fn new(
        auth: Authenticator,
        registry: Addr<DocumentRegistry>,
        config: Arc<SessionConfig>,
        outbox: Outbox,
        stream: SocketReader<SharedStream>,
    ) -> SessionActor {
        SessionActor {
            id: NEXT_SESSION.fetch_add(1, Ordering::Relaxed),
            auth,
            registry,
            limit: RateLimit {
                tokens: config.frame_burst,
                rate: config.frames_per_second,
                burst: config.frame_burst,
                at: Instant::now(),
            },
            config,
            outbox,
            stream: Some(stream),
            phase: Phase::AwaitingHello,
            last_seen: Instant::now(),
            expected_document: None,
        }
    }

    /// Refuses, at hello, a token for another document than `document_id` (when given).
    pub fn expect_document(mut self, document_id: Option<String>) -> SessionActor {
        self.expected_document = document_id;
        self
    }

    fn push(&mut self, msg: Outgoing, ctx: &mut Context<Self>) {
        match self.outbox.try_send(msg) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => self.close(
                CloseReason::new(
                    CloseCode::TooSlow,
                    "the client did not read its messages fast enough",
                ),
                ctx,
            ),
            // The writer is gone: the socket is closed already.
            Err(TrySendError::Closed(_)) => {
                self.leave();
                self.phase = Phase::Closing;
                ctx.stop();
            }
        }
    }

    fn error(&mut self, code: &str, message: &str, ctx: &mut Context<Self>) {
        self.push(
            Outgoing::Text(crate::wire::server::error(code, message)),
            ctx,
        );
    }

    /// Closes the socket with `reason`: after what is already queued, or at once for
    /// `too_slow` (see `outbox`). The close frame is always sent.
    fn close(&mut self, reason: CloseReason, ctx: &mut Context<Self>) {
        if matches!(self.phase, Phase::Closing) {
            return;
        }
        tracing::info!(session_id = self.id, reason = reason.code.name(), message = %reason.message, "closing session");
        self.leave();
        self.phase = Phase::Closing;
        self.outbox.close(reason);
        ctx.stop();
    }

    fn leave(&mut self) {
        if let Phase::Joined { document, .. } = &self.phase {
            document.do_send(Leave {
                session_id: self.id,
            });
        }
    }

    fn protocol_error(&mut self, message: &str, ctx: &mut Context<Self>) {
        self.error("protocol_error", message, ctx);
        self.close(CloseReason::new(CloseCode::ProtocolError, message), ctx);
    }

    fn on_text(&mut self, text: &str, ctx: &mut Context<Self>) {
        let msg = match ClientMessage::parse(text) {
            Ok(m) => m,
            Err(e) => return self.protocol_error(&format!("invalid message: {e}"), ctx),
        };
        match (msg, &self.phase) {
            (
                ClientMessage::Hello {
                    token,
                    since,
                    protocol,
                },
                Phase::AwaitingHello,
            ) => {
                if protocol.is_some_and(|p| p != PROTOCOL_VERSION) {
                    return self.protocol_error(
                        &format!("this server speaks protocol {PROTOCOL_VERSION}"),
                        ctx,
                    );
                }
                self.hello(token, since, ctx);
            }
            (_, Phase::AwaitingHello) => {
                self.protocol_error("the first message must be hello", ctx)
            }
            (ClientMessage::Hello { .. }, _) => self.protocol_error("hello was already sent", ctx),
            (ClientMessage::Ping, _) => {
                self.push(Outgoing::Text(Arc::from(r#"{"type":"pong"}"#)), ctx);
            }
            (
                ClientMessage::Changes { changes },
                Phase::Joined {
                    document,
                    expires_at,
                    ..
                },
            ) => {
                if SystemTime::now() >= *expires_at {
                    return self.close(
                        CloseReason::new(CloseCode::TokenExpired, "the session token has expired"),
                        ctx,
                    );
                }
                if changes.len() > self.config.max_batch {
                    let limit = self.config.max_batch;
                    let outcomes = reject_all(
                        &changes,
                        RejectCode::TooLarge,
                        &format!("a changes message holds at most {limit} changes"),
                    );
                    crate::metrics::get().count_outcomes(&outcomes);
                    for o in &outcomes {
                        self.push(Outgoing::Text(crate::wire::server::text(o)), ctx);
                    }
                    return;
                }
                document.do_send(Submit {
                    session_id: self.id,
                    changes,
                });
            }
            (ClientMessage::Presence { state }, Phase::Joined { document, .. }) => {
                let raw = state;
                if raw.get().len() > self.config.max_presence_bytes {
                    let limit = self.config.max_presence_bytes;
                    return self.error(
                        "presence_too_large",
                        &format!("presence state is limited to {limit} bytes"),
                        ctx,
                    );
                }
                document.do_send(SetPresence {
                    session_id: self.id,
                    state: raw,
                });
            }
            (_, Phase::Joining | Phase::Closing) => {}
        }
    }

    /// Authenticates the token, then joins the document. Frames that arrive meanwhile wait.
    fn hello(&mut self, token: String, since: Option<i64>, ctx: &mut Context<Self>) {
        self.phase = Phase::Joining;
        let auth = self.auth.clone();
        let registry = self.registry.clone();
        let id = self.id;
        let outbox = self.outbox.clone();
        let control = ctx.address().recipient::<Kick>();
        let token: Arc<str> = Arc::from(token);
        let token_for_phase = token.clone();
        let expected_document = self.expected_document.clone();
        ctx.wait(
            async move {
                let verified = auth.session(&token).await.map_err(close_reason_for)?;
                if expected_document
                    .as_deref()
                    .is_some_and(|d| d != verified.grant.document.id())
                {
                    return Err(close_reason_for(auth::Error::WrongDocument));
                }
                if !verified.has(Permission::ReadDocument) {
                    return Err(CloseReason::new(
                        CloseCode::Unauthorized,
                        "right_missing: `read-document` is required",
                    ));
                }
                let DocumentRef::Managed(document_id) = verified.grant.document.clone() else {
                    return Err(CloseReason::new(
                        CloseCode::Unauthorized,
                        "app-provided documents have no live session on Quire",
                    ));
                };
                // The document starts loading now, while the open is metered: on a cold open
                // the load is the longest step. The join (and so the welcome) still waits for
                // the metering below.
                registry.do_send(Lookup {
                    document_id: document_id.clone(),
                });
                // Metered before the welcome goes out, so usage never lags what clients saw.
                // With it, the `session.opened` webhook event, in the same group transaction.
                let opened = crate::webhooks::session_opened(crate::webhooks::SessionOpened {
                    document_id: document_id.clone(),
                    session_id: crate::wire::server::session_label(id),
                    user_id: verified.grant.user_id.clone(),
                    user_name: verified.grant.user_name.clone(),
                    layer: verified.grant.layer.clone(),
                });
                if let Err(e) = auth.record_open(&verified, Some(opened)).await {
                    tracing::warn!(error = %e, "could not meter a session open");
                }
                let peer = peer_for(id, &verified, outbox, control);
                let (document, ()) = send_to_document(&registry, &document_id, || Join {
                    peer: peer.clone(),
                    since,
                })
                .await
                .map_err(|_| {
                    CloseReason::new(CloseCode::Reconnect, "the document is reopening; reconnect")
                })?;
                Ok((document, verified.expires_at))
            }
            .into_actor(self)
            .map(move |res, act, ctx| match res {
                Ok((document, expires_at)) => {
                    if matches!(act.phase, Phase::Joining) {
                        tracing::info!(session_id = act.id, "session joined");
                        act.phase = Phase::Joined {
                            document,
                            expires_at,
                            token: token_for_phase,
                        };
                        act.expire_at(expires_at, ctx);
                    } else {
                        document.do_send(Leave { session_id: act.id });
                    }
                }
                Err(reason) => act.close(reason, ctx),
            }),
        );
    }

    /// Closes the session with `token_expired` at the instant its token expires: a read-only
    /// session sends nothing that would notice, and must not keep receiving changes.
    fn expire_at(&mut self, expires_at: SystemTime, ctx: &mut Context<Self>) {
        // Timers far in the future are set in steps of at most a day and re-armed: the
        // timer wheel does not need to hold a token's whole lifetime.
        const STEP: Duration = Duration::from_secs(24 * 3600);
        let wait = expires_at
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        ctx.run_later(wait.min(STEP), move |act, ctx| {
            if !matches!(act.phase, Phase::Joined { .. }) {
                return;
            }
            if SystemTime::now() < expires_at {
                return act.expire_at(expires_at, ctx);
            }
            act.close(
                CloseReason::new(CloseCode::TokenExpired, "the session token has expired"),
                ctx,
            );
        });
    }

    /// Verifies the token again: revocations made on other nodes and expiries added by
    /// attenuation end the session; a database that cannot answer does not (see
    /// [`reverify_verdict`]).
    fn reverify(&mut self, ctx: &mut Context<Self>) {
        let Phase::Joined { token, .. } = &self.phase else {
            return;
        };
        let (auth, token) = (self.auth.clone(), token.clone());
        ctx.spawn(
            async move { auth.session(&token).await.map(|_| ()) }
                .into_actor(self)
                .map(|result, act, ctx| {
                    if let Some(reason) = reverify_verdict(act.id, result) {
                        act.close(reason, ctx);
                    }
                }),
        );
    }
}

/// What a periodic re-verification decides: `None` keeps the session. A database or internal
/// error is "try again at the next interval", never a reason to disconnect a live session: an
/// outage must not close every session on the node.
impl Actor for SessionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        crate::metrics::get().live_sessions.inc();
        if let Some(stream) = self.stream.take() {
            ctx.add_stream(stream);
        }
        ctx.run_later(self.config.hello_timeout, |act, ctx| {
            if matches!(act.phase, Phase::AwaitingHello) {
                let seconds = act.config.hello_timeout.as_secs_f64();
                act.close(
                    CloseReason::new(
                        CloseCode::HelloTimeout,
                        format!("no hello within {seconds} seconds"),
                    ),
                    ctx,
                );
            }
        });
        ctx.run_interval(self.config.heartbeat_interval, |act, ctx| {
            if act.last_seen.elapsed() > act.config.client_timeout {
                act.close(
                    CloseReason::new(
                        CloseCode::HeartbeatTimeout,
                        "no frame or pong from the client",
                    ),
                    ctx,
                );
            } else {
                act.push(Outgoing::Ping, ctx);
            }
        });
        ctx.run_interval(self.config.reverify_interval, |act, ctx| act.reverify(ctx));
    }

    fn stopping(&mut self, _: &mut Context<Self>) -> Running {
        self.leave();
        self.phase = Phase::Closing;
        Running::Stop
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        crate::metrics::get().live_sessions.dec();
    }
}

impl StreamHandler<Result<Incoming, FrameError>> for SessionActor {
    fn handle(&mut self, item: Result<Incoming, FrameError>, ctx: &mut Context<Self>) {
        if matches!(self.phase, Phase::Closing) {
            return;
        }
        self.last_seen = Instant::now();
        let msg = match item {
            Ok(m) => m,
            Err(e) => {
                let message = format!("bad frame: {e}");
                return self.protocol_error(&message, ctx);
            }
        };
        if !matches!(msg, Incoming::Pong) && !self.limit.allow() {
            let rate = self.config.frames_per_second;
            return self.close(
                CloseReason::new(
                    CloseCode::RateLimited,
                    format!("more than {rate} frames per second"),
                ),
                ctx,
            );
        }
        match msg {
            Incoming::Text(text) => self.on_text(&text, ctx),
            Incoming::Binary => {
                self.protocol_error("binary frames are not part of the protocol", ctx)
            }
            Incoming::Ping(bytes) => self.push(Outgoing::Pong(bytes), ctx),
            Incoming::Pong => {}
            Incoming::Close => self.close(
                CloseReason::new(CloseCode::Normal, "closed by the client"),
                ctx,
            ),
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        self.leave();
        self.phase = Phase::Closing;
        ctx.stop();
    }
}

impl Handler<Kick> for SessionActor {
    type Result = ();
    fn handle(&mut self, msg: Kick, ctx: &mut Context<Self>) {
        // The document has already dropped this session: no Leave is owed.
        if matches!(self.phase, Phase::Joined { .. }) {
            self.phase = Phase::Joining;
        }
        self.close(msg.0, ctx);
    }
}
