//! Every accepted message is applied exactly once: across restarts, with several
//! workers, and through storage failures.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use cloudgrid_pipeline::{Cluster, Drain, Pipeline, PipelineConfig};
use cloudgrid_proto::bus::jetstream::{JetStreamBus, JetStreamConfig};
use cloudgrid_proto::bus::memory::{MemoryBus, MemoryBusConfig};
use cloudgrid_proto::bus::{Bus, Outbound, content_msg_id};
use cloudgrid_proto::health::Health;
use cloudgrid_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use cloudgrid_proto::otlp::common::v1::{AnyValue, KeyValue, any_value};
use cloudgrid_proto::otlp::metrics::v1::{Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point};
use cloudgrid_proto::{IngestEnvelope, Signal};
use cloudgrid_sinks::surreal::{CompactionConfig, Store, SurrealConfig, SurrealWriter};
use cloudgrid_sinks::{SinkError, TelemetryWriter, WriteBatch};
use prost::Message;

const BASE_NS: u64 = 1_700_000_000_000_000_000;

/// Message `i`: `points` points over `series` series, all distinct (series, time).
fn envelope(i: u64, series: u64, points: u64) -> Bytes {
    envelope_of("p", i, series, points)
}

/// Message `i` of `project`.
fn envelope_of(project: &str, i: u64, series: u64, points: u64) -> Bytes {
    let data_points = (0..points)
        .map(|j| NumberDataPoint {
            attributes: vec![KeyValue {
                key: "s".into(),
                value: Some(AnyValue { value: Some(any_value::Value::IntValue((j % series) as i64)) }),
                ..Default::default()
            }],
            time_unix_nano: BASE_NS + (i * points + j) * 1_000_000,
            value: Some(number_data_point::Value::AsDouble(j as f64)),
            ..Default::default()
        })
        .collect();
    let req = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "load".into(),
                    data: Some(metric::Data::Gauge(Gauge { data_points })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let env = IngestEnvelope {
        project_id: project.into(),
        signal: Signal::Metrics as i32,
        received_unix_nano: 0,
        otlp: Bytes::from(req.encode_to_vec()),
        request_id: format!("req-{i}"),
    };
    Bytes::from(env.encode_to_vec())
}

/// Message `i` of spans: `n` spans of one trace.
fn span_envelope(i: u64, n: u64) -> Bytes {
    use cloudgrid_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
    use cloudgrid_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
    let spans = (0..n)
        .map(|j| Span {
            trace_id: [[0x7u8; 8], i.to_be_bytes()].concat(),
            span_id: (j + 1).to_be_bytes().to_vec(),
            name: format!("op-{j}"),
            start_time_unix_nano: BASE_NS + i * 1_000_000,
            end_time_unix_nano: BASE_NS + i * 1_000_000 + 500,
            ..Default::default()
        })
        .collect();
    let req = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            ..Default::default()
        }],
    };
    let env = IngestEnvelope {
        project_id: "p".into(),
        signal: Signal::Traces as i32,
        received_unix_nano: 0,
        otlp: Bytes::from(req.encode_to_vec()),
        request_id: format!("spans-{i}"),
    };
    Bytes::from(env.encode_to_vec())
}

async fn publish_all(bus: &dyn Bus, subject: &str, range: std::ops::Range<u64>, series: u64, points: u64) {
    for i in range {
        let payload = envelope(i, series, points);
        let msg_id = content_msg_id(subject, &payload);
        bus.publish(Outbound { subject: subject.to_string(), msg_id, payload }).await.expect("publish");
    }
}

pub(crate) async fn wait_for(what: &str, timeout: Duration, mut cond: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut pause = Duration::from_millis(10);
    while !cond().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

fn config(workers: usize) -> PipelineConfig {
    PipelineConfig { workers, fetch_max: 7, ..PipelineConfig::default() }
}

/// Publishes in two halves with a restart in between; everything lands exactly once,
/// whether or not compaction runs alongside the writes.
async fn exactly_once_across_restart(bus: Arc<dyn Bus>, subject: &str, workers: usize, compaction: CompactionConfig) {
    let store = Store::open(&SurrealConfig { chunk_span_ms: 50, ..SurrealConfig::mem() }).await.expect("store");
    let writer: Arc<dyn TelemetryWriter> = Arc::new(SurrealWriter::with_compaction(store.clone(), compaction));
    let (messages, series, points) = (60u64, 5u64, 20u64);

    publish_all(&*bus, subject, 0..messages / 2, series, points).await;
    let health = Health::default();
    let p = Pipeline::start(bus.clone(), writer.clone(), config(workers), health.clone()).await.expect("start");
    let acked = health.counter("cloudgrid_pipeline_acked_total", "", &[]);
    wait_for("some messages acked", Duration::from_secs(30), async || acked.get() >= 10).await;
    // Every stage an acked message passed was timed.
    let lane = Some(cloudgrid_sinks::Lane::Metrics);
    for (stage, lane) in [("bus", None), ("dataflow", lane), ("queue", lane), ("commit", lane)] {
        let times = cloudgrid_sinks::stage_histogram(&health, stage, lane);
        assert!(times.count() > 0, "no {stage} times in {}", health.render());
    }
    // Stop with work in flight; what was not committed is redelivered to the next run.
    p.stop(Drain::InFlight).await.expect("stop");

    publish_all(&*bus, subject, messages / 2..messages, series, points).await;
    let p = Pipeline::start(bus.clone(), writer, config(workers), Health::default()).await.expect("restart");
    wait_for("the bus to drain", Duration::from_secs(60), async || {
        bus.stored_messages().await.expect("stored") == 0
    })
    .await;
    p.stop(Drain::InFlight).await.expect("stop");

    let counts = store.counts("p").await.expect("counts");
    assert_eq!(counts.points, messages * points, "every point exactly once");
    assert_eq!(counts.series, series);
    if compaction.max_points == 1 {
        assert!(counts.chunks > 0, "compaction ran alongside the writes");
    }
}

/// Compaction after every batch, racing the writes.
fn eager_compaction() -> CompactionConfig {
    CompactionConfig { max_points: 1, max_age: Duration::from_millis(1), ..CompactionConfig::default() }
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_bus_one_worker() {
    let bus = Arc::new(MemoryBus::new(MemoryBusConfig::default()));
    exactly_once_across_restart(bus, "ingest.p.metrics", 1, CompactionConfig::default()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_bus_three_workers() {
    let bus = Arc::new(MemoryBus::new(MemoryBusConfig::default()));
    exactly_once_across_restart(bus, "ingest.p.metrics", 3, eager_compaction()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn jetstream_two_workers() {
    let url = std::env::var("CLOUDGRID_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let id = format!("{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    let mut cfg = JetStreamConfig::ingest(url.clone()).with_namespace(format!("cgpipe{id}"));
    cfg.max_bytes = 64 << 20;
    let bus = JetStreamBus::connect(&cfg)
        .await
        .unwrap_or_else(|e| panic!("NATS with JetStream must run at {url}: {e}"));
    exactly_once_across_restart(Arc::new(bus.clone()), "ingest.p.metrics", 2, eager_compaction()).await;
    bus.delete_stream().await.expect("cleanup");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_consumer_is_replaced_without_loss_or_duplicates() {
    let bus = Arc::new(MemoryBus::new(MemoryBusConfig::default()));
    let store = Store::open(&SurrealConfig::mem()).await.expect("store");
    let writer = Arc::new(SurrealWriter::new(store.clone()));
    publish_all(&*bus, "ingest.p.metrics", 0..20, 3, 10).await;
    let health = Health::default();
    let p = Pipeline::start(bus.clone(), writer, config(2), health.clone()).await.expect("start");
    // Someone else takes over the consumer: the pipeline's handle goes stale.
    let _thief = bus
        .consumer(cloudgrid_proto::bus::ConsumerConfig::new(cloudgrid_proto::subjects::STORAGE_WRITE_CONSUMER))
        .await
        .expect("consumer");
    publish_all(&*bus, "ingest.p.metrics", 20..40, 3, 10).await;
    wait_for("the bus to drain", Duration::from_secs(60), async || {
        bus.stored_messages().await.expect("stored") == 0
    })
    .await;
    p.stop(Drain::InFlight).await.expect("stop");
    assert_eq!(store.counts("p").await.expect("counts").points, 400);
}

/// A bus whose consumer loses one delivery in transit, the way a reconnect can: the
/// message stays unacked on the bus and comes back later, behind newer ones.
struct LossyBus {
    inner: MemoryBus,
    lose_seq: u64,
    lost: Arc<std::sync::atomic::AtomicBool>,
}

struct LossyConsumer {
    inner: Box<dyn cloudgrid_proto::bus::Consumer>,
    lose_seq: u64,
    lost: Arc<std::sync::atomic::AtomicBool>,
}

#[async_trait]
impl Bus for LossyBus {
    async fn publish(&self, msg: Outbound) -> Result<cloudgrid_proto::bus::Receipt, cloudgrid_proto::bus::BusError> {
        self.inner.publish(msg).await
    }
    async fn consumer(
        &self,
        config: cloudgrid_proto::bus::ConsumerConfig,
    ) -> Result<Box<dyn cloudgrid_proto::bus::Consumer>, cloudgrid_proto::bus::BusError> {
        Ok(Box::new(LossyConsumer { inner: self.inner.consumer(config).await?, lose_seq: self.lose_seq, lost: self.lost.clone() }))
    }
    async fn stored_messages(&self) -> Result<u64, cloudgrid_proto::bus::BusError> {
        self.inner.stored_messages().await
    }
    async fn notify(&self, subject: &str, payload: bytes::Bytes) -> Result<(), cloudgrid_proto::bus::BusError> {
        self.inner.notify(subject, payload).await
    }
    async fn listen(&self, filter: &str) -> Result<cloudgrid_proto::bus::Listener, cloudgrid_proto::bus::BusError> {
        self.inner.listen(filter).await
    }
}

#[async_trait]
impl cloudgrid_proto::bus::Consumer for LossyConsumer {
    async fn fetch(
        &mut self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<cloudgrid_proto::bus::Delivery>, cloudgrid_proto::bus::BusError> {
        let mut batch = self.inner.fetch(max, wait).await?;
        if !self.lost.load(Ordering::SeqCst)
            && let Some(i) = batch.iter().position(|d| d.stream_seq == self.lose_seq)
        {
            self.lost.store(true, Ordering::SeqCst);
            drop(batch.remove(i));
        }
        Ok(batch)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delivery_lost_in_transit_is_applied_once_in_order() {
    let lost = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let bus = Arc::new(LossyBus { inner: MemoryBus::new(MemoryBusConfig::default()), lose_seq: 3, lost: lost.clone() });
    let store = Store::open(&SurrealConfig::mem()).await.expect("store");
    publish_all(&*bus, "ingest.p.metrics", 0..12, 3, 10).await;
    // A short ack_wait makes the lost message come back quickly, behind newer ones.
    let config = PipelineConfig { ack_wait_ms: 500, ..config(2) };
    let p = Pipeline::start(bus.clone(), Arc::new(SurrealWriter::new(store.clone())), config, Health::default())
        .await
        .expect("start");
    wait_for("the bus to drain", Duration::from_secs(60), async || {
        bus.stored_messages().await.expect("stored") == 0
    })
    .await;
    p.stop(Drain::InFlight).await.expect("stop");
    assert!(lost.load(Ordering::SeqCst), "a delivery was lost");
    assert_eq!(store.counts("p").await.expect("counts").points, 120, "every point exactly once");
}

/// Commits the first write but reports it failed, as when a connection drops after
/// the commit and before the answer.
struct LostAnswer {
    inner: SurrealWriter,
    lose: AtomicUsize,
}

#[async_trait]
impl TelemetryWriter for LostAnswer {
    async fn apply(&self, batch: &WriteBatch) -> Result<(), SinkError> {
        self.inner.apply(batch).await?;
        if !batch.records.is_empty() && self.lose.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            return Err(SinkError::Unavailable("connection reset before the answer".into()));
        }
        Ok(())
    }
    async fn resume_points(&self) -> Result<HashMap<u32, u64>, SinkError> {
        self.inner.resume_points().await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_commit_whose_answer_was_lost_is_not_applied_again() {
    let bus = Arc::new(MemoryBus::new(MemoryBusConfig::default()));
    let store = Store::open(&SurrealConfig::mem()).await.expect("store");
    let writer = Arc::new(LostAnswer { inner: SurrealWriter::new(store.clone()), lose: AtomicUsize::new(1) });
    publish_all(&*bus, "ingest.p.metrics", 0..10, 3, 10).await;
    let p = Pipeline::start(bus.clone(), writer.clone(), config(1), Health::default()).await.expect("start");
    wait_for("the bus to drain", Duration::from_secs(60), async || {
        bus.stored_messages().await.expect("stored") == 0
    })
    .await;
    p.stop(Drain::InFlight).await.expect("stop");
    assert_eq!(writer.lose.load(Ordering::SeqCst), 0, "an answer was lost");
    assert_eq!(store.counts("p").await.expect("counts").points, 100, "every point once");
}

/// Fails the first `failures` writes as an unreachable database would.
struct Flaky {
    inner: SurrealWriter,
    failures: AtomicUsize,
}

#[async_trait]
impl TelemetryWriter for Flaky {
    async fn apply(&self, batch: &WriteBatch) -> Result<(), SinkError> {
        if self.failures.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            return Err(SinkError::Unavailable("connection refused".into()));
        }
        self.inner.apply(batch).await
    }
    async fn resume_points(&self) -> Result<HashMap<u32, u64>, SinkError> {
        self.inner.resume_points().await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn storage_outage_delays_but_loses_nothing() {
    let bus = Arc::new(MemoryBus::new(MemoryBusConfig::default()));
    let store = Store::open(&SurrealConfig::mem()).await.expect("store");
    let writer = Arc::new(Flaky { inner: SurrealWriter::new(store.clone()), failures: AtomicUsize::new(4) });
    publish_all(&*bus, "ingest.p.metrics", 0..10, 3, 10).await;
    let health = Health::default();
    let p = Pipeline::start(bus.clone(), writer.clone(), config(2), health.clone()).await.expect("start");
    wait_for("the bus to drain", Duration::from_secs(60), async || {
        bus.stored_messages().await.expect("stored") == 0
    })
    .await;
    p.stop(Drain::InFlight).await.expect("stop");
    assert_eq!(writer.failures.load(Ordering::SeqCst), 0, "the outage happened");
    assert!(health.counter("cloudgrid_pipeline_write_retries_total", "", &[]).get() >= 4);
    assert_eq!(store.counts("p").await.expect("counts").points, 100);
}

/// Holds the writes `holds` picks until the gate opens, and says when one arrived.
struct Gated {
    inner: SurrealWriter,
    open: tokio::sync::watch::Receiver<bool>,
    entered: tokio::sync::Notify,
    /// The writes held at the gate (the others pass).
    holds: fn(&WriteBatch) -> bool,
}

impl Gated {
    fn new(inner: SurrealWriter, open: tokio::sync::watch::Receiver<bool>, holds: fn(&WriteBatch) -> bool) -> Self {
        Self { inner, open, entered: tokio::sync::Notify::new(), holds }
    }
}

#[async_trait]
impl TelemetryWriter for Gated {
    async fn apply(&self, batch: &WriteBatch) -> Result<(), SinkError> {
        if (self.holds)(batch) {
            self.entered.notify_one();
            let _ = self.open.clone().wait_for(|o| *o).await;
        }
        self.inner.apply(batch).await
    }
    async fn resume_points(&self) -> Result<HashMap<u32, u64>, SinkError> {
        self.inner.resume_points().await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn fetching_pauses_while_the_bytes_in_flight_are_at_their_bound() {
    let bus = Arc::new(MemoryBus::new(MemoryBusConfig::default()));
    let store = Store::open(&SurrealConfig::mem()).await.expect("store");
    let (gate, open) = tokio::sync::watch::channel(false);
    let writer = Arc::new(Gated::new(SurrealWriter::new(store.clone()), open, |_| true));
    publish_all(&*bus, "ingest.p.metrics", 0..20, 3, 10).await;
    let health = Health::default();
    // One message's payload is past the bound: one epoch at a time.
    let cfg = PipelineConfig { workers: 1, fetch_max: 2, max_bytes_in_flight: 1, ..PipelineConfig::default() };
    let p = Pipeline::start(bus.clone(), writer.clone(), cfg, health.clone()).await.expect("start");
    writer.entered.notified().await;
    let in_flight = health.gauge("cloudgrid_pipeline_epochs_in_flight", "", &[]);
    // Nothing to await for an absence: give the host time it would use to fetch more.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(in_flight.get(), 1, "storage is stuck: no second epoch is fetched");
    gate.send(true).expect("open the gate");
    wait_for("the bus to drain", Duration::from_secs(60), async || {
        bus.stored_messages().await.expect("stored") == 0
    })
    .await;
    p.stop(Drain::InFlight).await.expect("stop");
    assert_eq!(store.counts("p").await.expect("counts").points, 200, "everything lands once the gate opens");
}

/// Two storage-write processes as one timely cluster (here two pipelines in one test
/// process, talking over loopback TCP): process 0 consumes the bus, records cross to
/// the worker of their partition in either process, and a message is acked only once
/// both processes committed its epoch. A restart of the cluster in the middle of the
/// stream still applies every point exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn two_processes_share_the_partitions_exactly_once() {
    let store = Store::open(&SurrealConfig { chunk_span_ms: 50, ..SurrealConfig::mem() }).await.expect("store");
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new(MemoryBusConfig::default()));
    let subject = "ingest.p.metrics";
    let (messages, series, points) = (60u64, 20u64, 20u64);
    let addresses = loopback_addresses(2);
    let start = async |health: &Health| {
        let config = |process| PipelineConfig {
            cluster: Some(Cluster { process, addresses: addresses.clone() }),
            ..config(1)
        };
        let writer = |store: &Store| -> Arc<dyn TelemetryWriter> {
            Arc::new(SurrealWriter::with_compaction(store.clone(), eager_compaction()))
        };
        let (p0, p1) = tokio::join!(
            Pipeline::start(bus.clone(), writer(&store), config(0), health.clone()),
            Pipeline::start(bus.clone(), writer(&store), config(1), Health::default()),
        );
        (p0.expect("process 0 starts"), p1.expect("process 1 starts"))
    };
    let stop = async |(p0, p1): (Pipeline, Pipeline)| {
        let (a, b) = tokio::join!(p0.stop(Drain::InFlight), p1.stop(Drain::InFlight));
        a.expect("process 0 stops");
        b.expect("process 1 stops");
    };

    publish_all(&*bus, subject, 0..messages / 2, series, points).await;
    let health = Health::default();
    let cluster = start(&health).await;
    let acked = health.counter("cloudgrid_pipeline_acked_total", "", &[]);
    wait_for("some messages acked", Duration::from_secs(30), async || acked.get() >= 10).await;
    stop(cluster).await;

    publish_all(&*bus, subject, messages / 2..messages, series, points).await;
    let cluster = start(&Health::default()).await;
    wait_for("the bus to drain", Duration::from_secs(60), async || bus.stored_messages().await.expect("stored") == 0).await;
    stop(cluster).await;

    let counts = store.counts("p").await.expect("counts");
    assert_eq!(counts.points, messages * points, "every point exactly once");
    assert_eq!(counts.series, series);
    // Partition p is written by worker p mod 2, i.e. by process p mod 2.
    let writer = SurrealWriter::new(store.clone());
    let resume = writer.resume_points().await.expect("resume points");
    assert!(resume.keys().any(|p| p % 2 == 0) && resume.keys().any(|p| p % 2 == 1), "both processes wrote: {resume:?}");
}

fn loopback_addresses(n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            format!("127.0.0.1:{}", l.local_addr().expect("addr").port())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_is_acked_until_every_process_committed() {
    let store = Store::open(&SurrealConfig::mem()).await.expect("store");
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new(MemoryBusConfig::default()));
    publish_all(&*bus, "ingest.p.metrics", 0..10, 20, 20).await;
    let addresses = loopback_addresses(2);
    let config = |process| PipelineConfig { cluster: Some(Cluster { process, addresses: addresses.clone() }), ..config(1) };
    let (gate, open) = tokio::sync::watch::channel(false);
    let stuck = Arc::new(Gated::new(SurrealWriter::new(store.clone()), open, |_| true));
    let health = Health::default();
    let (p0, p1) = tokio::join!(
        Pipeline::start(bus.clone(), Arc::new(SurrealWriter::new(store.clone())), config(0), health.clone()),
        Pipeline::start(bus.clone(), stuck.clone(), config(1), Health::default()),
    );
    let (p0, p1) = (p0.expect("process 0 starts"), p1.expect("process 1 starts"));
    stuck.entered.notified().await;
    // Process 0 committed its share; nothing to await for an absence of acks, so give
    // the feeder the time it would take.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let acked = health.counter("cloudgrid_pipeline_acked_total", "", &[]);
    assert_eq!(acked.get(), 0, "process 1 has not committed: nothing may be acked");
    gate.send(true).expect("open the gate");
    wait_for("the bus to drain", Duration::from_secs(60), async || bus.stored_messages().await.expect("stored") == 0).await;
    let (a, b) = tokio::join!(p0.stop(Drain::InFlight), p1.stop(Drain::InFlight));
    a.expect("process 0 stops");
    b.expect("process 1 stops");
    assert_eq!(acked.get(), 10);
    assert_eq!(store.counts("p").await.expect("counts").points, 200);
}

/// Spans and metric points arrive interleaved. Spans are committed while every metric
/// transaction is still waiting (their lanes commit apart); once metrics go through,
/// and across a restart, each is stored exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn spans_commit_while_a_metric_transaction_waits() {
    let bus = Arc::new(MemoryBus::new(MemoryBusConfig::default()));
    let store = Store::open(&SurrealConfig::mem()).await.expect("store");
    let (release, released) = tokio::sync::watch::channel(false);
    // Every write that carries metric points or rollups waits at the gate.
    let writer = Arc::new(Gated::new(SurrealWriter::new(store.clone()), released, |batch| {
        batch.has_rollups() || batch.records.iter().any(|r| cloudgrid_sinks::Lane::of(&r.record) == cloudgrid_sinks::Lane::Metrics)
    }));
    let publish = async |range: std::ops::Range<u64>| {
        for i in range {
            for (subject, payload) in [("ingest.p.metrics", envelope(i, 3, 10)), ("ingest.p.traces", span_envelope(i, 4))] {
                let msg_id = content_msg_id(subject, &payload);
                bus.publish(Outbound { subject: subject.to_string(), msg_id, payload }).await.expect("publish");
            }
        }
    };
    publish(0..10).await;
    let p = Pipeline::start(bus.clone(), writer.clone(), config(2), Health::default()).await.expect("start");
    wait_for("every span stored", Duration::from_secs(30), async || {
        store.counts("p").await.expect("counts").spans == 40
    })
    .await;
    assert_eq!(store.counts("p").await.expect("counts").points, 0, "metrics are still held");
    release.send(true).expect("release");
    wait_for("the bus to drain", Duration::from_secs(60), async || {
        bus.stored_messages().await.expect("stored") == 0
    })
    .await;
    p.stop(Drain::InFlight).await.expect("stop");

    publish(10..20).await;
    let p = Pipeline::start(bus.clone(), writer, config(2), Health::default()).await.expect("restart");
    wait_for("the bus to drain", Duration::from_secs(60), async || {
        bus.stored_messages().await.expect("stored") == 0
    })
    .await;
    p.stop(Drain::InFlight).await.expect("stop");
    let counts = store.counts("p").await.expect("counts");
    assert_eq!((counts.spans, counts.points), (80, 200), "every span and point exactly once");
}

/// With projects checked (as the product runs), storage-write stores telemetry only
/// for projects that exist, and only under the subject of its own project: what a
/// deleted project's collectors still had in flight is dropped, and a message
/// published around the collectors cannot write into another project. Both are acked
/// (nothing is redelivered forever) and counted.
#[tokio::test(flavor = "multi_thread")]
async fn only_existing_projects_are_stored_and_only_under_their_own_subject() {
    let bus = Arc::new(MemoryBus::new(MemoryBusConfig::default()));
    let store = Store::open(&SurrealConfig::mem()).await.expect("store");
    store.handle().query("CREATE project:p SET name = 'P'").await.expect("project").check().expect("created");
    let writer = Arc::new(SurrealWriter::new(store.clone()));
    let health = Health::default();
    let config = PipelineConfig { check_projects: true, ..config(1) };
    let p = Pipeline::start(bus.clone(), writer, config, health.clone()).await.expect("start");
    let publish = async |subject: &str, project: &str, range: std::ops::Range<u64>| {
        for i in range {
            let payload = envelope_of(project, i, 2, 10);
            let msg_id = content_msg_id(subject, &payload);
            bus.publish(Outbound { subject: subject.to_string(), msg_id, payload }).await.expect("publish");
        }
    };
    publish("ingest.p.metrics", "p", 0..5).await;
    publish("ingest.gone.metrics", "gone", 5..10).await;
    publish("ingest.p.metrics", "q", 10..13).await;
    wait_for("the bus to drain", Duration::from_secs(60), async || bus.stored_messages().await.expect("stored") == 0).await;
    // A project created now is stored from its first message on.
    store.handle().query("CREATE project:late SET name = 'Late'").await.expect("project").check().expect("created");
    publish("ingest.late.metrics", "late", 13..15).await;
    wait_for("the bus to drain", Duration::from_secs(60), async || bus.stored_messages().await.expect("stored") == 0).await;
    p.stop(Drain::InFlight).await.expect("stop");

    assert_eq!(store.counts("p").await.expect("counts").points, 50);
    assert_eq!(store.counts("late").await.expect("counts").points, 20);
    assert_eq!(store.counts("gone").await.expect("counts").points, 0, "a project that does not exist");
    assert_eq!(store.counts("q").await.expect("counts").points, 0, "an envelope under another project's subject");
    let text = health.render();
    assert!(text.contains(r#"cloudgrid_pipeline_refused_total{reason="unknown_project"} 5"#), "{text}");
    assert!(text.contains(r#"cloudgrid_pipeline_refused_total{reason="subject_mismatch"} 3"#), "{text}");
}
