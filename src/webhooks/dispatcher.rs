//! Delivers the webhook outbox. One task per server: each round it takes every endpoint whose
//! backoff has passed and posts its next events in outbox order, stopping at the first failure
//! (so an endpoint never sees an event before the ones ahead of it). Each attempt is recorded;
//! a success moves the endpoint's cursor, a failure schedules the next attempt with
//! exponential backoff. The `webhook-id` is the event's id, the same on every attempt and after
//! a restart, so a receiver can drop duplicates.

use std::time::Duration;

use futures_util::future::join_all;
use sea_orm::{
    sea_query::Expr, ActiveValue::NotSet, ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::{backoff, sign};
use crate::entities::{webhook_attempt, webhook_endpoint, webhook_event};
use crate::time_util::now_micros;

/// How often the outbox is looked at when nothing woke the dispatcher sooner.
const POLL: Duration = Duration::from_millis(250);
/// Events posted to one endpoint per round.
const PER_ROUND: u64 = 100;
/// How long a receiver has to answer.
const TIMEOUT: Duration = Duration::from_secs(10);
/// How long an id gap in the outbox is waited out. Ids are taken when a row is inserted, so
/// on PostgreSQL (concurrent committers) event N+1 can be visible before N commits; passing
/// N+1 then would skip N for good. A gap older than this is a rolled-back transaction.
const GAP_WAIT: Duration = Duration::from_secs(10);

/// Settings of the dispatcher.
#[derive(Debug, Clone)]
pub struct DispatchConfig {
    /// The first retry's delay; doubled per failure up to [`super::MAX_BACKOFF`].
    pub retry_base: Duration,
}

/// Starts the dispatcher on the current runtime.
pub fn start(db: DatabaseConnection, config: DispatchConfig) {
    let client = match reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "webhooks: no HTTP client; deliveries are off");
            return;
        }
    };
    crate::background::spawn(async move {
        let mut pruned = 0;
        loop {
            if let Err(e) = round(&db, &client, &config, &mut pruned).await {
                tracing::warn!(error = %e, "webhooks: a delivery round failed; retrying");
            }
            tokio::time::sleep(POLL).await;
        }
    });
}

async fn round(
    db: &DatabaseConnection,
    client: &reqwest::Client,
    config: &DispatchConfig,
    pruned: &mut i64,
) -> Result<(), DbErr> {
    let endpoints = webhook_endpoint::Entity::find().all(db).await?;
    let now = now_micros();
    let due = endpoints.iter().filter(|e| e.next_attempt_at <= now);
    for result in join_all(due.map(|e| deliver(db, client, config, e))).await {
        result?;
    }
    // Events every endpoint has are no longer needed. Deleted only when the floor moved, so an
    // idle dispatcher does not take the database's write lock. The newest event is kept: a new
    // endpoint starts after it (see `register`), with no gap to wait out.
    let floor = match endpoints.iter().map(|e| e.cursor).min() {
        Some(floor) => floor,
        None => super::newest_event(db).await?,
    };
    if floor > *pruned {
        webhook_event::Entity::delete_many()
            .filter(webhook_event::Column::Id.lt(floor))
            .exec(db)
            .await?;
        *pruned = floor;
    }
    Ok(())
}

/// Posts `endpoint`'s next events in order until one fails.
async fn deliver(
    db: &DatabaseConnection,
    client: &reqwest::Client,
    config: &DispatchConfig,
    endpoint: &webhook_endpoint::Model,
) -> Result<(), DbErr> {
    let events = webhook_event::Entity::find()
        .filter(webhook_event::Column::Id.gt(endpoint.cursor))
        .order_by_asc(webhook_event::Column::Id)
        .limit(PER_ROUND)
        .all(db)
        .await?;
    let mut failures = endpoint.failures;
    let mut expected = endpoint.cursor + 1;
    for event in events {
        if event.id != expected && event.created_at > now_micros() - GAP_WAIT.as_micros() as i64 {
            break;
        }
        expected = event.id + 1;
        let id = format!("evt_{}", event.id);
        let timestamp = now_micros() / 1_000_000;
        let signature = sign(&endpoint.secret, &id, timestamp, &event.payload);
        let sent = client
            .post(&endpoint.url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(event.payload.clone())
            .send()
            .await;
        let (status, error) = match &sent {
            Ok(res) => (Some(res.status().as_u16() as i32), None),
            // The error's text names the URL and the cause; cut to the column's size.
            Err(e) => (
                None,
                Some(e.to_string().chars().take(500).collect::<String>()),
            ),
        };
        let delivered = sent.is_ok_and(|r| r.status().is_success());
        let at = now_micros();
        webhook_attempt::Entity::insert(webhook_attempt::ActiveModel {
            id: NotSet,
            endpoint_id: Set(endpoint.id.clone()),
            event_id: Set(event.id),
            at: Set(at),
            status: Set(status),
            error: Set(error),
            delivered: Set(delivered),
        })
        .exec(db)
        .await?;
        let update = webhook_endpoint::Entity::update_many()
            .filter(webhook_endpoint::Column::Id.eq(endpoint.id.as_str()));
        if delivered {
            failures = 0;
            update
                .col_expr(webhook_endpoint::Column::Cursor, Expr::value(event.id))
                .col_expr(webhook_endpoint::Column::Failures, Expr::value(0))
                .exec(db)
                .await?;
        } else {
            let wait = backoff(config.retry_base, failures.max(0) as u32);
            failures = failures.saturating_add(1);
            tracing::info!(endpoint = %endpoint.id, event = event.id, ?status, retry_in_ms = wait.as_millis() as u64, "webhook delivery failed");
            update
                .col_expr(webhook_endpoint::Column::Failures, Expr::value(failures))
                .col_expr(
                    webhook_endpoint::Column::NextAttemptAt,
                    Expr::value(at + wait.as_micros() as i64),
                )
                .exec(db)
                .await?;
            break;
        }
    }
    Ok(())
}
