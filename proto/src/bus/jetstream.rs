//! The NATS JetStream transport: a file-backed stream and durable pull consumers.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, stream};
use async_trait::async_trait;
use futures::StreamExt;

use super::{AckHandle, Bus, BusError, Consumer, ConsumerConfig, Delivery, Outbound, Receipt};
use crate::subjects;

/// Where the stream lives and how much it may hold.
#[derive(Debug, Clone)]
pub struct JetStreamConfig {
    pub url: String,
    pub stream: String,
    pub subjects: Vec<String>,
    /// Publishing fails (retryably) while the stream holds this much; nothing is dropped.
    pub max_bytes: i64,
    pub duplicate_window: Duration,
    /// How long a publish waits for the server's ack.
    pub publish_timeout: Duration,
}

impl JetStreamConfig {
    /// The ingest stream at `url` with default limits.
    pub fn ingest(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            stream: subjects::INGEST_STREAM.to_string(),
            subjects: vec![subjects::INGEST_FILTER.to_string()],
            max_bytes: 8 << 30,
            duplicate_window: Duration::from_secs(120),
            publish_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Clone)]
pub struct JetStreamBus {
    ctx: jetstream::Context,
    stream: stream::Stream,
}

fn unavailable(e: impl std::fmt::Display) -> BusError {
    BusError::Unavailable(e.to_string())
}

impl JetStreamBus {
    /// Connects and creates the stream, or verifies an existing one has the subjects.
    pub async fn connect(config: &JetStreamConfig) -> Result<Self, BusError> {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .retry_on_initial_connect()
            .connect(&config.url)
            .await
            .map_err(|e| unavailable(format!("connecting to NATS at {}: {e}", config.url)))?;
        // retry_on_initial_connect returns at once; make sure the server is really there.
        tokio::time::timeout(Duration::from_secs(5), client.flush())
            .await
            .map_err(|_| unavailable(format!("NATS at {} did not answer in 5s", config.url)))?
            .map_err(|e| unavailable(format!("NATS at {}: {e}", config.url)))?;
        let mut ctx = jetstream::new(client);
        ctx.set_timeout(config.publish_timeout);
        let wanted = stream::Config {
            name: config.stream.clone(),
            subjects: config.subjects.clone(),
            max_bytes: config.max_bytes,
            discard: stream::DiscardPolicy::New,
            // Acked messages leave the stream: it holds exactly what is not yet applied.
            retention: stream::RetentionPolicy::WorkQueue,
            storage: stream::StorageType::File,
            duplicate_window: config.duplicate_window,
            ..Default::default()
        };
        let mut stream = ctx
            .get_or_create_stream(wanted)
            .await
            .map_err(|e| unavailable(format!("creating stream {}: {e}", config.stream)))?;
        let info = stream.info().await.map_err(unavailable)?;
        for s in &config.subjects {
            if !info.config.subjects.contains(s) {
                return Err(BusError::Rejected(format!(
                    "stream {} exists without subject {s}; its subjects are {:?}",
                    config.stream, info.config.subjects
                )));
            }
        }
        Ok(Self { ctx, stream })
    }

    /// Deletes the stream (tests and `reset` tooling only).
    pub async fn delete_stream(&self) -> Result<(), BusError> {
        let name = self.stream.cached_info().config.name.clone();
        self.ctx.delete_stream(&name).await.map_err(unavailable)?;
        Ok(())
    }
}

#[async_trait]
impl Bus for JetStreamBus {
    async fn publish(&self, msg: Outbound) -> Result<Receipt, BusError> {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", msg.msg_id.as_str());
        let ack = self
            .ctx
            .publish_with_headers(msg.subject, headers, msg.payload)
            .await
            .map_err(publish_error)?
            .await
            .map_err(publish_error)?;
        Ok(Receipt { stream_seq: ack.sequence, duplicate: ack.duplicate })
    }

    async fn consumer(&self, config: ConsumerConfig) -> Result<Box<dyn Consumer>, BusError> {
        // Start over from the oldest unacked message, in stream order: a durable consumer
        // left by a crashed process would only redeliver its pending messages after
        // `ack_wait`, behind newer ones. The work-queue stream keeps every unacked
        // message, so deleting the consumer loses nothing.
        match self.stream.delete_consumer(&config.name).await {
            Ok(_) => {}
            Err(e) if e.to_string().contains("not found") => {}
            Err(e) => return Err(unavailable(format!("resetting consumer {}: {e}", config.name))),
        }
        let consumer: jetstream::consumer::PullConsumer = self
            .stream
            .create_consumer(
                pull::Config {
                    durable_name: Some(config.name.clone()),
                    ack_policy: jetstream::consumer::AckPolicy::Explicit,
                    ack_wait: config.ack_wait,
                    max_ack_pending: i64::try_from(config.max_ack_pending).unwrap_or(i64::MAX),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| unavailable(format!("creating consumer {}: {e}", config.name)))?;
        let messages = consumer
            .stream()
            .max_messages_per_batch(1000)
            .heartbeat(Duration::from_secs(5))
            .expires(Duration::from_secs(10))
            .messages()
            .await
            .map_err(unavailable)?;
        Ok(Box::new(JetStreamConsumer { messages }))
    }

    async fn stored_messages(&self) -> Result<u64, BusError> {
        let info = self.stream.get_info().await.map_err(unavailable)?;
        Ok(info.state.messages)
    }
}

fn publish_error(e: async_nats::jetstream::context::PublishError) -> BusError {
    use async_nats::jetstream::context::PublishErrorKind as K;
    let text = e.to_string();
    match e.kind() {
        K::MaxPayloadExceeded => BusError::Rejected(text),
        _ if text.contains("maximum") => BusError::Full(text),
        _ => BusError::Unavailable(text),
    }
}

struct JetStreamConsumer {
    messages: pull::Stream,
}

impl JetStreamConsumer {
    fn delivery(msg: jetstream::Message) -> Result<Delivery, BusError> {
        let (stream_seq, delivery_count) = {
            let info = msg.info().map_err(|e| unavailable(format!("bad ack subject: {e}")))?;
            (info.stream_sequence, u64::try_from(info.delivered).unwrap_or(1))
        };
        let (msg, acker) = msg.split();
        Ok(Delivery {
            subject: msg.subject.to_string(),
            payload: msg.payload,
            stream_seq,
            delivery_count,
            ack: Box::new(JetStreamAck(acker)),
        })
    }
}

#[async_trait]
impl Consumer for JetStreamConsumer {
    async fn fetch(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BusError> {
        let mut out = Vec::new();
        let first = match tokio::time::timeout(wait, self.messages.next()).await {
            Err(_) => return Ok(out),
            Ok(None) => return Err(unavailable("consumer stream ended")),
            Ok(Some(m)) => m.map_err(unavailable)?,
        };
        out.push(Self::delivery(first)?);
        // Take what is already buffered without waiting again.
        while out.len() < max {
            match futures::FutureExt::now_or_never(self.messages.next()) {
                Some(Some(m)) => out.push(Self::delivery(m.map_err(unavailable)?)?),
                Some(None) | None => break,
            }
        }
        Ok(out)
    }
}

struct JetStreamAck(jetstream::message::Acker);

#[async_trait]
impl AckHandle for JetStreamAck {
    async fn ack(self: Box<Self>) -> Result<(), BusError> {
        self.0.ack().await.map_err(|e| unavailable(format!("ack: {e}")))
    }
}
