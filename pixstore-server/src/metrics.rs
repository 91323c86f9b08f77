//! Prometheus metrics (`GET /metrics` on the ops listener), with `prometheus-client`. The list,
//! with labels, is in `docs/server-operations.md`:
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `pixstore_requests_total` | counter | `listener`, `status`, `state` (wire state, `-` for none) |
//! | `pixstore_request_duration_seconds` | histogram | `listener` |
//! | `pixstore_response_body_bytes_total` | counter | `listener` |
//! | `pixstore_open_connections` | gauge | `listener` |
//! | `pixstore_connections_total` | counter | `listener` |
//! | `pixstore_connection_timeouts_total` | counter | `listener`, `limit` (`header`, `idle`) |
//! | `pixstore_accept_errors_total` | counter | `listener` |
//! | `pixstore_proof_failures_total` | counter | `kind` (`ProofError::kind`) |
//! | `pixstore_store_errors_total` | counter | - |
//! | `pixstore_cache_hits_total`, `pixstore_cache_misses_total` | counter | - |
//! | `pixstore_sendfile_bytes_total` | counter | - |

use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use proto::wire::State;

use crate::service::ServiceCounters;
use crate::store::CacheCounters;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    listener: &'static str,
    status: u16,
    state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabel {
    listener: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TimeoutLabels {
    listener: &'static str,
    limit: &'static str,
}

/// The server's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Family<ListenerLabel, Histogram>,
    bytes: Family<ListenerLabel, Counter>,
    open: Family<ListenerLabel, Gauge>,
    connections: Family<ListenerLabel, Counter>,
    timeouts: Family<TimeoutLabels, Counter>,
    accept_errors: Family<ListenerLabel, Counter>,
}

/// The request metrics of one listener.
#[derive(Debug, Clone)]
pub struct ListenerMetrics {
    listener: &'static str,
    requests: Family<RequestLabels, Counter>,
    /// The counters of 200 with a Success and with an Updated payload, nearly all of the
    /// traffic, looked up in `requests` on first use only: `Family::get_or_create` hashes the
    /// label set (SipHash) and takes a read lock each time, about 470 instructions; the cached
    /// counter takes 240 fewer per Success response (callgrind, bench/profile.sh). Filled
    /// lazily, so `/metrics` lists a label set only once a request had it, as before.
    hot: [OnceLock<Counter>; 2],
    duration: Histogram,
    bytes: Counter,
}

impl ListenerMetrics {
    /// Counts one answered request.
    pub fn request(&self, status: u16, state: &'static str, bytes: u64, elapsed: Duration) {
        let labels = || RequestLabels { listener: self.listener, status, state };
        let hot = match (status, state) {
            (200, s) if s == State::Success.name() => self.hot.first(),
            (200, s) if s == State::Updated.name() => self.hot.get(1),
            _ => None,
        };
        match hot {
            Some(slot) => slot.get_or_init(|| self.requests.get_or_create(&labels()).clone()).inc(),
            None => self.requests.get_or_create(&labels()).inc(),
        };
        self.duration.observe(elapsed.as_secs_f64());
        self.bytes.inc_by(bytes);
    }
}

/// Decrements the open-connections gauge when the connection ends.
#[derive(Debug)]
pub struct OpenConnection(Gauge);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn latency_histogram() -> Histogram {
    // 50 us to about 3 s.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(0.000_05, 2.0, 16))
}

impl Metrics {
    /// The metrics, with the service's and the store's counters registered beside the HTTP ones.
    pub fn new(service: &ServiceCounters, cache: Option<&CacheCounters>) -> Metrics {
        let mut registry = Registry::with_prefix("pixstore");
        let m = Metrics {
            requests: Family::default(),
            duration: Family::new_with_constructor(latency_histogram),
            bytes: Family::default(),
            open: Family::default(),
            connections: Family::default(),
            timeouts: Family::default(),
            accept_errors: Family::default(),
            registry: Registry::default(),
        };
        registry.register("requests", "HTTP requests answered, by listener, status and wire state", m.requests.clone());
        registry.register(
            "request_duration_seconds",
            "Time from a request's head to its response's head",
            m.duration.clone(),
        );
        registry.register("response_body_bytes", "Bytes of response bodies sent", m.bytes.clone());
        registry.register("open_connections", "Connections open now", m.open.clone());
        registry.register("connections", "Connections accepted", m.connections.clone());
        registry.register(
            "connection_timeouts",
            "Connections closed by a limit (header: head not read in time; idle: nothing moved)",
            m.timeouts.clone(),
        );
        registry.register(
            "accept_errors",
            "Failed accepts (e.g. out of file descriptors); retried",
            m.accept_errors.clone(),
        );
        registry.register(
            "proof_failures",
            "Image requests whose proof failed, by kind",
            service.proof_failures.clone(),
        );
        registry.register(
            "store_errors",
            "Store operations that failed (I/O, corrupt data)",
            service.store_errors.clone(),
        );
        if let Some(c) = cache {
            registry.register("cache_hits", "Image loads answered from memory", c.hits.clone());
            registry.register("cache_misses", "Image loads that read the file", c.misses.clone());
        }
        registry.register(
            "sendfile_bytes",
            "Response bytes sent from stored files with sendfile (plain listeners, large versions)",
            crate::sendfile::SENT_FROM_FILES.clone(),
        );
        Metrics { registry, ..m }
    }

    /// The per-request metrics of one listener, resolved once (a connection keeps them).
    pub fn listener(&self, listener: &'static str) -> ListenerMetrics {
        let l = ListenerLabel { listener };
        ListenerMetrics {
            listener,
            requests: self.requests.clone(),
            hot: Default::default(),
            duration: self.duration.get_or_create(&l).clone(),
            bytes: self.bytes.get_or_create(&l).clone(),
        }
    }

    /// Counts an opened connection; the guard counts its end.
    pub fn connection_opened(&self, listener: &'static str) -> OpenConnection {
        let l = ListenerLabel { listener };
        self.connections.get_or_create(&l).inc();
        let gauge = self.open.get_or_create(&l).clone();
        gauge.inc();
        OpenConnection(gauge)
    }

    /// Counts a connection closed by a limit.
    pub fn timeout(&self, listener: &'static str, limit: &'static str) {
        self.timeouts.get_or_create(&TimeoutLabels { listener, limit }).inc();
    }

    /// Counts a failed accept.
    pub fn accept_error(&self, listener: &'static str) {
        self.accept_errors.get_or_create(&ListenerLabel { listener }).inc();
    }

    /// The text exposition format (OpenMetrics).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
