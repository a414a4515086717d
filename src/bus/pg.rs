//! The bus over PostgreSQL: `NOTIFY` on one channel, and one `LISTEN` connection per node that
//! reconnects with backoff and, once it listens again, has every live document catch up (what
//! was notified while it was away is lost: the log is not).

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use sea_orm::sqlx::postgres::{PgListener, PgPool};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};

use super::{decode, encode, Bus, DecodeError, Hint, Listening, PublishError, Receiver};

/// The channel every node listens on.
pub const CHANNEL: &str = "quire";

/// Backoff between attempts to listen again, doubling from the first to the last.
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Notifies `hint` inside `txn`: PostgreSQL delivers it only if the transaction commits, and
/// after it did, so a node that hears it finds the change in the log.
pub async fn notify_in(txn: &impl ConnectionTrait, hint: &Hint) -> Result<(), DbErr> {
    txn.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        [CHANNEL.into(), encode(hint).into()],
    ))
    .await?;
    Ok(())
}

/// Publishes on its own (autocommit) statement.
pub struct PgBus {
    db: DatabaseConnection,
}

impl PgBus {
    pub fn new(db: DatabaseConnection) -> PgBus {
        PgBus { db }
    }
}

impl Bus for PgBus {
    fn publish(&self, hint: Hint) -> BoxFuture<'static, Result<(), PublishError>> {
        let db = self.db.clone();
        Box::pin(async move {
            notify_in(&db, &hint)
                .await
                .map_err(|e| PublishError(e.to_string()))
        })
    }
}

/// How full PostgreSQL's notification queue is, from 0 to 1 (`/readyz` reports it: a queue
/// that fills up means some listener stopped reading, and at 1 every `NOTIFY`, so every
/// commit, fails).
pub async fn queue_usage(db: &DatabaseConnection) -> Result<f64, DbErr> {
    let row = db
        .query_one(Statement::from_string(
            DbBackend::Postgres,
            "SELECT pg_notification_queue_usage()",
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("no row".into()))?;
    row.try_get_by_index(0)
}

/// The running listener; [`Listener::stop`] ends it while the runtime still runs (its
/// connection must be returned to the pool from inside the runtime).
pub struct Listener {
    stop: tokio::sync::watch::Sender<bool>,
    done: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Listener {
    /// Stops listening and waits until the connection is let go.
    pub async fn stop(&self) {
        let _ = self.stop.send(true);
        let done = self.done.lock().ok().and_then(|mut d| d.take());
        if let Some(done) = done {
            let _ = done.await;
        }
    }
}

/// Listens until stopped: one connection, reconnected with backoff; `listening` says whether it
/// is up.
pub fn spawn_listener(
    pool: PgPool,
    receiver: Arc<dyn Receiver>,
    listening: Arc<Listening>,
) -> Listener {
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let done = actix_web::rt::spawn(async move {
        let mut backoff = BACKOFF_FIRST;
        let mut first = true;
        loop {
            let connected = tokio::select! {
                l = listen(&pool) => l,
                _ = stopped.changed() => return,
            };
            let mut listener = match connected {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, retry_ms = backoff.as_millis() as u64, "cannot listen for other nodes' hints");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stopped.changed() => return,
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    continue;
                }
            };
            listening.set(true);
            backoff = BACKOFF_FIRST;
            if !first {
                tracing::info!(
                    "listening for other nodes' hints again; every open document catches up"
                );
                receiver.resync();
            }
            first = false;
            loop {
                let next = tokio::select! {
                    n = listener.try_recv() => n,
                    _ = stopped.changed() => {
                        listening.set(false);
                        drop(listener);
                        return;
                    }
                };
                match next {
                    Ok(Some(n)) => match decode(n.payload()) {
                        Ok(hint) => receiver.hint(hint),
                        Err(DecodeError::Own) => {}
                        Err(e) => tracing::warn!(error = %e, "ignored a notification"),
                    },
                    Ok(None) => {
                        tracing::warn!("the listening connection was lost");
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "the listening connection failed");
                        break;
                    }
                }
            }
            listening.set(false);
        }
    });
    Listener {
        stop,
        done: std::sync::Mutex::new(Some(done)),
    }
}

async fn listen(pool: &PgPool) -> Result<PgListener, sea_orm::sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}
