//! One conformance suite for the `Bus` contract, run against the in-process transport
//! and against JetStream on the NATS server at `CLOUDGRID_TEST_NATS_URL`
//! (default 127.0.0.1:4222). A NATS server that does not answer fails the run.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cloudgrid_proto::bus::jetstream::{JetStreamBus, JetStreamConfig};
use cloudgrid_proto::bus::memory::{MemoryBus, MemoryBusConfig};
use cloudgrid_proto::bus::{Bus, BusError, ConsumerConfig, Delivery, Heard, Outbound, content_msg_id};
use futures::StreamExt;

fn nats_url() -> String {
    std::env::var("CLOUDGRID_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// A bus on a stream of its own, so tests do not see each other's messages.
async fn jetstream(max_bytes: i64) -> JetStreamBus {
    let id = format!("{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    let mut config = JetStreamConfig::ingest(nats_url()).with_namespace(format!("cgtest{id}"));
    config.max_bytes = max_bytes;
    JetStreamBus::connect(&config)
        .await
        .unwrap_or_else(|e| panic!("NATS with JetStream must run at {} for this suite: {e}", nats_url()))
}

struct Subject(String);

impl Subject {
    fn msg(&self, body: &str) -> Outbound {
        let payload = Bytes::from(body.to_string());
        Outbound { subject: self.0.clone(), msg_id: content_msg_id(&self.0, &payload), payload }
    }
}

async fn fetch_n(c: &mut Box<dyn cloudgrid_proto::bus::Consumer>, n: usize) -> Vec<Delivery> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while out.len() < n && tokio::time::Instant::now() < deadline {
        out.extend(c.fetch(n - out.len(), Duration::from_millis(500)).await.expect("fetch"));
    }
    out
}

fn bodies(d: &[Delivery]) -> Vec<String> {
    d.iter().map(|d| String::from_utf8_lossy(&d.payload).into_owned()).collect()
}

async fn ack_all(d: Vec<Delivery>) {
    for m in d {
        m.ack.ack().await.expect("ack");
    }
}

async fn suite(bus: Arc<dyn Bus>, subject: Subject, name: &str) {
    // Publish answers with increasing sequences; a repeated id is not stored again.
    let a = bus.publish(subject.msg("a")).await.expect("publish");
    let b = bus.publish(subject.msg("b")).await.expect("publish");
    let again = bus.publish(subject.msg("a")).await.expect("publish");
    assert!(b.stream_seq > a.stream_seq && !a.duplicate && !b.duplicate, "{name}");
    assert!(again.duplicate && again.stream_seq == a.stream_seq, "{name}: {again:?}");
    assert_eq!(bus.stored_messages().await.expect("stored"), 2, "{name}");

    // In order; unacked messages come back, in order, to a restarted consumer.
    let config = ConsumerConfig::new(format!("conformance-{}", name.to_lowercase()));
    let mut consumer = bus.consumer(config.clone()).await.expect("consumer");
    let got = fetch_n(&mut consumer, 2).await;
    assert_eq!(bodies(&got), ["a", "b"], "{name}");
    assert_eq!(got[0].delivery_count, 1);
    let mut got = got.into_iter();
    let first = got.next().expect("a");
    first.ack.ack().await.expect("ack");
    drop(got);
    drop(consumer);
    bus.publish(subject.msg("c")).await.expect("publish");
    let mut consumer = bus.consumer(config.clone()).await.expect("consumer again");
    let got = fetch_n(&mut consumer, 2).await;
    assert_eq!(bodies(&got), ["b", "c"], "{name}: a restarted consumer resumes at the oldest unacked");
    ack_all(got).await;

    // Acked messages leave; an empty fetch waits at most as long as asked.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while bus.stored_messages().await.expect("stored") > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(bus.stored_messages().await.expect("stored"), 0, "{name}");
    let started = std::time::Instant::now();
    assert!(consumer.fetch(10, Duration::from_millis(300)).await.expect("fetch").is_empty());
    assert!(started.elapsed() < Duration::from_secs(3), "{name}");

    // Not acked within ack_wait: delivered again, with a higher delivery count.
    drop(consumer);
    let mut short = config.clone();
    short.ack_wait = Duration::from_millis(500);
    let mut consumer = bus.consumer(short).await.expect("consumer");
    bus.publish(subject.msg("d")).await.expect("publish");
    let got = fetch_n(&mut consumer, 1).await;
    assert_eq!(bodies(&got), ["d"], "{name}");
    drop(got);
    let again = fetch_n(&mut consumer, 1).await;
    assert_eq!(bodies(&again), ["d"], "{name}");
    assert!(again[0].delivery_count >= 2, "{name}");
    ack_all(again).await;
}

async fn full_is_retryable(bus: Arc<dyn Bus>, subject: Subject, name: &str) {
    let mut full = None;
    for i in 0..64 {
        match bus.publish(subject.msg(&format!("{i:0>1000}"))).await {
            Ok(_) => {}
            Err(e) => {
                full = Some(e);
                break;
            }
        }
    }
    let e = full.unwrap_or_else(|| panic!("{name}: a small stream must fill up"));
    assert!(matches!(e, BusError::Full(_)) && e.is_retryable(), "{name}: {e}");
}

async fn next(l: &mut cloudgrid_proto::bus::Listener) -> (String, String) {
    match tokio::time::timeout(Duration::from_secs(5), l.next()).await.expect("a notification within 5 s").expect("listener open") {
        Heard::Notice { subject, payload } => (subject, String::from_utf8_lossy(&payload).into_owned()),
        Heard::Lost(n) => panic!("lost {n}"),
    }
}

/// Live notifications reach the listeners whose filter matches, in publish order, and
/// are not stored in the stream.
async fn live_suite(bus: Arc<dyn Bus>, name: &str) {
    let mut p1 = bus.listen("live.p1.>").await.expect("listen");
    let mut spans = bus.listen("live.*.spans").await.expect("listen");
    let before = bus.stored_messages().await.expect("stored");
    for (subject, body) in [("live.p1.spans", "a"), ("live.p2.spans", "b"), ("live.p1.logs", "c")] {
        bus.notify(subject, Bytes::from(body)).await.expect("notify");
    }
    assert_eq!(next(&mut p1).await, ("live.p1.spans".to_string(), "a".to_string()), "{name}");
    assert_eq!(next(&mut p1).await, ("live.p1.logs".to_string(), "c".to_string()), "{name}");
    assert_eq!(next(&mut spans).await, ("live.p1.spans".to_string(), "a".to_string()), "{name}");
    assert_eq!(next(&mut spans).await, ("live.p2.spans".to_string(), "b".to_string()), "{name}");
    assert_eq!(bus.stored_messages().await.expect("stored"), before, "{name}: notifications are not stored");
}

#[tokio::test]
async fn memory_bus_keeps_the_live_contract_and_reports_loss() {
    let bus = Arc::new(MemoryBus::new(MemoryBusConfig::default()));
    live_suite(bus.clone(), "memory").await;
    // A listener that does not keep up hears how much it lost, then the newest.
    let mut slow = bus.listen("live.p.>").await.expect("listen");
    for i in 0..5000 {
        bus.notify("live.p.logs", Bytes::from(i.to_string())).await.expect("notify");
    }
    match slow.next().await {
        Some(Heard::Lost(n)) => assert!(n >= 5000 - 4096, "lost {n}"),
        other => panic!("expected a loss report, got {other:?}"),
    }
    // What follows the loss is the oldest still held.
    assert!(matches!(slow.next().await, Some(Heard::Notice { .. })));
}

#[tokio::test]
async fn jetstream_bus_keeps_the_live_contract() {
    let bus = jetstream(8 << 20).await;
    live_suite(Arc::new(bus.clone()), "jetstream").await;
    bus.delete_stream().await.expect("cleanup");
}

#[tokio::test]
async fn memory_bus_keeps_the_contract() {
    let bus = Arc::new(MemoryBus::new(MemoryBusConfig::default()));
    suite(bus, Subject("ingest.p.logs".into()), "memory").await;
    let small = MemoryBusConfig { max_bytes: 8 << 10, room_wait: Duration::from_millis(50), ..MemoryBusConfig::default() };
    full_is_retryable(Arc::new(MemoryBus::new(small)), Subject("ingest.p.logs".into()), "memory").await;
}

/// A publish into a full in-process stream waits for room: it is stored once a consumer
/// acks enough, and it was not stored before.
#[tokio::test]
async fn a_publish_into_a_full_memory_bus_waits_for_acks_to_make_room() {
    let config = MemoryBusConfig { max_bytes: 2000, room_wait: Duration::from_secs(30), ..MemoryBusConfig::default() };
    let bus = Arc::new(MemoryBus::new(config));
    let subject = Subject("ingest.p.metrics".into());
    let mut consumer = bus.consumer(ConsumerConfig::new("slow")).await.expect("consumer");
    bus.publish(subject.msg(&"a".repeat(1000))).await.expect("publish");
    bus.publish(subject.msg(&"b".repeat(1000))).await.expect("publish");

    let waiting = tokio::spawn({
        let bus = bus.clone();
        let msg = subject.msg(&"c".repeat(1000));
        async move { bus.publish(msg).await }
    });
    // On this single-threaded runtime the publish runs to its first wait while the
    // test yields.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    // The consumer sees only what was stored: the third publish is not in the stream.
    let got = fetch_n(&mut consumer, 2).await;
    assert_eq!(got.len(), 2);
    assert_eq!(bus.stored_messages().await.expect("stored"), 2);
    assert!(!waiting.is_finished(), "a publish into a full stream waits");

    ack_all(got).await;
    let receipt = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the publish completes once acks made room")
        .expect("task")
        .expect("publish");
    assert_eq!(receipt.stream_seq, 3);
    assert_eq!(bodies(&fetch_n(&mut consumer, 1).await), ["c".repeat(1000)]);
}

#[tokio::test]
async fn jetstream_bus_keeps_the_contract() {
    let bus = jetstream(64 << 20).await;
    suite(Arc::new(bus.clone()), Subject("ingest.p.logs".into()), "jetstream").await;
    bus.delete_stream().await.expect("cleanup");

    let small = jetstream(8 << 10).await;
    full_is_retryable(Arc::new(small.clone()), Subject("ingest.p.logs".into()), "jetstream").await;
    small.delete_stream().await.expect("cleanup");
}

#[tokio::test]
async fn the_memory_bus_reports_the_backlog_it_holds() {
    let health = cloudgrid_proto::health::Health::default();
    let bus = MemoryBus::reporting(MemoryBusConfig::default(), &health);
    let held = |name: &str| -> u64 {
        let text = health.render();
        let line = text.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name} in\n{text}"));
        line.rsplit(' ').next().and_then(|v| v.parse().ok()).expect("a value")
    };
    let subject = Subject("ingest.p.logs".into());
    let mut consumer = bus.consumer(ConsumerConfig::new("backlog")).await.expect("consumer");
    bus.publish(subject.msg("abc")).await.expect("publish");
    bus.publish(subject.msg("defgh")).await.expect("publish");
    assert_eq!((held("cloudgrid_memory_bus_stored_bytes"), held("cloudgrid_memory_bus_stored_messages")), (8, 2));
    let mut got = fetch_n(&mut consumer, 2).await.into_iter();
    got.next().expect("first").ack.ack().await.expect("ack");
    assert_eq!((held("cloudgrid_memory_bus_stored_bytes"), held("cloudgrid_memory_bus_stored_messages")), (5, 1));
    got.next().expect("second").ack.ack().await.expect("ack");
    assert_eq!((held("cloudgrid_memory_bus_stored_bytes"), held("cloudgrid_memory_bus_stored_messages")), (0, 0));
}
