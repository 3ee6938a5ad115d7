//! The NATS JetStream transport: a file-backed stream and durable pull consumers.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, stream};
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;

use super::{AckHandle, Bus, BusError, Consumer, ConsumerConfig, Delivery, Heard, Listener, Outbound, Receipt};
use crate::subjects;

/// Where the stream lives and how much it may hold.
#[derive(Debug, Clone)]
pub struct JetStreamConfig {
    pub url: String,
    /// Prefix of every subject and of the stream name, so several CloudGrid
    /// deployments (or test runs) can share one NATS server.
    pub namespace: String,
    /// Publishing fails (retryably) while the stream holds this much; nothing is dropped.
    /// The server reserves it from its storage when the stream is created.
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
            namespace: "cloudgrid".to_string(),
            max_bytes: 1 << 30,
            duplicate_window: Duration::from_secs(120),
            publish_timeout: Duration::from_secs(10),
        }
    }

    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    fn stream_name(&self) -> String {
        format!("{}_INGEST", self.namespace.to_uppercase().replace(['.', '-'], "_"))
    }

    pub fn validate(&self) -> Result<(), BusError> {
        if !subjects::is_valid_token(&self.namespace) {
            return Err(BusError::Rejected(format!(
                "CLOUDGRID_NATS_NAMESPACE must be lowercase letters, digits, '-' or '_', got {:?}",
                self.namespace
            )));
        }
        Ok(())
    }
}

#[derive(Clone)]
pub struct JetStreamBus {
    /// Core NATS, for live notifications (never stored).
    client: async_nats::Client,
    ctx: jetstream::Context,
    stream: stream::Stream,
    /// `<namespace>.`, put in front of every logical subject.
    prefix: String,
    /// The server's `max_payload`, less room for headers.
    max_payload: usize,
}

fn unavailable(e: impl std::fmt::Display) -> BusError {
    BusError::Unavailable(e.to_string())
}

/// The credentials in the first server URL that has some: `user:password@`, or a
/// token as `token@`; percent-decoded.
fn credentials(urls: &str) -> Option<(String, Option<String>)> {
    let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
    urls.split(',').filter_map(|u| url::Url::parse(u.trim()).ok()).find(|u| !u.username().is_empty()).map(|u| {
        (decode(u.username()), u.password().map(decode))
    })
}

/// NATS server URLs (comma-separated) as they may be shown: a password in one
/// (`nats://user:password@host`), or a token (`nats://token@host`), is shown as `***`.
pub fn redacted(urls: &str) -> String {
    urls.split(',')
        .map(|text| match url::Url::parse(text.trim()) {
            Ok(mut u) if u.password().is_some() => {
                let _ = u.set_password(Some("***"));
                u.to_string()
            }
            Ok(mut u) if !u.username().is_empty() => {
                let _ = u.set_username("***");
                u.to_string()
            }
            _ => text.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

impl JetStreamBus {
    /// Connects and creates the stream, or verifies an existing one has the subjects.
    pub async fn connect(config: &JetStreamConfig) -> Result<Self, BusError> {
        config.validate()?;
        let mut options = async_nats::ConnectOptions::new();
        match credentials(&config.url) {
            Some((user, Some(password))) => options = options.user_and_password(user, password),
            Some((token, None)) => options = options.token(token),
            None => {}
        }
        let client = options
            .connection_timeout(Duration::from_secs(5))
            .retry_on_initial_connect()
            .connect(&config.url)
            .await
            .map_err(|e| unavailable(format!("connecting to NATS at {}: {e}", redacted(&config.url))))?;
        // retry_on_initial_connect returns at once; make sure the server is really there.
        tokio::time::timeout(Duration::from_secs(5), client.flush())
            .await
            .map_err(|_| unavailable(format!("NATS at {} did not answer in 5s (is it running, and are the credentials right?)", redacted(&config.url))))?
            .map_err(|e| unavailable(format!("NATS at {}: {e}", redacted(&config.url))))?;
        // NATS's default max_payload is 1 MiB; trust the server's word when it gave one.
        let max_payload = match client.server_info().max_payload {
            0 => 1 << 20,
            n => n,
        }
        .saturating_sub(512);
        let mut ctx = jetstream::new(client.clone());
        ctx.set_timeout(config.publish_timeout);
        let name = config.stream_name();
        let filter = format!("{}.{}", config.namespace, subjects::INGEST_FILTER);
        let wanted = stream::Config {
            name: name.clone(),
            subjects: vec![filter.clone()],
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
            .map_err(|e| unavailable(format!("creating stream {name}: {e}")))?;
        let info = stream.info().await.map_err(unavailable)?;
        if !info.config.subjects.contains(&filter) {
            return Err(BusError::Rejected(format!(
                "stream {name} exists without subject {filter}; its subjects are {:?}",
                info.config.subjects
            )));
        }
        Ok(Self { client, ctx, stream, prefix: format!("{}.", config.namespace), max_payload })
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
            .publish_with_headers(format!("{}{}", self.prefix, msg.subject), headers, msg.payload)
            .await
            .map_err(publish_error)?
            .await
            .map_err(publish_error)?;
        Ok(Receipt { stream_seq: ack.sequence, duplicate: ack.duplicate })
    }

    async fn notify(&self, subject: &str, payload: Bytes) -> Result<(), BusError> {
        self.client.publish(format!("{}{subject}", self.prefix), payload).await.map_err(unavailable)
    }

    async fn listen(&self, filter: &str) -> Result<Listener, BusError> {
        let subscriber = self.client.subscribe(format!("{}{filter}", self.prefix)).await.map_err(unavailable)?;
        // The server has the subscription once the flush returns: what is published
        // after `listen` returns is heard.
        self.client.flush().await.map_err(unavailable)?;
        let prefix = self.prefix.clone();
        Ok(Box::pin(subscriber.map(move |m| Heard::Notice {
            subject: m.subject.strip_prefix(prefix.as_str()).unwrap_or(&m.subject).to_string(),
            payload: m.payload,
        })))
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
        Ok(Box::new(JetStreamConsumer { messages, prefix: self.prefix.clone() }))
    }

    async fn stored_messages(&self) -> Result<u64, BusError> {
        let info = self.stream.get_info().await.map_err(unavailable)?;
        Ok(info.state.messages)
    }

    fn max_payload_bytes(&self) -> usize {
        self.max_payload
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
    prefix: String,
}

impl JetStreamConsumer {
    fn delivery(&self, msg: jetstream::Message) -> Result<Delivery, BusError> {
        let (stream_seq, delivery_count, stored_at) = {
            let info = msg.info().map_err(|e| unavailable(format!("bad ack subject: {e}")))?;
            let nanos = u64::try_from(info.published.unix_timestamp_nanos()).unwrap_or(0);
            let stored_at = std::time::UNIX_EPOCH + Duration::from_nanos(nanos);
            (info.stream_sequence, u64::try_from(info.delivered).unwrap_or(1), stored_at)
        };
        let (msg, acker) = msg.split();
        Ok(Delivery {
            subject: msg.subject.strip_prefix(self.prefix.as_str()).unwrap_or(&msg.subject).to_string(),
            payload: msg.payload,
            stream_seq,
            delivery_count,
            stored_at,
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
        out.push(self.delivery(first)?);
        // Take what is already buffered without waiting again. An error here ends the
        // batch but does not drop what was already taken; it shows again next call.
        while out.len() < max {
            match futures::FutureExt::now_or_never(self.messages.next()) {
                Some(Some(Ok(m))) => match self.delivery(m) {
                    Ok(d) => out.push(d),
                    Err(_) => break,
                },
                Some(Some(Err(_))) | Some(None) | None => break,
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

#[cfg(test)]
mod tests {
    use super::{credentials, redacted};

    #[test]
    fn passwords_in_server_urls_are_never_shown() {
        assert_eq!(redacted("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
        assert_eq!(redacted("nats://writer:s3cret@nats:4222"), "nats://writer:***@nats:4222");
        assert_eq!(redacted("nats://tok3n@nats:4222"), "nats://***@nats:4222");
        assert_eq!(redacted("tls://a:p@n1:4222,tls://b:q@n2:4222/x"), "tls://a:***@n1:4222,tls://b:***@n2:4222/x");
        assert_eq!(redacted("nats://u:p%40ss@h"), "nats://u:***@h");
    }

    #[test]
    fn credentials_come_from_the_url_decoded() {
        assert_eq!(credentials("nats://127.0.0.1:4222"), None);
        assert_eq!(credentials("nats://writer:p%40ss@nats:4222"), Some(("writer".into(), Some("p@ss".into()))));
        assert_eq!(credentials("nats://n1:4222,nats://tok3n@n2:4222"), Some(("tok3n".into(), None)));
    }
}
