//! The bus boundary: publish with a receipt, consume with an ack handle.
//!
//! Two transports implement it: [`jetstream::JetStreamBus`] (NATS JetStream, durable,
//! used between services) and [`memory::MemoryBus`] (one process only). Both keep the
//! same contract, checked by one conformance suite:
//! - `publish` returns only once the message is stored; a message whose id was seen
//!   within the dedupe window is not stored twice (the receipt says `duplicate`);
//! - a (re)started consumer is delivered, in stream order, every message not yet acked;
//!   while it runs, a message not acked within `ack_wait` is delivered again (possibly
//!   after newer ones);
//! - when the stream is full, `publish` fails with a retryable error and stores nothing.

pub mod jetstream;
pub mod memory;

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

/// Why a bus call failed, and whether trying again later can help.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("bus unavailable: {0}")]
    Unavailable(String),
    #[error("bus full: {0}")]
    Full(String),
    #[error("bus rejected the request: {0}")]
    Rejected(String),
}

impl BusError {
    /// A retry later may succeed (the bus is down or full), as opposed to a request the
    /// bus will never take.
    pub fn is_retryable(&self) -> bool {
        matches!(self, BusError::Unavailable(_) | BusError::Full(_))
    }
}

/// A message to publish.
#[derive(Debug, Clone)]
pub struct Outbound {
    pub subject: String,
    /// Derived from the content, so a retried publish of the same content dedupes.
    pub msg_id: String,
    pub payload: Bytes,
}

/// The bus's word that a message is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    pub stream_seq: u64,
    /// The message id was already stored within the dedupe window; nothing new stored.
    pub duplicate: bool,
}

/// One delivered message. Ack it once every effect of it is durable.
pub struct Delivery {
    pub subject: String,
    pub payload: Bytes,
    pub stream_seq: u64,
    /// 1 for a first delivery.
    pub delivery_count: u64,
    /// When the bus stored the message (by the bus's clock): how long it waited to be
    /// consumed shows in the pipeline's stage times.
    pub stored_at: std::time::SystemTime,
    pub ack: Box<dyn AckHandle>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("subject", &self.subject)
            .field("stream_seq", &self.stream_seq)
            .field("delivery_count", &self.delivery_count)
            .field("payload_bytes", &self.payload.len())
            .finish()
    }
}

/// Acknowledges one delivery.
#[async_trait]
pub trait AckHandle: Send + Sync {
    async fn ack(self: Box<Self>) -> Result<(), BusError>;
}

/// How a consumer behaves: the same knobs on both transports.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub name: String,
    /// Redeliver a message that was not acked within this time.
    pub ack_wait: Duration,
    /// At most this many messages delivered and not yet acked.
    pub max_ack_pending: usize,
}

impl ConsumerConfig {
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), ack_wait: Duration::from_secs(60), max_ack_pending: 20_000 }
    }
}

/// A live notification as a listener hears it.
#[derive(Debug, Clone, PartialEq)]
pub enum Heard {
    Notice { subject: String, payload: Bytes },
    /// The listener fell behind and this many notifications were dropped for it: what
    /// it shows may miss them until it resyncs.
    Lost(u64),
}

/// Live notifications matching one filter, as they are published.
pub type Listener = std::pin::Pin<Box<dyn futures::Stream<Item = Heard> + Send>>;

/// The bus: publish with a receipt, consume with an ack handle; and, beside the stream,
/// live notifications that are never stored.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    async fn publish(&self, msg: Outbound) -> Result<Receipt, BusError>;

    /// Publishes a live notification: delivered at most once to whoever listens at that
    /// moment, never stored; a slow listener loses notifications, it never slows the
    /// publisher.
    async fn notify(&self, subject: &str, payload: Bytes) -> Result<(), BusError>;

    /// Listens to the live notifications whose subject matches `filter` (NATS style:
    /// `*` one token, a final `>` the rest).
    async fn listen(&self, filter: &str) -> Result<Listener, BusError>;

    /// Starts (or resumes) the durable consumer `config.name`.
    async fn consumer(&self, config: ConsumerConfig) -> Result<Box<dyn Consumer>, BusError>;

    /// Messages currently stored in the stream (for health and tests).
    async fn stored_messages(&self) -> Result<u64, BusError>;

    /// The largest payload one message may carry.
    fn max_payload_bytes(&self) -> usize {
        usize::MAX
    }
}

/// A durable pull consumer.
#[async_trait]
pub trait Consumer: Send {
    /// Up to `max` messages; waits at most `wait` when none is ready, then returns an
    /// empty batch.
    async fn fetch(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BusError>;
}

/// A message id derived from the content: the same bytes on the same subject always get
/// the same id, so a client retry of one request is stored once.
pub fn content_msg_id(subject: &str, payload: &[u8]) -> String {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(subject.as_bytes());
    h.update(&[0]);
    h.update(payload);
    format!("{:032x}", h.digest128())
}
