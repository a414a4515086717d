//! What a run measured, printed as a table and written as JSON.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latency percentiles in milliseconds.
#[derive(Debug, Serialize, Default, Clone)]
pub struct Latency {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    /// From a histogram of microseconds.
    pub fn from_micros(h: &Histogram<u64>) -> Latency {
        let ms = |v: u64| (v as f64 / 1000.0 * 100.0).round() / 100.0;
        Latency {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

/// One scenario's results.
#[derive(Debug, Serialize, Default)]
pub struct Report {
    pub scenario: String,
    pub parameters: serde_json::Value,
    pub measured_seconds: f64,
    pub committed_changes_per_second: Option<f64>,
    pub deliveries_per_second: Option<f64>,
    pub ack_latency: Option<Latency>,
    pub fanout_latency: Option<Latency>,
    /// Fan-out of changes written through another node (several `--url`).
    pub cross_node_fanout_latency: Option<Latency>,
    pub welcome_latency: Option<Latency>,
    /// The median of `cold_welcome_runs_ms`.
    pub cold_welcome_ms: Option<f64>,
    /// Each cold open's hello → welcome, one per server restart, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cold_welcome_runs_ms: Vec<f64>,
    pub sessions: Option<u64>,
    pub server_rss_mib: Option<f64>,
    pub rss_per_session_kib: Option<f64>,
    pub server_cpu_seconds: Option<f64>,
    /// Server CPU in the window divided by the changes committed (acknowledged) in it.
    pub server_cpu_per_change_us: Option<f64>,
    /// Server CPU in the window divided by the changes delivered to other clients in it.
    pub server_cpu_per_delivery_us: Option<f64>,
    /// Deliveries owed for the changes sent in the window and not rejected (each to every other
    /// client of its document) and how many arrived.
    pub deliveries_expected: Option<u64>,
    pub deliveries_received: Option<u64>,
    /// `hot-doc`: clients that got their welcome in the join storm, and when the last one did.
    pub joined: Option<u64>,
    pub all_joined_seconds: Option<f64>,
    /// `hot-doc`: when (since the storm started) the last client came to know every other
    /// client with its presence state; the writing starts after it.
    pub presence_settled_seconds: Option<f64>,
    /// `hot-doc`: connect → welcome per client during the join storm.
    pub join_latency: Option<Latency>,
    /// `hot-doc`: server CPU spent on the join storm (joins and presence), from its start until
    /// every client has its welcome.
    pub join_cpu_seconds: Option<f64>,
    pub errors: u64,
    pub disconnects: u64,
    pub notes: Vec<String>,
}

impl Report {
    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut out = format!(
            "scenario: {}\nparameters: {}\n",
            self.scenario, self.parameters
        );
        let mut row = |k: &str, v: String| out.push_str(&format!("  {k:<28} {v}\n"));
        row("measured", format!("{:.1} s", self.measured_seconds));
        if let Some(v) = self.committed_changes_per_second {
            row("committed changes/s", format!("{v:.0}"));
        }
        if let Some(v) = self.deliveries_per_second {
            row("fan-out deliveries/s", format!("{v:.0}"));
        }
        let lat = |l: &Latency| {
            format!(
                "p50 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms  max {:.2} ms  (n={})",
                l.p50_ms, l.p99_ms, l.p999_ms, l.max_ms, l.count
            )
        };
        if let (Some(n), Some(s)) = (self.joined, self.all_joined_seconds) {
            row("joined", format!("{n} within {s:.2} s"));
        }
        if let Some(s) = self.presence_settled_seconds {
            row("everyone's presence known", format!("within {s:.2} s"));
        }
        if let Some(l) = &self.join_latency {
            row("join (connect→welcome)", lat(l));
        }
        if let Some(v) = self.join_cpu_seconds {
            row("server CPU for the joins", format!("{v:.2} s"));
        }
        if let Some(l) = &self.ack_latency {
            row("ack latency", lat(l));
        }
        if let Some(l) = &self.fanout_latency {
            row("fan-out latency", lat(l));
        }
        if let Some(l) = &self.cross_node_fanout_latency {
            row("cross-node fan-out", lat(l));
        }
        if let (Some(e), Some(r)) = (self.deliveries_expected, self.deliveries_received) {
            let pct = if e == 0 {
                100.0
            } else {
                r as f64 * 100.0 / e as f64
            };
            row("deliveries complete", format!("{r} of {e} ({pct:.2}%)"));
        }
        if let Some(v) = self.cold_welcome_ms {
            let runs = &self.cold_welcome_runs_ms;
            let text = match (runs.len(), min_max(runs)) {
                (n, Some((lo, hi))) if n > 1 => {
                    format!("median {v:.2} ms over {n} restarts ({lo:.2}–{hi:.2} ms)")
                }
                _ => format!("{v:.2} ms"),
            };
            row("cold welcome (hello→welcome)", text);
        }
        if let Some(l) = &self.welcome_latency {
            row("warm welcome", lat(l));
        }
        if let Some(v) = self.sessions {
            row("sessions", v.to_string());
        }
        if let Some(v) = self.server_rss_mib {
            row("server RSS", format!("{v:.1} MiB"));
        }
        if let Some(v) = self.rss_per_session_kib {
            row("RSS per session", format!("{v:.1} KiB"));
        }
        if let Some(v) = self.server_cpu_seconds {
            row("server CPU", format!("{v:.2} s"));
        }
        if let Some(v) = self.server_cpu_per_change_us {
            row("server CPU per change", format!("{v:.1} µs"));
        }
        if let Some(v) = self.server_cpu_per_delivery_us {
            row("server CPU per delivery", format!("{v:.2} µs"));
        }
        row("errors", self.errors.to_string());
        row("disconnects", self.disconnects.to_string());
        for n in &self.notes {
            out.push_str(&format!("  note: {n}\n"));
        }
        out
    }
}

/// The median of `values` (the mean of the middle two for an even count); 0 for none.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// The smallest and largest of `values`; `None` for none.
fn min_max(values: &[f64]) -> Option<(f64, f64)> {
    let lo = values.iter().copied().min_by(f64::total_cmp)?;
    let hi = values.iter().copied().max_by(f64::total_cmp)?;
    Some((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_is_the_middle_value_or_the_mean_of_the_middle_two() {
        assert_eq!(median(&[]), 0.0);
        assert_eq!(median(&[7.0]), 7.0);
        assert_eq!(median(&[43.0, 39.0, 49.0]), 43.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(min_max(&[43.0, 39.0, 49.0]), Some((39.0, 49.0)));
        assert_eq!(min_max(&[]), None);
    }
}
