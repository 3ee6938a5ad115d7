//! The in-process bus: the same contract as JetStream, inside one process.
//!
//! Messages live in memory until every consumer registered on the stream acked them.
//! Nothing survives the process; use JetStream where acknowledged data must outlive a
//! crash.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::Notify;

use super::{AckHandle, Bus, BusError, Consumer, ConsumerConfig, Delivery, Heard, Listener, Outbound, Receipt};
use crate::health::{Gauge, Health};
use crate::subjects;

/// Live notifications held for listeners that have not taken them yet; a listener
/// further behind loses the oldest (and hears how many).
const LIVE_BUFFER: usize = 4096;

/// Limits of the in-process stream.
#[derive(Debug, Clone)]
pub struct MemoryBusConfig {
    /// Past this many stored payload bytes a publish waits for consumers to ack enough
    /// to make room, up to `room_wait`, then fails with [`BusError::Full`].
    pub max_bytes: usize,
    /// How long a publish waits for room in a full stream: a short wait turns a
    /// backlog into backpressure on the sender's request instead of a refusal that
    /// sends it away for a `Retry-After`.
    pub room_wait: Duration,
    pub duplicate_window: Duration,
    /// Largest payload of one message (unbounded by default; set it to mimic a server).
    pub max_payload_bytes: usize,
    /// The stream sequence of the first message. The bus lives and dies with its
    /// process, but what storage applied is recorded by sequence: a process that finds
    /// sequences applied by an earlier one numbers on after them, or its new messages
    /// would be taken for redeliveries of old ones.
    pub first_seq: u64,
}

impl Default for MemoryBusConfig {
    fn default() -> Self {
        Self {
            max_bytes: 32 << 20,
            room_wait: Duration::from_secs(5),
            duplicate_window: Duration::from_secs(120),
            max_payload_bytes: usize::MAX,
            first_seq: 1,
        }
    }
}

#[derive(Clone)]
pub struct MemoryBus {
    shared: Arc<Shared>,
}

struct Shared {
    config: MemoryBusConfig,
    state: Mutex<State>,
    published: Notify,
    /// Woken when acks free stored bytes.
    trimmed: Notify,
    live: tokio::sync::broadcast::Sender<(Arc<str>, Bytes)>,
    /// What the stream holds, bytes and messages, where it is reported.
    held: Option<(Gauge, Gauge)>,
}

struct Stored {
    subject: String,
    payload: Bytes,
    at: std::time::SystemTime,
}

#[derive(Default)]
struct State {
    /// Stream sequence of `log[0]`.
    first_seq: u64,
    log: VecDeque<Stored>,
    stored_bytes: usize,
    next_seq: u64,
    dedupe: HashMap<String, (u64, Instant)>,
    dedupe_order: VecDeque<(Instant, String)>,
    consumers: HashMap<String, ConsumerState>,
}

struct ConsumerState {
    config: ConsumerConfig,
    /// Next sequence never delivered to this consumer.
    next_new: u64,
    /// Delivered, not acked: seq → (redeliver after, deliveries so far).
    pending: BTreeMap<u64, (Instant, u64)>,
    /// Everything below this sequence is acked.
    ack_floor: u64,
    acked_above_floor: std::collections::BTreeSet<u64>,
    /// Bumped on every re-subscribe so a stale handle can tell.
    generation: u64,
}

impl MemoryBus {
    pub fn new(config: MemoryBusConfig) -> Self {
        Self::build(config, None)
    }

    /// A bus whose stored bytes and messages (published and not yet acked by every
    /// consumer) are reported on `health`: the memory a backlog holds in this process.
    pub fn reporting(config: MemoryBusConfig, health: &Health) -> Self {
        let bytes = health.gauge("cloudgrid_memory_bus_stored_bytes", "Payload bytes the in-process bus holds (not yet acked)", &[]);
        let messages = health.gauge("cloudgrid_memory_bus_stored_messages", "Messages the in-process bus holds (not yet acked)", &[]);
        Self::build(config, Some((bytes, messages)))
    }

    fn build(config: MemoryBusConfig, held: Option<(Gauge, Gauge)>) -> Self {
        let first = config.first_seq.max(1);
        let state = State { first_seq: first, next_seq: first, ..State::default() };
        Self {
            shared: Arc::new(Shared {
                config,
                state: Mutex::new(state),
                published: Notify::new(),
                trimmed: Notify::new(),
                live: tokio::sync::broadcast::channel(LIVE_BUFFER).0,
                held,
            }),
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn report(&self, st: &State) {
        if let Some((bytes, messages)) = &self.held {
            bytes.set(st.stored_bytes as u64);
            messages.set(st.log.len() as u64);
        }
    }
}

impl State {
    fn expire_dedupe(&mut self, now: Instant, window: Duration) {
        while let Some((at, _)) = self.dedupe_order.front() {
            if now.duration_since(*at) < window {
                break;
            }
            if let Some((_, id)) = self.dedupe_order.pop_front()
                && self.dedupe.get(&id).is_some_and(|(_, t)| now.duration_since(*t) >= window) {
                    self.dedupe.remove(&id);
                }
        }
    }

    /// Drops the stored prefix every consumer has acked; says whether any was dropped.
    fn trim(&mut self) -> bool {
        let floor = self.consumers.values().map(|c| c.ack_floor).min();
        let Some(floor) = floor else { return false };
        let before = self.first_seq;
        while self.first_seq < floor {
            match self.log.pop_front() {
                Some(m) => self.stored_bytes -= m.payload.len(),
                None => break,
            }
            self.first_seq += 1;
        }
        self.first_seq > before
    }
}

#[async_trait]
impl Bus for MemoryBus {
    async fn publish(&self, msg: Outbound) -> Result<Receipt, BusError> {
        let shared = &self.shared;
        if msg.payload.len() > shared.config.max_payload_bytes {
            return Err(BusError::Rejected(format!(
                "message of {} bytes exceeds the {} byte limit",
                msg.payload.len(),
                shared.config.max_payload_bytes
            )));
        }
        let deadline = tokio::time::Instant::now() + shared.config.room_wait;
        let receipt = loop {
            // Register for acks before looking, so one in between is not missed.
            let trimmed = shared.trimmed.notified();
            {
                let mut st = shared.lock();
                let now = Instant::now();
                st.expire_dedupe(now, shared.config.duplicate_window);
                if let Some((seq, _)) = st.dedupe.get(&msg.msg_id) {
                    return Ok(Receipt { stream_seq: *seq, duplicate: true });
                }
                // An empty stream takes any message within the payload limit.
                if st.stored_bytes == 0 || st.stored_bytes + msg.payload.len() <= shared.config.max_bytes {
                    let seq = st.next_seq;
                    st.next_seq += 1;
                    st.stored_bytes += msg.payload.len();
                    st.log.push_back(Stored { subject: msg.subject, payload: msg.payload, at: std::time::SystemTime::now() });
                    st.dedupe.insert(msg.msg_id.clone(), (seq, now));
                    st.dedupe_order.push_back((now, msg.msg_id));
                    shared.report(&st);
                    break Receipt { stream_seq: seq, duplicate: false };
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(BusError::Full(format!(
                        "in-process stream holds {} bytes, limit {}; no room within {:?}",
                        st.stored_bytes, shared.config.max_bytes, shared.config.room_wait
                    )));
                }
            }
            let _ = tokio::time::timeout_at(deadline, trimmed).await;
        };
        shared.published.notify_waiters();
        Ok(receipt)
    }

    async fn notify(&self, subject: &str, payload: Bytes) -> Result<(), BusError> {
        // No listener is not an error: the notification simply reaches no one.
        let _ = self.shared.live.send((subject.into(), payload));
        Ok(())
    }

    async fn listen(&self, filter: &str) -> Result<Listener, BusError> {
        use tokio::sync::broadcast::error::RecvError;
        let filter = filter.to_string();
        let rx = self.shared.live.subscribe();
        Ok(Box::pin(futures::stream::unfold(rx, move |mut rx| {
            let filter = filter.clone();
            async move {
                loop {
                    match rx.recv().await {
                        Ok((subject, payload)) if subjects::matches(&filter, &subject) => {
                            return Some((Heard::Notice { subject: subject.to_string(), payload }, rx));
                        }
                        Ok(_) => {}
                        Err(RecvError::Lagged(n)) => return Some((Heard::Lost(n), rx)),
                        Err(RecvError::Closed) => return None,
                    }
                }
            }
        })))
    }

    async fn consumer(&self, config: ConsumerConfig) -> Result<Box<dyn Consumer>, BusError> {
        let mut st = self.shared.lock();
        let first = st.first_seq;
        let generation = match st.consumers.get_mut(&config.name) {
            Some(c) => {
                // A re-subscribe is a restart: everything unacked is due again at once.
                c.generation += 1;
                c.next_new = c.ack_floor.max(first);
                c.pending.clear();
                c.config = config.clone();
                c.generation
            }
            None => {
                st.consumers.insert(
                    config.name.clone(),
                    ConsumerState {
                        config: config.clone(),
                        next_new: first,
                        pending: BTreeMap::new(),
                        ack_floor: first,
                        acked_above_floor: Default::default(),
                        generation: 0,
                    },
                );
                0
            }
        };
        Ok(Box::new(MemoryConsumer { shared: self.shared.clone(), name: config.name, generation }))
    }

    async fn stored_messages(&self) -> Result<u64, BusError> {
        let st = self.shared.lock();
        Ok(st.log.len() as u64)
    }

    fn max_payload_bytes(&self) -> usize {
        self.shared.config.max_payload_bytes
    }
}

struct MemoryConsumer {
    shared: Arc<Shared>,
    name: String,
    generation: u64,
}

impl MemoryConsumer {
    fn take_ready(&self, max: usize) -> Result<Vec<Delivery>, BusError> {
        let mut guard = self.shared.lock();
        let now = Instant::now();
        let st = &mut *guard;
        let c = st
            .consumers
            .get_mut(&self.name)
            .ok_or_else(|| BusError::Rejected(format!("consumer {} is gone", self.name)))?;
        if c.generation != self.generation {
            return Err(BusError::Rejected(format!("consumer {} was re-subscribed", self.name)));
        }
        let ack_wait = c.config.ack_wait;
        let mut picked: Vec<(u64, u64)> = Vec::new();
        for (seq, (deadline, count)) in c.pending.iter_mut() {
            if picked.len() >= max {
                break;
            }
            if *deadline <= now {
                *deadline = now + ack_wait;
                *count += 1;
                picked.push((*seq, *count));
            }
        }
        while picked.len() < max
            && c.pending.len() < c.config.max_ack_pending
            && c.next_new < st.next_seq
        {
            let seq = c.next_new;
            c.next_new += 1;
            if c.acked_above_floor.contains(&seq) {
                continue;
            }
            c.pending.insert(seq, (now + ack_wait, 1));
            picked.push((seq, 1));
        }
        let mut out = Vec::with_capacity(picked.len());
        for (seq, count) in picked {
            let idx = seq.checked_sub(st.first_seq).and_then(|i| usize::try_from(i).ok());
            let Some(m) = idx.and_then(|i| st.log.get(i)) else { continue };
            out.push(Delivery {
                subject: m.subject.clone(),
                payload: m.payload.clone(),
                stream_seq: seq,
                delivery_count: count,
                stored_at: m.at,
                ack: Box::new(MemoryAck {
                    shared: self.shared.clone(),
                    name: self.name.clone(),
                    seq,
                }),
            });
        }
        Ok(out)
    }
}

#[async_trait]
impl Consumer for MemoryConsumer {
    async fn fetch(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BusError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Register interest before looking, so a publish in between is not missed.
            let published = self.shared.published.notified();
            let batch = self.take_ready(max.max(1))?;
            if !batch.is_empty() {
                return Ok(batch);
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(batch);
            }
            // Wake for a publish, or soon enough to redeliver what timed out.
            let tick = (deadline - now).min(Duration::from_millis(200));
            let _ = tokio::time::timeout(tick, published).await;
        }
    }
}

struct MemoryAck {
    shared: Arc<Shared>,
    name: String,
    seq: u64,
}

#[async_trait]
impl AckHandle for MemoryAck {
    async fn ack(self: Box<Self>) -> Result<(), BusError> {
        let mut guard = self.shared.lock();
        let st = &mut *guard;
        let Some(c) = st.consumers.get_mut(&self.name) else { return Ok(()) };
        c.pending.remove(&self.seq);
        if self.seq >= c.ack_floor {
            c.acked_above_floor.insert(self.seq);
            while c.acked_above_floor.remove(&c.ack_floor) {
                c.ack_floor += 1;
            }
        }
        if st.trim() {
            self.shared.trimmed.notify_waiters();
        }
        self.shared.report(st);
        Ok(())
    }
}
