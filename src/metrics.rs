//! Prometheus metrics: one process-wide registry, written to where things happen (document
//! and session actors, the committer, the token verifier, the PDF inspector, an HTTP
//! middleware) and rendered in the text exposition format at `GET /metrics`.
//!
//! The registry is process-wide (not in `AppState`) because the writers are spread over actors
//! and pure helpers that have no state handle, and one process serves one Quire. Every metric
//! is named `quire_*`; labels have small, fixed value sets (reject codes, close codes, route
//! patterns, never ids or user input), so cardinality stays bounded. See docs/metrics.md.

use std::sync::LazyLock;
use std::time::Instant;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

use crate::wire::common::{CloseCode, RejectCode};
use crate::wire::server::Outcome;

/// Every metric Quire exports.
pub struct Metrics {
    registry: Registry,
    /// Document actors running (documents loaded on this node).
    pub open_documents: IntGauge,
    /// WebSocket sessions open (from upgrade to close).
    pub live_sessions: IntGauge,
    /// Changes committed to the database.
    pub changes_committed: IntCounter,
    /// Changes refused, by reject code.
    pub changes_rejected: IntCounterVec,
    /// Batches (one per document) carried by one grouped transaction.
    pub commit_group_batches: Histogram,
    /// Time one grouped transaction took, from begin to commit.
    pub commit_group_seconds: Histogram,
    /// Batches whose commit failed, by why: `conflict` (the sequence row moved), `refused`
    /// (the database refused a value) or `unavailable`.
    pub commit_failures: IntCounterVec,
    /// Stored document snapshots (`store::snapshot`), by event: `stored`, `not_stored` (its
    /// deadline passed or the write failed), `opened` (an open read one), `unreadable` (passed
    /// over, or its records could not be read).
    pub document_snapshots: IntCounterVec,
    /// Changes waiting in document queues for their commit.
    pub pending_changes: IntGauge,
    /// Messages refused because a session's outbox was full (the session is then closed).
    pub outbox_drops: IntCounter,
    /// Sessions closed by the server or the client, by close code name.
    pub disconnects: IntCounterVec,
    /// Time to verify a session token that was not cached (signature, revocation, rights).
    pub token_verify_seconds: Histogram,
    /// Token verifications answered from the cache (`hit`) or verified (`miss`).
    pub token_cache: IntCounterVec,
    /// HTTP requests answered, by route pattern, method and status.
    pub http_requests: IntCounterVec,
    /// Time to answer an HTTP request, by route pattern.
    pub http_request_seconds: HistogramVec,
    /// Time to parse an uploaded PDF (in the sandbox child or in process).
    pub pdf_parse_seconds: Histogram,
}

/// Buckets for things that take from a fraction of a millisecond to seconds.
const SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl Metrics {
    fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let gauge = |name: &str, help: &str| -> Result<IntGauge, prometheus::Error> {
            let g = IntGauge::new(name, help)?;
            registry.register(Box::new(g.clone()))?;
            Ok(g)
        };
        let counter = |name: &str, help: &str| -> Result<IntCounter, prometheus::Error> {
            let c = IntCounter::new(name, help)?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let counters =
            |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, prometheus::Error> {
                let c = IntCounterVec::new(Opts::new(name, help), labels)?;
                registry.register(Box::new(c.clone()))?;
                Ok(c)
            };
        let histogram =
            |name: &str, help: &str, buckets: Vec<f64>| -> Result<Histogram, prometheus::Error> {
                let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))?;
                registry.register(Box::new(h.clone()))?;
                Ok(h)
            };
        let http_request_seconds = HistogramVec::new(
            HistogramOpts::new(
                "quire_http_request_seconds",
                "Time to answer an HTTP request, by route pattern.",
            )
            .buckets(SECONDS.to_vec()),
            &["route"],
        )?;
        registry.register(Box::new(http_request_seconds.clone()))?;
        let metrics = Metrics {
            open_documents: gauge(
                "quire_open_documents",
                "Documents loaded on this node (document actors running).",
            )?,
            live_sessions: gauge("quire_live_sessions", "WebSocket sessions open.")?,
            changes_committed: counter(
                "quire_changes_committed_total",
                "Changes committed to the database.",
            )?,
            changes_rejected: counters(
                "quire_changes_rejected_total",
                "Changes refused, by reject code.",
                &["reason"],
            )?,
            commit_group_batches: histogram(
                "quire_commit_group_batches",
                "Document batches carried by one grouped transaction.",
                vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0],
            )?,
            commit_group_seconds: histogram(
                "quire_commit_group_seconds",
                "Time one grouped transaction took, from begin to commit.",
                SECONDS.to_vec(),
            )?,
            commit_failures: counters(
                "quire_commit_failures_total",
                "Batches whose commit failed, by kind (conflict, refused, unavailable).",
                &["kind"],
            )?,
            document_snapshots: counters(
                "quire_document_snapshots_total",
                "Stored document snapshots, by event (stored, not_stored, opened, unreadable).",
                &["event"],
            )?,
            pending_changes: gauge(
                "quire_pending_changes",
                "Changes waiting in document queues for their commit.",
            )?,
            outbox_drops: counter(
                "quire_outbox_drops_total",
                "Messages refused because a session's outbox was full (the session is closed).",
            )?,
            disconnects: counters(
                "quire_disconnects_total",
                "Sessions closed, by close code name.",
                &["code"],
            )?,
            token_verify_seconds: histogram(
                "quire_token_verify_seconds",
                "Time to verify a session token that was not cached.",
                SECONDS.to_vec(),
            )?,
            token_cache: counters(
                "quire_token_cache_total",
                "Token verifications answered from the cache (hit) or verified (miss).",
                &["result"],
            )?,
            http_requests: counters(
                "quire_http_requests_total",
                "HTTP requests answered, by route pattern, method and status.",
                &["route", "method", "status"],
            )?,
            http_request_seconds,
            pdf_parse_seconds: histogram(
                "quire_pdf_parse_seconds",
                "Time to parse an uploaded PDF.",
                SECONDS.to_vec(),
            )?,
            registry,
        };
        metrics.zero_known_series();
        Ok(metrics)
    }

    /// Counts one stored-snapshot event (see [`Metrics::document_snapshots`]).
    pub fn count_snapshot(&self, event: &str) {
        self.document_snapshots.with_label_values(&[event]).inc();
    }

    /// Creates every series of the fixed label sets at 0, so that a dashboard shows 0 rather
    /// than nothing, and `rate()` sees the first increment.
    fn zero_known_series(&self) {
        for code in REJECT_CODES {
            self.changes_rejected
                .with_label_values(&[reject_label(code)]);
        }
        for kind in ["conflict", "refused", "unavailable"] {
            self.commit_failures.with_label_values(&[kind]);
        }
        for result in ["hit", "miss"] {
            self.token_cache.with_label_values(&[result]);
        }
        for event in ["stored", "not_stored", "opened", "unreadable"] {
            self.document_snapshots.with_label_values(&[event]);
        }
        for code in CLOSE_CODES {
            self.disconnects.with_label_values(&[code.name()]);
        }
    }

    /// Counts the rejects among a batch's answers.
    pub fn count_outcomes(&self, outcomes: &[Outcome]) {
        for o in outcomes {
            if let Outcome::Reject { code, .. } = o {
                self.rejected(*code, 1);
            }
        }
    }

    /// Counts `n` changes refused with `code`.
    pub fn rejected(&self, code: RejectCode, n: u64) {
        self.changes_rejected
            .with_label_values(&[reject_label(code)])
            .inc_by(n);
    }

    /// Counts a session closed with `code`.
    pub fn disconnected(&self, code: CloseCode) {
        self.disconnects.with_label_values(&[code.name()]).inc();
    }

    /// The text exposition format of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec fails only on metric families that break the format, which the
        // fixed set above does not.
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

const REJECT_CODES: [RejectCode; 10] = [
    RejectCode::StaleBase,
    RejectCode::NotPermitted,
    RejectCode::Invalid,
    RejectCode::TooLarge,
    RejectCode::AlreadyExists,
    RejectCode::NotFound,
    RejectCode::Unavailable,
    RejectCode::Busy,
    RejectCode::LimitExceeded,
    RejectCode::Aborted,
];

const CLOSE_CODES: [CloseCode; 12] = [
    CloseCode::Normal,
    CloseCode::ShuttingDown,
    CloseCode::ProtocolError,
    CloseCode::Unauthorized,
    CloseCode::TokenExpired,
    CloseCode::TokenRevoked,
    CloseCode::DocumentDeleted,
    CloseCode::TooSlow,
    CloseCode::RateLimited,
    CloseCode::HelloTimeout,
    CloseCode::Reconnect,
    CloseCode::HeartbeatTimeout,
];

/// The label of a reject code: its wire name.
fn reject_label(code: RejectCode) -> &'static str {
    match code {
        RejectCode::StaleBase => "stale_base",
        RejectCode::NotPermitted => "not_permitted",
        RejectCode::Invalid => "invalid",
        RejectCode::TooLarge => "too_large",
        RejectCode::AlreadyExists => "already_exists",
        RejectCode::NotFound => "not_found",
        RejectCode::Unavailable => "unavailable",
        RejectCode::Busy => "busy",
        RejectCode::LimitExceeded => "limit_exceeded",
        RejectCode::Aborted => "aborted",
    }
}

static METRICS: LazyLock<Metrics> =
    LazyLock::new(|| Metrics::new().expect("the fixed metric set registers once"));

/// The process's metrics.
pub fn get() -> &'static Metrics {
    &METRICS
}

/// Observes the seconds since `started` into `histogram`.
pub fn observe_since(histogram: &Histogram, started: Instant) {
    histogram.observe(started.elapsed().as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reject_labels_are_the_wire_names() {
        for code in REJECT_CODES {
            let wire = serde_json::to_value(code).unwrap();
            assert_eq!(wire.as_str(), Some(reject_label(code)));
        }
    }

    #[test]
    fn the_grafana_dashboard_names_only_metrics_that_exist() {
        let dashboard: serde_json::Value =
            serde_json::from_str(include_str!("../docs/grafana-dashboard.json")).unwrap();
        let text = dashboard.to_string();
        // The HTTP series exist once a request was counted.
        get().http_requests.with_label_values(&["/t", "GET", "200"]);
        get().http_request_seconds.with_label_values(&["/t"]);
        let exported = get().render();
        let mut seen = 0;
        for (at, _) in text.match_indices("quire_") {
            let name: String = text[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(&name);
            assert!(
                exported.contains(&format!("# TYPE {base} ")),
                "{name} is not exported"
            );
            seen += 1;
        }
        assert!(seen >= 15, "the dashboard shows the metrics");
    }

    #[test]
    fn every_metric_renders_with_its_help() {
        let m = get();
        m.rejected(RejectCode::Busy, 2);
        m.disconnected(CloseCode::TooSlow);
        let text = m.render();
        for name in [
            "quire_open_documents",
            "quire_live_sessions",
            "quire_changes_committed_total",
            "quire_document_snapshots_total",
            "quire_changes_rejected_total{reason=\"busy\"}",
            "quire_commit_group_batches",
            "quire_commit_group_seconds",
            "quire_pending_changes",
            "quire_outbox_drops_total",
            "quire_disconnects_total{code=\"too_slow\"}",
            "quire_token_verify_seconds",
            "quire_pdf_parse_seconds",
        ] {
            assert!(text.contains(name), "{name} missing from:\n{text}");
        }
    }
}
