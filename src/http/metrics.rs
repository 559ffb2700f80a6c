//! `GET /metrics`: Prometheus text exposition (version 0.0.4), every name prefixed
//! `iotchat_`. Read at scrape time from the counters the server, the store and the bridge
//! keep anyway (a [`Collector`]), so collecting costs the device path nothing: no metric is
//! updated per message.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use std::sync::atomic::{AtomicU64, Ordering};

use super::HttpState;
use crate::bridge::BridgeStatus;
use crate::server::counters::ErrorKind;
use crate::store::CommitHistogram;

const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The handler.
pub(super) async fn metrics(State(state): State<HttpState>) -> Response {
    match render(&state) {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "could not encode the metrics\n").into_response(),
    }
}

/// The exposition text.
pub(super) fn render(state: &HttpState) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::with_prefix("iotchat");
    registry.register_collector(Box::new(Snapshot(state.clone())));
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)?;
    Ok(text)
}

/// Everything, read when scraped.
#[derive(Debug)]
struct Snapshot(HttpState);

impl Collector for Snapshot {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let state = &self.0;
        let registry = &state.registry;
        gauge(&mut e, "clients_connected", "Clients connected now.", registry.len() as i64)?;
        gauge(
            &mut e,
            "devices_online",
            "Connected clients that are devices: named (HELLO) or sending readings.",
            registry.devices_online() as i64,
        )?;
        counter(
            &mut e,
            "connections",
            "Connections accepted and served since start.",
            registry.connections_total(),
        )?;
        counter(&mut e, "messages", "Lines received from clients since start.", registry.messages_total())?;
        counter(
            &mut e,
            "stream_dropped",
            "Live events (/api/stream: one per reading, one per device arriving or leaving) lost by clients too slow to take them.",
            registry.feed().dropped(),
        )?;
        if let Some(store) = &state.store {
            let stats = store.stats();
            counter(
                &mut e,
                "readings_stored",
                "Readings committed to the store since start.",
                stats.inserted,
            )?;
            counter(
                &mut e,
                "readings_duplicate",
                "Readings ignored as already stored (a device's retry).",
                stats.duplicates,
            )?;
            counter(&mut e, "store_commits", "Store transactions committed since start.", stats.commits)?;
            let histogram = Histogram(store.commit_times().histogram());
            let metric = e.encode_descriptor(
                "store_commit_seconds",
                "Time to write and commit one store transaction (one fsync).",
                None,
                histogram.metric_type(),
            )?;
            histogram.encode(metric)?;
        }
        if let Some(bridge) = &state.bridge {
            bridge_metrics(&mut e, bridge)?;
        }
        errors(&mut e, state)
    }
}

/// `iotchat_errors_total{kind=...}`: every kind, zeros too, so a rate() has a series from the start.
fn errors(e: &mut DescriptorEncoder, state: &HttpState) -> Result<(), std::fmt::Error> {
    let help = "Errors since start, by kind: accept, turned_away (client limit), auth_refused, clock_refused, \
                write_timeout, store_failed (a connection's readings not stored), connection_failed, store_commit \
                (a failed store transaction).";
    let mut metric = e.encode_descriptor("errors", help, None, MetricType::Counter)?;
    let counters = &state.registry.counters;
    let mut kinds: Vec<(&str, u64)> =
        ErrorKind::ALL.iter().map(|k| (k.label(), counters.errors(*k))).collect();
    kinds.push(("store_commit", state.store.as_ref().map_or(0, |s| s.stats().failed_batches)));
    for (kind, count) in kinds {
        let labels = [("kind", kind)];
        let family = metric.encode_family(&labels)?;
        ConstCounter::new(count).encode(family)?;
    }
    Ok(())
}

/// The bridge's figures: connected, backlog, forwarded, paced, and how fast the backlog drains.
fn bridge_metrics(e: &mut DescriptorEncoder, bridge: &BridgeStatus) -> Result<(), std::fmt::Error> {
    let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
    let connected = i64::from(bridge.connected.load(Ordering::Relaxed));
    gauge(e, "bridge_connected", "1 while the ThingsBoard bridge is connected, else 0.", connected)?;
    let help = "Readings stored and not yet acknowledged by ThingsBoard.";
    gauge(e, "bridge_pending_readings", help, clamp(bridge.pending()))?;
    let help = "Readings acknowledged by ThingsBoard since start.";
    counter(e, "bridge_forwarded", help, load(&bridge.forwarded))?;
    let paced = ConstCounter::new(load(&bridge.paced_micros) as f64 / 1e6);
    let help = "Time the bridge waited to stay within ThingsBoard's rate limits since start.";
    paced.encode(e.encode_descriptor("bridge_paced_seconds", help, None, paced.metric_type())?)?;
    let rate = bridge.drain_rate();
    if let Some(rate) = rate {
        let help = "Readings ThingsBoard acknowledged per second lately (measured between scrapes).";
        float_gauge(e, "bridge_drain_rate", help, rate)?;
    }
    if let Some(eta) = bridge.eta(rate) {
        let help =
            "Seconds until the backlog is forwarded at the rate it drains lately (absent while unknown).";
        float_gauge(e, "bridge_backlog_eta_seconds", help, eta.as_secs_f64())?;
    }
    Ok(())
}

fn float_gauge(e: &mut DescriptorEncoder, name: &str, help: &str, value: f64) -> Result<(), std::fmt::Error> {
    let gauge = ConstGauge::new(value);
    gauge.encode(e.encode_descriptor(name, help, None, gauge.metric_type())?)
}

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, value: i64) -> Result<(), std::fmt::Error> {
    let gauge = ConstGauge::new(value);
    gauge.encode(e.encode_descriptor(name, help, None, gauge.metric_type())?)
}

fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> Result<(), std::fmt::Error> {
    let counter = ConstCounter::new(value);
    counter.encode(e.encode_descriptor(name, help, None, counter.metric_type())?)
}

fn clamp(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The store's commit histogram, encoded as read.
#[derive(Debug)]
struct Histogram(CommitHistogram);

impl EncodeMetric for Histogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let h = &self.0;
        encoder.encode_histogram::<NoLabelSet>(h.sum, h.count, &h.buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::registry::Registry;

    fn state(store: Option<crate::store::StoreHandle>) -> HttpState {
        HttpState { registry: Registry::new(), store, bridge: None, data_dir: None }
    }

    #[test]
    fn without_a_store_there_are_no_store_metrics() {
        let text = render(&state(None)).expect("encodes");
        assert!(text.contains("iotchat_clients_connected 0\n"), "{text}");
        assert!(!text.contains("iotchat_readings_stored"), "{text}");
        assert!(!text.contains("iotchat_bridge"), "{text}");
    }

    #[test]
    fn every_error_kind_has_a_series_from_the_start() {
        let s = state(None);
        s.registry.counters.error(ErrorKind::AuthRefused);
        let text = render(&s).expect("encodes");
        for kind in ErrorKind::ALL {
            let want = if kind == ErrorKind::AuthRefused { 1 } else { 0 };
            let line = format!("iotchat_errors_total{{kind=\"{}\"}} {want}\n", kind.label());
            assert!(text.contains(&line), "{line} in:\n{text}");
        }
    }

    #[test]
    fn the_commit_histogram_is_cumulative_with_sum_and_count() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = crate::store::Store::open(dir.path()).expect("store");
        let text = render(&state(Some(store.handle()))).expect("encodes");
        assert!(text.contains("# TYPE iotchat_store_commit_seconds histogram\n"), "{text}");
        assert!(text.contains("iotchat_store_commit_seconds_bucket{le=\"+Inf\"} 0\n"), "{text}");
        assert!(text.contains("iotchat_store_commit_seconds_count 0\n"), "{text}");
        store.close().expect("closes");
    }
}
