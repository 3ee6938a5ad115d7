//! A BFF on an ephemeral port, and clients for it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cloudgrid_bff::{AppConfig, Backends, Limits};
use cloudgrid_control::ControlPlane;
use cloudgrid_control::grpc::{ControlService, GrpcControl};
use cloudgrid_proto::service_auth::ServiceToken;
use cloudgrid_read::grpc::{GrpcRead, ReadService};
use cloudgrid_operators::records::{AttrValue, LogRecord, Record, SpanRecord};
use cloudgrid_operators::rollup::Tiers;
use cloudgrid_proto::bus::Bus;
use cloudgrid_proto::bus::memory::{MemoryBus, MemoryBusConfig};
use cloudgrid_proto::health::Health;
use cloudgrid_read::{ReadConfig, StorageRead};
use cloudgrid_sinks::surreal::{Store, SurrealConfig, SurrealWriter};
use cloudgrid_sinks::{ResumeGuard, Sequenced, TelemetryWriter};
use futures::{SinkExt, StreamExt};
use prost::Message as _;
use serde_json::{Value as J, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub const MS: u64 = 1_000_000;

pub fn now_ns() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

pub struct Bff {
    pub addr: SocketAddr,
    pub health: Health,
    pub bus: Arc<MemoryBus>,
    writer: SurrealWriter,
    seq: std::sync::atomic::AtomicU64,
    _data: tempfile::TempDir,
}

/// How the BFF reaches storage-read and the control plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// In the same process (`cloudgrid all`).
    InProcess,
    /// Over their internal gRPC contracts, with a service token (services mode).
    Grpc,
}

/// Runs a test once per shape: the BFF must behave the same in both.
#[macro_export]
macro_rules! both_shapes {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn in_process() {
                super::$name($crate::support::Shape::InProcess).await
            }
            #[tokio::test]
            async fn over_grpc() {
                super::$name($crate::support::Shape::Grpc).await
            }
        }
    )*};
}

pub struct Options {
    pub limits: Limits,
    pub app: AppConfig,
    pub live_buffer: usize,
    pub shape: Shape,
    pub ingest: cloudgrid_bff::IngestEndpoints,
}

impl Options {
    pub fn shape(shape: Shape) -> Self {
        Self { shape, ..Self::default() }
    }
}

impl Default for Options {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            app: AppConfig::default(),
            live_buffer: 1024,
            shape: Shape::InProcess,
            ingest: cloudgrid_bff::IngestEndpoints::default(),
        }
    }
}

pub const TOKEN: &str = "test-service-token-test-service-token";

/// storage-read and the control plane behind their gRPC services on an ephemeral port,
/// and clients of them.
pub async fn over_grpc(read: StorageRead, control: ControlPlane) -> (Backends, String) {
    let token = ServiceToken::new(Some(TOKEN.into()));
    let control: Arc<dyn cloudgrid_control::ControlApi> = Arc::new(control);
    let routes = ControlService::add_to(tonic::service::Routes::new(ReadService::server(Arc::new(read), control.clone(), &token)), control, &token)
        .into_axum_router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, routes).await });
    let backends = Backends {
        read: Arc::new(GrpcRead::new(&url, &token).expect("read client")),
        control: Arc::new(GrpcControl::new(&url, &token).expect("control client")),
    };
    (backends, url)
}

/// The control plane over `store`, sealing provider secrets with a fresh key.
pub fn control_plane(store: Store) -> ControlPlane {
    use cloudgrid_control::secrets::{SecretKey, SecretKeys};
    let key = SecretKey::parse(&SecretKey::generate()).expect("key");
    let settings = cloudgrid_control::Settings { secret_keys: SecretKeys { current: Some(key), old: vec![] }, ..Default::default() };
    ControlPlane::with_settings(store, settings)
}

/// storage-read and the control plane on fresh embedded storage, with a project.
pub async fn services() -> (StorageRead, ControlPlane, tempfile::TempDir) {
    let store = Store::open(&SurrealConfig::mem()).await.expect("store");
    let control = control_plane(store.clone());
    let data = tempfile::tempdir().expect("tempdir");
    control.bootstrap_local(data.path()).await.expect("bootstrap");
    let bus = Arc::new(MemoryBus::new(MemoryBusConfig::default()));
    let tiers = Tiers::parse("1m,5m,1h,1d").expect("tiers");
    let read = StorageRead::new(store, tiers, bus, &Health::default(), &ReadConfig::default());
    (read, control, data)
}

impl Bff {
    pub async fn start(options: Options) -> Bff {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Self::start_on(options, listener).await
    }

    /// A BFF serving on `listener` (bound first when its address must be known before
    /// it is configured, as an identity provider's redirect URL must).
    pub async fn start_on(options: Options, listener: tokio::net::TcpListener) -> Bff {
        let store = Store::open(&SurrealConfig::mem()).await.expect("store");
        let control = control_plane(store.clone());
        let data = tempfile::tempdir().expect("tempdir");
        control.bootstrap_local(data.path()).await.expect("bootstrap");
        let bus = Arc::new(MemoryBus::new(MemoryBusConfig::default()));
        let config = ReadConfig { live_buffer: options.live_buffer, ..ReadConfig::default() };
        let tiers = Tiers::parse("1m,5m,1h,1d").expect("tiers");
        let health = Health::default();
        let read = StorageRead::new(store.clone(), tiers, bus.clone(), &health, &config);
        let backends = match options.shape {
            Shape::InProcess => Backends { read: Arc::new(read), control: Arc::new(control) },
            Shape::Grpc => over_grpc(read, control).await.0,
        };
        let control = backends.control.clone();
        let schema = cloudgrid_bff::build_with(backends, &options.limits, options.ingest.clone());
        let app = cloudgrid_bff::router(schema, control, options.app);
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Bff { addr, health, bus, writer: SurrealWriter::new(store), seq: 1.into(), _data: data }
    }

    /// Stores `records` as storage-write does, then publishes their post-persist notices.
    pub async fn persist(&self, records: Vec<Record>) {
        let records = records
            .into_iter()
            .map(|record| Sequenced { seq: self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed), record })
            .collect();
        let batch = ResumeGuard::new(HashMap::new()).admit(records);
        self.writer.apply(&batch).await.expect("write");
        for (subject, notice) in cloudgrid_sinks::live::notices(&batch, usize::MAX) {
            self.bus.notify(&subject, Bytes::from(notice.encode_to_vec())).await.expect("notify");
        }
    }

    /// Records alert transitions as storage-write's evaluation does, then tells them live.
    pub async fn record_alert_events(&self, events: &[cloudgrid_sinks::alerting::AlertEvent]) {
        self.writer.record_alert_events(events).await.expect("record alert events");
        for (subject, notice) in cloudgrid_sinks::live::alert_notices(events, usize::MAX) {
            self.bus.notify(&subject, Bytes::from(notice.encode_to_vec())).await.expect("notify");
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/graphql", self.addr)
    }

    /// A GraphQL request over HTTP; the whole response body.
    pub async fn query(&self, query: &str, variables: J) -> J {
        reqwest::Client::new()
            .post(self.url())
            .header("content-type", "application/json")
            .body(json!({"query": query, "variables": variables}).to_string())
            .send()
            .await
            .expect("request")
            .bytes()
            .await
            .map(|b| serde_json::from_slice(&b).expect("a JSON body"))
            .expect("body")
    }

    /// A GraphQL request over HTTP presenting `key` as a bearer credential: the status
    /// and the body (JSON when it is).
    pub async fn query_with_key(&self, key: &str, query: &str, variables: J) -> (u16, J) {
        let response = reqwest::Client::new()
            .post(self.url())
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {key}"))
            .body(json!({"query": query, "variables": variables}).to_string())
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let body = response.text().await.expect("body");
        (status, serde_json::from_str(&body).unwrap_or(J::String(body)))
    }

    /// A WebSocket speaking `graphql-transport-ws`, initialised.
    pub async fn ws(&self) -> Ws {
        let mut ws = Ws::connect(self.addr, None).await.expect("websocket");
        ws.init().await;
        ws
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct Ws {
    pub socket: Socket,
}

impl Ws {
    pub async fn connect(addr: SocketAddr, origin: Option<&str>) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
        let headers: Vec<(&str, String)> = origin.map(|o| ("origin", o.to_string())).into_iter().collect();
        Self::connect_with(addr, &headers).await
    }

    /// A WebSocket opened with these extra handshake headers.
    pub async fn connect_with(addr: SocketAddr, headers: &[(&str, String)]) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
        let mut request = format!("ws://{addr}/graphql").into_client_request()?;
        request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().expect("header"));
        for (name, value) in headers {
            let name = tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes()).expect("header name");
            request.headers_mut().insert(name, value.parse().expect("header"));
        }
        let (socket, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(Ws { socket })
    }

    pub async fn send(&mut self, msg: J) {
        self.socket.send(Message::text(msg.to_string())).await.expect("send");
    }

    pub async fn init(&mut self) {
        self.send(json!({"type": "connection_init", "payload": {}})).await;
        let ack = self.next().await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
    }

    pub async fn subscribe(&mut self, id: &str, query: &str, variables: J) {
        self.send(json!({"id": id, "type": "subscribe", "payload": {"query": query, "variables": variables}})).await;
    }

    /// The next protocol message if one comes within `wait`.
    pub async fn try_next(&mut self, wait: Duration) -> Option<J> {
        tokio::time::timeout(wait, self.next()).await.ok()
    }

    /// The next protocol message (pings answered on the way), within 10 s.
    pub async fn next(&mut self) -> J {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(10), self.socket.next())
                .await
                .expect("a message within 10 s")
                .expect("socket open")
                .expect("message");
            match msg {
                Message::Text(t) => {
                    let v: J = serde_json::from_str(&t).expect("json message");
                    if v["type"] == "ping" {
                        self.send(json!({"type": "pong"})).await;
                        continue;
                    }
                    return v;
                }
                Message::Close(frame) => return json!({"type": "closed", "code": frame.map(|f| u16::from(f.code))}),
                _ => continue,
            }
        }
    }
}

pub fn span(trace: u8, id: u8, service: &str, name: &str, start: u64, duration_ms: u64, status: i32) -> Record {
    Record::Span(Box::new(SpanRecord {
        project_id: "default".into(),
        trace_id: [trace; 16],
        span_id: [id; 8],
        parent_span_id: None,
        trace_state: String::new(),
        flags: 0,
        name: name.into(),
        kind: 2,
        start_unix_nano: start,
        end_unix_nano: start + duration_ms * MS,
        attributes: vec![("http.route".into(), AttrValue::Str(format!("/{name}")))],
        dropped_attributes_count: 0,
        events: vec![],
        dropped_events_count: 0,
        links: vec![],
        dropped_links_count: 0,
        status_code: status,
        status_message: String::new(),
        resource: vec![("service.name".into(), AttrValue::Str(service.into()))],
        scope_name: "test".into(),
        scope_version: String::new(),
    }))
}

pub fn log(id: u64, service: &str, severity: i32, body: &str, time: u64) -> Record {
    Record::Log(Box::new(LogRecord {
        project_id: "default".into(),
        id,
        time_unix_nano: time,
        observed_unix_nano: time,
        severity_number: severity,
        severity_text: String::new(),
        body: AttrValue::Str(body.into()),
        attributes: vec![],
        resource: vec![("service.name".into(), AttrValue::Str(service.into()))],
        scope_name: String::new(),
        scope_version: String::new(),
        trace_id: None,
        span_id: None,
        flags: 0,
        event_name: String::new(),
    }))
}
