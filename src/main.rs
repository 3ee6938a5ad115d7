//! `cloudgrid`: the one binary. Parses configuration and wires targets together; the
//! logic lives in the crates.

mod addr;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use addr::HostPort;
use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use cloudgrid_bff::{AppConfig, Backends, Limits, UiConfig};
use cloudgrid_control::grpc::{ControlService, GrpcControl};
use cloudgrid_control::mail::{MailConfig, Mailer, SmtpConfig, SmtpTls};
use cloudgrid_control::secrets::{SecretKey, SecretKeys};
use cloudgrid_control::{ControlApi, ControlPlane, Settings};
use cloudgrid_operators::rollup::{RollupConfig, Tiers, parse_duration};
use cloudgrid_pipeline::{Cluster, Drain, Pipeline, PipelineConfig};
use cloudgrid_proto::auth::{GrpcKeyVerifier, KeyVerificationService, KeyVerifier};
use cloudgrid_proto::bus::Bus;
use cloudgrid_proto::bus::jetstream::{JetStreamBus, JetStreamConfig};
use cloudgrid_proto::bus::memory::{MemoryBus, MemoryBusConfig};
use cloudgrid_proto::health::Health;
use cloudgrid_proto::service_auth::{MIN_TOKEN_LEN, ServiceToken};
use cloudgrid_proto::subjects;
use cloudgrid_read::grpc::{GrpcRead, ReadService};
use cloudgrid_read::{ReadApi, ReadConfig, StorageRead};
use cloudgrid_sinks::TelemetryWriter;
use cloudgrid_sinks::telemetry::{SelfTelemetry, SelfTelemetryConfig};
use cloudgrid_sinks::surreal::{
    CompactionConfig, EngineMemory, MaintenanceConfig, Scheduler, SchedulerConfig, Store, SurrealConfig, SurrealWriter,
};
use cloudgrid_sources::{Collector, CollectorConfig};
use futures::StreamExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

#[derive(Parser, Debug)]
#[command(name = "cloudgrid", version, about = "OTLP in, incremental rollups, live views out")]
struct Cli {
    #[command(subcommand)]
    target: Option<Target>,
    #[command(flatten)]
    common: Common,
}

#[derive(Subcommand, Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// Every target in one process (the default).
    All,
    /// The OTLP receivers (HTTP and gRPC).
    Collector,
    /// The dataflow pipeline that persists telemetry.
    StorageWrite,
    /// Companies, projects, API keys and dashboards; verifies ingest keys for collectors.
    ControlPlane,
    /// Telemetry queries and live views for the BFF (internal gRPC).
    StorageRead,
    /// The public GraphQL app; calls storage-read and the control plane.
    Bff,
    /// storage-maintenance: deletes what retention tombstones cover, on a schedule
    /// (CLOUDGRID_RETENTION_SCHEDULER_ENABLED); `maintenance run` runs once and exits.
    #[command(name = "maintenance", alias = "storage-maintenance")]
    Maintenance(MaintenanceArgs),
}

impl Target {
    /// The service name, as the command line spells it.
    fn name(self) -> &'static str {
        match self {
            Target::All => "all",
            Target::Collector => "collector",
            Target::StorageWrite => "storage-write",
            Target::ControlPlane => "control-plane",
            Target::StorageRead => "storage-read",
            Target::Bff => "bff",
            Target::Maintenance(_) => "storage-maintenance",
        }
    }
}

#[derive(Args, Debug, Clone, Copy, PartialEq, Eq)]
struct MaintenanceArgs {
    #[command(subcommand)]
    action: Option<MaintenanceAction>,
}

#[derive(Subcommand, Debug, Clone, Copy, PartialEq, Eq)]
enum MaintenanceAction {
    /// One retention run now (whatever the scheduler setting): deletes what the
    /// tombstones cover, prints what it did as JSON, and exits.
    Run {
        /// Only count what would be deleted.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum DeploymentMode {
    Local,
    Deployed,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum AuthMode {
    /// No sign-in: the local operator (local deployment mode only).
    Local,
    /// Sign-in through an OpenID Connect provider.
    Sso,
}

#[derive(Args, Debug)]
struct Common {
    /// Set from the target: every target runs in this one process.
    #[arg(skip)]
    target_all: bool,
    /// local: loopback only, bootstrap project and key; deployed: hardened.
    #[arg(long, env = "CLOUDGRID_DEPLOYMENT_MODE", value_enum, default_value = "local", global = true)]
    deployment_mode: DeploymentMode,
    /// local: no sign-in (local mode only); sso: sign-in through an OpenID Connect
    /// provider. Default: local in local mode, sso in deployed mode.
    #[arg(long, env = "CLOUDGRID_AUTH_MODE", value_enum, global = true)]
    auth_mode: Option<AuthMode>,
    /// The OpenID Connect provider's issuer URL (discovery under /.well-known/openid-configuration).
    #[arg(long, env = "CLOUDGRID_OIDC_ISSUER_URL", global = true)]
    oidc_issuer_url: Option<String>,
    #[arg(long, env = "CLOUDGRID_OIDC_CLIENT_ID", global = true)]
    oidc_client_id: Option<String>,
    /// Absent for a public client.
    #[arg(long, env = "CLOUDGRID_OIDC_CLIENT_SECRET", global = true, hide_env_values = true)]
    oidc_client_secret: Option<String>,
    /// Registered with the provider as the redirect URL. Default: CLOUDGRID_PUBLIC_URL + /auth/callback.
    #[arg(long, env = "CLOUDGRID_OIDC_REDIRECT_URL", global = true)]
    oidc_redirect_url: Option<String>,
    /// Scopes asked for besides `openid` (space- or comma-separated).
    #[arg(long, env = "CLOUDGRID_OIDC_SCOPES", default_value = "email profile", global = true)]
    oidc_scopes: String,
    /// Signs session cookies: at least 32 random characters. Required with sign-in.
    #[arg(long, env = "CLOUDGRID_SESSION_SECRET", global = true, hide_env_values = true)]
    session_secret: Option<String>,
    /// How long a session lasts after sign-in (e.g. 7d).
    #[arg(long, env = "CLOUDGRID_SESSION_TTL", default_value = "7d", global = true)]
    session_ttl: String,
    /// Self-observability: OTLP/HTTP base URL of a CloudGrid collector that receives
    /// this process's own traces, logs and metrics (off when unset).
    #[arg(long, env = "CLOUDGRID_SELF_OTLP_ENDPOINT", global = true)]
    self_otlp_endpoint: Option<String>,
    /// The ingest key of the project that receives this process's telemetry.
    #[arg(long, env = "CLOUDGRID_SELF_OTLP_KEY", global = true, hide_env_values = true)]
    self_otlp_key: Option<String>,
    /// How often this process's metrics are exported.
    #[arg(long, env = "CLOUDGRID_SELF_OTLP_INTERVAL_MS", default_value_t = 10_000, global = true)]
    self_otlp_interval_ms: u64,
    /// `service.name` of this process's telemetry. Default: cloudgrid-<target>.
    #[arg(long, env = "CLOUDGRID_SELF_OTLP_SERVICE_NAME", global = true)]
    self_otlp_service_name: Option<String>,
    /// Where embedded storage and the bootstrap key live.
    #[arg(long, env = "CLOUDGRID_DATA_DIR", default_value = "./data", global = true)]
    data_dir: PathBuf,
    /// SurrealDB: mem://, surrealkv://PATH, ws://HOST:PORT (default: embedded under the data dir).
    #[arg(long, env = "CLOUDGRID_SURREAL_URL", global = true)]
    surreal_url: Option<String>,
    #[arg(long, env = "CLOUDGRID_SURREAL_USER", global = true)]
    surreal_user: Option<String>,
    #[arg(long, env = "CLOUDGRID_SURREAL_PASSWORD", global = true, hide_env_values = true)]
    surreal_password: Option<String>,
    /// Embedded SurrealKV: bytes of writes held in memory before a flush to disk (at
    /// least 64 MiB; one transaction must fit).
    #[arg(long, env = "CLOUDGRID_SURREAL_MEMTABLE_BYTES", default_value_t = EngineMemory::default().memtable_bytes, global = true)]
    surreal_memtable_bytes: u64,
    /// Embedded SurrealKV: bytes of blocks read from disk kept cached.
    #[arg(long, env = "CLOUDGRID_SURREAL_BLOCK_CACHE_BYTES", default_value_t = EngineMemory::default().block_cache_bytes, global = true)]
    surreal_block_cache_bytes: u64,
    /// Embedded SurrealKV: telemetry writes wait (retried; the bus holds the data) while
    /// the data directory's filesystem has less free space than this (0: never).
    #[arg(long, env = "CLOUDGRID_MIN_FREE_DISK_BYTES", default_value_t = cloudgrid_sinks::surreal::MIN_FREE_DISK_BYTES, global = true)]
    min_free_disk_bytes: u64,
    /// NATS with JetStream; required by the services, optional for `all` (in-process bus).
    /// Credentials go in it (`nats://user:password@host:4222`, one user per service);
    /// the password is never printed.
    #[arg(long, env = "CLOUDGRID_NATS_URL", global = true, hide_env_values = true)]
    nats_url: Option<String>,
    /// Prefix of CloudGrid's subjects and stream on NATS.
    #[arg(long, env = "CLOUDGRID_NATS_NAMESPACE", default_value = "cloudgrid", global = true)]
    nats_namespace: String,
    /// Most bytes the ingest stream holds before collectors answer 503 (reserved on the server).
    #[arg(long, env = "CLOUDGRID_NATS_MAX_BYTES", default_value_t = 1 << 30, global = true)]
    nats_max_bytes: i64,
    /// OTLP/HTTP listen address.
    #[arg(long, env = "CLOUDGRID_OTLP_HTTP_ADDR", global = true)]
    otlp_http_addr: Option<SocketAddr>,
    /// OTLP/gRPC listen address.
    #[arg(long, env = "CLOUDGRID_OTLP_GRPC_ADDR", global = true)]
    otlp_grpc_addr: Option<SocketAddr>,
    /// Health and metrics (/healthz, /readyz, /metrics).
    #[arg(long, env = "CLOUDGRID_ADMIN_ADDR", global = true)]
    admin_addr: Option<SocketAddr>,
    /// The control-plane's internal gRPC address, host:port (control-plane listens;
    /// collector and bff dial it, by name if it is one).
    #[arg(long, env = "CLOUDGRID_CONTROL_PLANE_ADDR", default_value = "127.0.0.1:4320", global = true)]
    control_plane_addr: HostPort,
    /// Where `storage-read` listens and `bff` dials (internal gRPC), host:port.
    #[arg(long, env = "CLOUDGRID_STORAGE_READ_ADDR", default_value = "127.0.0.1:4321", global = true)]
    storage_read_addr: HostPort,
    /// Shared by the services of one deployment: internal gRPC servers refuse calls
    /// without it. Required (32+ characters) in deployed mode.
    #[arg(long, env = "CLOUDGRID_SERVICE_TOKEN", global = true, hide_env_values = true)]
    service_token: Option<String>,
    /// Servers only: the callers' own tokens, `bff=…,collector=…` (each 32+ characters).
    /// Set, each contract takes calls only from the services it names and refuses
    /// another service's credential; unset, the shared CLOUDGRID_SERVICE_TOKEN is taken.
    #[arg(long, env = "CLOUDGRID_SERVICE_PEER_TOKENS", global = true, hide_env_values = true)]
    service_peer_tokens: Option<String>,
    /// Timely worker threads of the pipeline.
    #[arg(short = 'w', long, env = "CLOUDGRID_WORKERS", default_value_t = 1, global = true)]
    workers: usize,
    /// storage-write as several processes of one timely cluster: `host:port` of every
    /// process, comma-separated, in process order (the same list for all of them).
    #[arg(long, env = "CLOUDGRID_TIMELY_ADDRESSES", global = true)]
    timely_addresses: Option<String>,
    /// This process's index in CLOUDGRID_TIMELY_ADDRESSES; process 0 consumes the bus.
    #[arg(long, env = "CLOUDGRID_TIMELY_PROCESS", default_value_t = 0, global = true)]
    timely_process: usize,
    /// Largest OTLP/HTTP body after decompression, bytes.
    #[arg(long, env = "CLOUDGRID_MAX_HTTP_BODY_BYTES", default_value_t = 20 << 20, global = true)]
    max_http_body_bytes: usize,
    /// Largest OTLP/gRPC message after decompression, bytes.
    #[arg(long, env = "CLOUDGRID_MAX_GRPC_MESSAGE_BYTES", default_value_t = 4 << 20, global = true)]
    max_grpc_message_bytes: usize,
    /// Oldest accepted event time, milliseconds before now.
    #[arg(long, env = "CLOUDGRID_INGEST_MAX_AGE_MS", default_value_t = 7 * 24 * 3600 * 1000, global = true)]
    ingest_max_age_ms: u64,
    /// Furthest accepted event time, milliseconds after now.
    #[arg(long, env = "CLOUDGRID_INGEST_MAX_FUTURE_MS", default_value_t = 10 * 60 * 1000, global = true)]
    ingest_max_future_ms: u64,
    /// Allowed lateness of metric points (e.g. 10m): older points are rejected with
    /// partial_success; newer ones correct their rollups.
    #[arg(long, env = "CLOUDGRID_METRIC_LATENESS", default_value = "10m", global = true)]
    metric_lateness: String,
    /// How long an alert notification waits for the rest of its rule's burst before it
    /// is sent (one email or webhook call for the group).
    #[arg(long, env = "CLOUDGRID_ALERT_GROUP_WAIT", default_value = "1s", global = true)]
    alert_group_wait: String,
    /// How long a notifier's claim on a notification holds: one that stopped mid-send
    /// has it sent again (with the same delivery id) after this.
    #[arg(long, env = "CLOUDGRID_ALERT_SEND_LEASE", default_value = "60s", global = true)]
    alert_send_lease: String,
    /// Most active metric series per project (0: no limit); points of new series past
    /// it are rejected with partial_success.
    #[arg(long, env = "CLOUDGRID_MAX_ACTIVE_SERIES", default_value_t = 1_000_000, global = true)]
    max_active_series: usize,
    /// How long after its last point a series counts as active (e.g. 1h).
    #[arg(long, env = "CLOUDGRID_ACTIVE_SERIES_WINDOW", default_value = "1h", global = true)]
    active_series_window: String,
    /// Metric rollup tiers, finest first, each a multiple of the one before.
    #[arg(long, env = "CLOUDGRID_ROLLUP_TIERS", default_value = "1m,5m,1h,1d", global = true)]
    rollup_tiers: String,
    /// Metric chunk span: one record per series per this much event time, milliseconds.
    #[arg(long, env = "CLOUDGRID_CHUNK_SPAN_MS", default_value_t = 30 * 60 * 1000, global = true)]
    chunk_span_ms: u64,
    /// Metric blocks of a partition are compacted into chunks and aggregate rows once
    /// they hold this many points...
    #[arg(long, env = "CLOUDGRID_METRIC_COMPACT_POINTS", default_value_t = 200_000, global = true)]
    metric_compact_points: u64,
    /// ...or once the oldest is this old (e.g. 60s).
    #[arg(long, env = "CLOUDGRID_METRIC_COMPACT_AGE", default_value = "60s", global = true)]
    metric_compact_age: String,
    /// The BFF's GraphQL endpoint (HTTP and WebSocket at /graphql).
    #[arg(long, env = "CLOUDGRID_BFF_ADDR", global = true)]
    bff_addr: Option<SocketAddr>,
    /// Origins (scheme://host[:port], comma-separated) whose pages may open GraphQL
    /// WebSockets; in local mode loopback origins are always allowed.
    #[arg(long, env = "CLOUDGRID_BFF_ALLOWED_ORIGINS", default_value = "", global = true)]
    bff_allowed_origins: String,
    /// The built web UI the BFF serves on every path the API does not take (`index.html`
    /// and its assets); empty: no UI, only the API.
    #[arg(long, env = "CLOUDGRID_UI_DIR", default_value = "bff/ui/dist", global = true)]
    ui_dir: String,
    /// Subscriptions one WebSocket connection may hold at once.
    #[arg(long, env = "CLOUDGRID_BFF_MAX_SUBSCRIPTIONS", default_value_t = 100, global = true)]
    bff_max_subscriptions: usize,
    /// Live notices storage-read holds per project for its slowest live session; a
    /// session further behind is told it lagged.
    #[arg(long, env = "CLOUDGRID_LIVE_BUFFER", default_value_t = 1024, global = true)]
    live_buffer: usize,
    /// Bytes of decoded rollup span records storage-read keeps between metric queries
    /// (0: none); a held span is read again only after compaction rewrote it.
    #[arg(long, env = "CLOUDGRID_QUERY_CACHE_BYTES", default_value_t = 128 << 20, global = true)]
    query_cache_bytes: u64,
    /// In-process bus capacity (single-process mode), bytes.
    #[arg(long, env = "CLOUDGRID_MEMORY_BUS_MAX_BYTES", default_value_t = 32 << 20, global = true)]
    memory_bus_max_bytes: usize,
    /// How long a request that finds the in-process bus full waits for room before the
    /// collector answers 503, milliseconds.
    #[arg(long, env = "CLOUDGRID_MEMORY_BUS_ROOM_WAIT_MS", default_value_t = 5000, global = true)]
    memory_bus_room_wait_ms: u64,
    /// Bus payload bytes the pipeline holds fetched and not yet stored; past this it
    /// stops fetching until storage catches up.
    #[arg(long, env = "CLOUDGRID_PIPELINE_MAX_BYTES_IN_FLIGHT", default_value_t = 4 << 20, global = true)]
    pipeline_max_bytes_in_flight: usize,
    /// Most bus messages one epoch of the dataflow takes: smaller epochs finish sooner
    /// (what they carry reaches storage and live views sooner), larger ones cost less
    /// per message.
    #[arg(long, env = "CLOUDGRID_PIPELINE_EPOCH_MESSAGES", default_value_t = 256, global = true)]
    pipeline_epoch_messages: usize,
    /// Run the retention executor on a schedule (in `maintenance` and `all`). Off, data
    /// past retention is hidden from every query but stays stored.
    #[arg(long, env = "CLOUDGRID_RETENTION_SCHEDULER_ENABLED", default_value_t = false, global = true)]
    retention_scheduler_enabled: bool,
    /// From the start of one retention run to the next (e.g. 1h; 10s to 7d).
    #[arg(long, env = "CLOUDGRID_RETENTION_INTERVAL", default_value = "1h", global = true)]
    retention_interval: String,
    /// Records the retention executor deletes per transaction at most (1 to 100000).
    #[arg(long, env = "CLOUDGRID_RETENTION_BATCH_SIZE", default_value_t = 1_000, global = true)]
    retention_batch_size: usize,
    /// Pause after each retention transaction, milliseconds (ingest keeps its share of storage).
    #[arg(long, env = "CLOUDGRID_RETENTION_BATCH_PAUSE_MS", default_value_t = 100, global = true)]
    retention_batch_pause_ms: u64,
    /// Where users open CloudGrid (scheme://host[:port]); links in emails start with it.
    /// Default: the BFF's address.
    #[arg(long, env = "CLOUDGRID_PUBLIC_URL", global = true)]
    public_url: Option<String>,
    /// Where applications send OTLP/HTTP, as they reach it (shown in the web UI's
    /// instructions). Default in `all`: the collector's own address.
    #[arg(long, env = "CLOUDGRID_OTLP_PUBLIC_URL", global = true)]
    otlp_public_url: Option<String>,
    /// Where applications send OTLP/gRPC, as they reach it. Default in `all`: the
    /// collector's own address.
    #[arg(long, env = "CLOUDGRID_OTLP_GRPC_PUBLIC_URL", global = true)]
    otlp_grpc_public_url: Option<String>,
    /// How long an invitation link stays valid (e.g. 7d).
    #[arg(long, env = "CLOUDGRID_INVITATION_TTL", default_value = "7d", global = true)]
    invitation_ttl: String,
    /// `smtp` or `disabled`: whether the control plane sends email. Disabled, invitation
    /// links are handed back to the inviter to pass on. Default: smtp when
    /// CLOUDGRID_SMTP_HOST is set; otherwise disabled in local mode, and required to be
    /// said in deployed mode.
    #[arg(long, env = "CLOUDGRID_SMTP_DELIVERY", global = true)]
    smtp_delivery: Option<String>,
    #[arg(long, env = "CLOUDGRID_SMTP_HOST", global = true)]
    smtp_host: Option<String>,
    #[arg(long, env = "CLOUDGRID_SMTP_PORT", default_value_t = 587, global = true)]
    smtp_port: u16,
    /// none, starttls or tls.
    #[arg(long, env = "CLOUDGRID_SMTP_TLS", default_value = "starttls", global = true)]
    smtp_tls: String,
    #[arg(long, env = "CLOUDGRID_SMTP_USERNAME", global = true)]
    smtp_username: Option<String>,
    #[arg(long, env = "CLOUDGRID_SMTP_PASSWORD", global = true, hide_env_values = true)]
    smtp_password: Option<String>,
    /// The sender: `CloudGrid <noreply@example.com>` or a bare address.
    #[arg(long, env = "CLOUDGRID_SMTP_FROM", global = true)]
    smtp_from: Option<String>,
    /// 32 random bytes (64 hex digits or base64) provider secrets are encrypted with.
    /// Without it deployed mode refuses to store them; local mode makes one in the data dir.
    #[arg(long, env = "CLOUDGRID_PROVIDER_SECRET_ENCRYPTION_KEY", global = true, hide_env_values = true)]
    provider_secret_encryption_key: Option<String>,
    /// Earlier keys (comma-separated), still read after a rotation; at start the control
    /// plane re-encrypts what they sealed under the current key.
    #[arg(long, env = "CLOUDGRID_PROVIDER_SECRET_ENCRYPTION_KEYS_OLD", global = true, hide_env_values = true)]
    provider_secret_encryption_keys_old: Option<String>,
}

impl Common {
    fn local(&self) -> bool {
        self.deployment_mode == DeploymentMode::Local
    }

    fn addr(&self, given: Option<SocketAddr>, port: u16) -> SocketAddr {
        given.unwrap_or_else(|| {
            let ip = if self.local() { [127, 0, 0, 1] } else { [0, 0, 0, 0] };
            SocketAddr::from((ip, port))
        })
    }

    fn surreal(&self) -> Result<SurrealConfig> {
        let url = match &self.surreal_url {
            Some(u) => u.clone(),
            None => format!("surrealkv://{}", self.data_dir.join("db").display()),
        };
        let mut c = SurrealConfig::new(url);
        c.username = self.surreal_user.clone();
        c.password = self.surreal_password.clone();
        c.chunk_span_ms = self.chunk_span_ms;
        c.tiers = Tiers::parse(&self.rollup_tiers).context("CLOUDGRID_ROLLUP_TIERS")?;
        c.engine_memory = EngineMemory {
            memtable_bytes: self.surreal_memtable_bytes,
            block_cache_bytes: self.surreal_block_cache_bytes,
        };
        c.min_free_disk_bytes = self.min_free_disk_bytes;
        c.validate().context("invalid storage configuration")?;
        Ok(c)
    }

    fn retention(&self) -> Result<SchedulerConfig> {
        let interval = parse_duration(&self.retention_interval)
            .filter(|d| (std::time::Duration::from_secs(10)..=std::time::Duration::from_secs(7 * 86_400)).contains(d))
            .with_context(|| format!("CLOUDGRID_RETENTION_INTERVAL: `{}` is not a duration from 10s to 7d", self.retention_interval))?;
        if !(1..=100_000).contains(&self.retention_batch_size) {
            bail!("CLOUDGRID_RETENTION_BATCH_SIZE: {} is not from 1 to 100000", self.retention_batch_size);
        }
        if self.retention_batch_pause_ms > 60_000 {
            bail!("CLOUDGRID_RETENTION_BATCH_PAUSE_MS: {} is more than a minute", self.retention_batch_pause_ms);
        }
        Ok(SchedulerConfig {
            enabled: self.retention_scheduler_enabled,
            interval,
            run: MaintenanceConfig {
                batch: self.retention_batch_size,
                pause: std::time::Duration::from_millis(self.retention_batch_pause_ms),
            },
        })
    }

    fn compaction(&self) -> Result<CompactionConfig> {
        if self.metric_compact_points == 0 {
            bail!("CLOUDGRID_METRIC_COMPACT_POINTS must be positive");
        }
        let max_age = parse_duration(&self.metric_compact_age).filter(|d| !d.is_zero()).with_context(|| {
            format!("CLOUDGRID_METRIC_COMPACT_AGE: `{}` is not a duration like 60s", self.metric_compact_age)
        })?;
        Ok(CompactionConfig { max_points: self.metric_compact_points, max_age, ..CompactionConfig::default() })
    }

    /// The storage writer of the pipeline, compacting as configured.
    fn writer(&self, store: Store, health: &Health) -> Result<Arc<SurrealWriter>> {
        Ok(Arc::new(SurrealWriter::with_compaction(store, self.compaction()?).reporting_to(health)))
    }

    fn rollups(&self) -> Result<RollupConfig> {
        let lateness = parse_duration(&self.metric_lateness)
            .filter(|d| !d.is_zero())
            .with_context(|| format!("CLOUDGRID_METRIC_LATENESS: `{}` is not a duration like 10m", self.metric_lateness))?;
        let tiers = Tiers::parse(&self.rollup_tiers).context("CLOUDGRID_ROLLUP_TIERS")?;
        Ok(RollupConfig { tiers, lateness, ..RollupConfig::default() })
    }

    fn collector(&self) -> Result<CollectorConfig> {
        let window = parse_duration(&self.active_series_window).with_context(|| {
            format!("CLOUDGRID_ACTIVE_SERIES_WINDOW: `{}` is not a duration like 1h", self.active_series_window)
        })?;
        let c = CollectorConfig {
            max_active_series: self.max_active_series,
            active_series_window_ms: window.as_millis() as u64,
            metric_lateness_ms: self.rollups()?.lateness.as_millis() as u64,
            max_http_body_bytes: self.max_http_body_bytes,
            max_grpc_message_bytes: self.max_grpc_message_bytes,
            max_age_ms: self.ingest_max_age_ms,
            max_future_ms: self.ingest_max_future_ms,
            ..CollectorConfig::default()
        };
        c.validate().map_err(anyhow::Error::msg)?;
        Ok(c)
    }

    fn pipeline(&self) -> Result<PipelineConfig> {
        if self.pipeline_epoch_messages == 0 {
            bail!("CLOUDGRID_PIPELINE_EPOCH_MESSAGES must be positive");
        }
        let cluster = self.timely_addresses.as_deref().map(|list| Cluster {
            process: self.timely_process,
            addresses: list.split(',').map(str::trim).filter(|a| !a.is_empty()).map(String::from).collect(),
        });
        let c = PipelineConfig {
            workers: self.workers,
            rollups: self.rollups()?,
            max_bytes_in_flight: self.pipeline_max_bytes_in_flight,
            fetch_max: self.pipeline_epoch_messages,
            cluster,
            // Only the control plane's projects are stored (see PipelineConfig), where
            // this process sees the control plane's storage: the same embedded database
            // (`all`) or a SurrealDB server. A lone storage-write on an embedded database
            // (tests) has no projects to check against.
            check_projects: self.shares_control_storage(),
            ..PipelineConfig::default()
        };
        c.validate()?;
        Ok(c)
    }

    /// Whether this process's storage is the control plane's too.
    fn shares_control_storage(&self) -> bool {
        let remote = self.surreal_url.as_deref().is_some_and(|u| u.starts_with("ws://") || u.starts_with("wss://"));
        remote || self.target_all
    }

    /// Self-observability settings; `None` when off (no endpoint set).
    fn self_telemetry(&self, target: Target) -> Result<Option<SelfTelemetryConfig>> {
        let Some(endpoint) = self.self_otlp_endpoint.clone().filter(|e| !e.trim().is_empty()) else {
            if self.self_otlp_key.is_some() {
                bail!("CLOUDGRID_SELF_OTLP_KEY is set but CLOUDGRID_SELF_OTLP_ENDPOINT is not: set both to export this process's telemetry");
            }
            return Ok(None);
        };
        let Some(key) = self.self_otlp_key.clone() else {
            bail!("CLOUDGRID_SELF_OTLP_ENDPOINT needs CLOUDGRID_SELF_OTLP_KEY: an ingest key of the project that receives the telemetry");
        };
        let config = SelfTelemetryConfig {
            endpoint,
            key,
            service_name: self.self_otlp_service_name.clone().unwrap_or_else(|| format!("cloudgrid-{}", target.name())),
            interval: std::time::Duration::from_millis(self.self_otlp_interval_ms),
        };
        config.validate().map_err(|e| anyhow::anyhow!("CLOUDGRID_SELF_OTLP_ENDPOINT / _KEY / _INTERVAL_MS: {e}"))?;
        Ok(Some(config))
    }

    fn service_token(&self) -> Result<ServiceToken> {
        let token = ServiceToken::new(self.service_token.clone());
        token.validate().map_err(|e| anyhow::anyhow!("CLOUDGRID_SERVICE_TOKEN: {e}"))?;
        if !self.local() && token.len() < MIN_TOKEN_LEN {
            bail!("deployed mode needs CLOUDGRID_SERVICE_TOKEN of at least {MIN_TOKEN_LEN} characters, shared by the services");
        }
        match &self.service_peer_tokens {
            Some(list) => token.with_peers(list).map_err(|e| anyhow::anyhow!("CLOUDGRID_SERVICE_PEER_TOKENS: {e}")),
            None => Ok(token),
        }
    }

    /// Local mode has no login: said loudly when one of its listeners is told to bind
    /// beyond this machine.
    fn warn_if_exposed(&self) {
        if !self.local() {
            return;
        }
        let given = [
            ("CLOUDGRID_BFF_ADDR", self.bff_addr),
            ("CLOUDGRID_OTLP_HTTP_ADDR", self.otlp_http_addr),
            ("CLOUDGRID_OTLP_GRPC_ADDR", self.otlp_grpc_addr),
            ("CLOUDGRID_ADMIN_ADDR", self.admin_addr),
        ];
        for (name, addr) in given {
            if let Some(addr) = addr.filter(|a| !a.ip().is_loopback()) {
                tracing::warn!(%addr, setting = name, "local mode listens beyond this machine without any login");
                eprintln!(
                    "WARNING: {name}={addr} exposes local mode beyond this machine. Local mode has no login: anyone \
                     who reaches it can read and change everything. Use CLOUDGRID_DEPLOYMENT_MODE=deployed for a shared install."
                );
            }
        }
    }

    /// How the control plane sends email.
    fn mail(&self) -> Result<MailConfig> {
        match self.smtp_delivery.as_deref().map(str::trim) {
            Some(d) if d.eq_ignore_ascii_case("disabled") => return Ok(MailConfig::Disabled),
            Some(d) if d.eq_ignore_ascii_case("smtp") => {}
            Some(other) => bail!("CLOUDGRID_SMTP_DELIVERY must be smtp or disabled, got `{other}`"),
            None if self.smtp_host.is_some() => {}
            None if self.local() => return Ok(MailConfig::Disabled),
            None => bail!(
                "deployed mode needs CLOUDGRID_SMTP_HOST (and CLOUDGRID_SMTP_FROM) for invitation emails, \
                 or CLOUDGRID_SMTP_DELIVERY=disabled to hand invitation links out by hand"
            ),
        }
        let host = self.smtp_host.clone().context("CLOUDGRID_SMTP_DELIVERY=smtp needs CLOUDGRID_SMTP_HOST")?;
        let from = self.smtp_from.clone().context("sending email needs CLOUDGRID_SMTP_FROM, the sender address")?;
        let tls = SmtpTls::parse(&self.smtp_tls)?;
        if tls == SmtpTls::None && !self.local() {
            tracing::warn!(host, "CLOUDGRID_SMTP_TLS=none: invitation emails and SMTP credentials cross the network in clear");
        }
        Ok(MailConfig::Smtp(SmtpConfig {
            host,
            port: self.smtp_port,
            tls,
            username: self.smtp_username.clone(),
            password: self.smtp_password.clone(),
            from,
            timeout: std::time::Duration::from_secs(15),
        }))
    }

    /// How alert notifications are sent.
    fn notifier(&self) -> Result<cloudgrid_control::notifier::NotifierConfig> {
        let group_wait = parse_duration(&self.alert_group_wait)
            .filter(|d| *d <= std::time::Duration::from_secs(3600))
            .with_context(|| format!("CLOUDGRID_ALERT_GROUP_WAIT: `{}` is not a duration like 1s (at most 1h)", self.alert_group_wait))?;
        // A claim must outlast a send (a webhook times out after 5 s, mail after 15 s).
        let lease = parse_duration(&self.alert_send_lease)
            .filter(|d| (std::time::Duration::from_secs(20)..=std::time::Duration::from_secs(3600)).contains(d))
            .with_context(|| format!("CLOUDGRID_ALERT_SEND_LEASE: `{}` is not a duration from 20s to 1h", self.alert_send_lease))?;
        Ok(cloudgrid_control::notifier::NotifierConfig { group_wait, lease, ..Default::default() })
    }

    /// How the control plane reaches people: checked before anything starts.
    fn control_settings(&self) -> Result<Settings> {
        let mailer = Mailer::new(&self.mail()?)?;
        let invitation_ttl = parse_duration(&self.invitation_ttl)
            .filter(|d| !d.is_zero())
            .with_context(|| format!("CLOUDGRID_INVITATION_TTL: `{}` is not a duration like 7d", self.invitation_ttl))?;
        let public_url = self.public_url()?;
        if mailer.enabled() {
            println!("invitation emails: SMTP {}:{}", self.smtp_host.as_deref().unwrap_or_default(), self.smtp_port);
        } else {
            println!("invitation emails: disabled (links are handed to the inviter)");
        }
        Ok(Settings { mailer, public_url, invitation_ttl, secret_keys: self.secret_keys()?, tiers: self.rollups()?.tiers })
    }

    /// Where users open CloudGrid, without a trailing slash. Deployed mode needs it, and
    /// over https (session cookies are `Secure`), except on this machine's loopback.
    fn public_url(&self) -> Result<String> {
        let Some(u) = &self.public_url else {
            if !self.local() {
                bail!("deployed mode needs CLOUDGRID_PUBLIC_URL, where users open CloudGrid: invitation links and sign-in redirects start with it");
            }
            return Ok(format!("http://{}", self.addr(self.bff_addr, 8080)));
        };
        let parsed = url::Url::parse(u).with_context(|| format!("CLOUDGRID_PUBLIC_URL `{u}` is not a URL"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            bail!("CLOUDGRID_PUBLIC_URL must be an http(s) URL, got `{u}`");
        }
        let loopback = match parsed.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        if !self.local() && parsed.scheme() == "http" && !loopback {
            bail!("CLOUDGRID_PUBLIC_URL must be https in deployed mode (session cookies are Secure), got `{u}`");
        }
        Ok(u.trim_end_matches('/').to_string())
    }

    /// Sign-in, as configured: none (the local operator) or through an OIDC provider.
    fn sso(&self) -> Result<Option<cloudgrid_bff::SsoAuth>> {
        let mode = self.auth_mode.unwrap_or(if self.local() { AuthMode::Local } else { AuthMode::Sso });
        if mode == AuthMode::Local {
            if !self.local() {
                bail!("deployed mode needs sign-in: CLOUDGRID_AUTH_MODE=sso with an OpenID Connect provider");
            }
            return Ok(None);
        }
        let secret = self.session_secret.as_deref().context(
            "sign-in needs CLOUDGRID_SESSION_SECRET, at least 32 random characters (for example `openssl rand -base64 48`)",
        )?;
        let secret = cloudgrid_bff::SessionSecret::parse(secret).map_err(|e| anyhow::anyhow!("CLOUDGRID_SESSION_SECRET {e}"))?;
        let session_ttl = parse_duration(&self.session_ttl)
            .filter(|d| !d.is_zero() && *d <= cloudgrid_control::sessions::MAX_SESSION_TTL)
            .with_context(|| format!("CLOUDGRID_SESSION_TTL: `{}` is not a duration like 7d (at most 90d)", self.session_ttl))?;
        let issuer = self.oidc_issuer_url.clone().context("CLOUDGRID_AUTH_MODE=sso needs CLOUDGRID_OIDC_ISSUER_URL")?;
        let client_id = self.oidc_client_id.clone().context("CLOUDGRID_AUTH_MODE=sso needs CLOUDGRID_OIDC_CLIENT_ID")?;
        let redirect_url = match &self.oidc_redirect_url {
            Some(u) => u.clone(),
            None => format!("{}/auth/callback", self.public_url()?),
        };
        let scopes = self
            .oidc_scopes
            .split([' ', ','])
            .map(str::trim)
            .filter(|s| !s.is_empty() && *s != "openid")
            .map(String::from)
            .collect();
        let config = cloudgrid_bff::SsoConfig {
            issuer,
            client_id,
            client_secret: self.oidc_client_secret.clone().filter(|s| !s.is_empty()),
            redirect_url,
            scopes,
        };
        let sso = cloudgrid_bff::Sso::new(config).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Some(cloudgrid_bff::SsoAuth { sso: Arc::new(sso), secret, session_ttl }))
    }

    /// The keys provider secrets are sealed with.
    fn secret_keys(&self) -> Result<SecretKeys> {
        let parse = |name: &str, text: &str| SecretKey::parse(text).map_err(|e| anyhow::anyhow!("{name}: {e}"));
        let old = match &self.provider_secret_encryption_keys_old {
            Some(list) => list
                .split(',')
                .filter(|k| !k.trim().is_empty())
                .map(|k| parse("CLOUDGRID_PROVIDER_SECRET_ENCRYPTION_KEYS_OLD", k))
                .collect::<Result<Vec<_>>>()?,
            None => Vec::new(),
        };
        let current = match &self.provider_secret_encryption_key {
            Some(k) => Some(parse("CLOUDGRID_PROVIDER_SECRET_ENCRYPTION_KEY", k)?),
            None if self.local() => Some(cloudgrid_control::local_secret_key(&self.data_dir)?),
            None => {
                tracing::warn!("CLOUDGRID_PROVIDER_SECRET_ENCRYPTION_KEY is not set: provider secrets are refused");
                None
            }
        };
        if current.is_none() && !old.is_empty() {
            bail!("CLOUDGRID_PROVIDER_SECRET_ENCRYPTION_KEYS_OLD needs CLOUDGRID_PROVIDER_SECRET_ENCRYPTION_KEY, the key to re-encrypt with");
        }
        Ok(SecretKeys { current, old })
    }

    /// Where users send telemetry: as configured, else (when the collector's address is
    /// known here: it runs in this process, or on this machine in local mode) its listen
    /// addresses, else unknown.
    fn ingest_endpoints(&self, with_collector: bool) -> Result<cloudgrid_bff::IngestEndpoints> {
        let check = |name: &str, value: &Option<String>, schemes: &[&str]| -> Result<Option<String>> {
            let Some(v) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) else { return Ok(None) };
            let parsed = url::Url::parse(v).with_context(|| format!("{name} `{v}` is not a URL"))?;
            if !schemes.contains(&parsed.scheme()) {
                bail!("{name} must be an http(s) URL, got `{v}`");
            }
            Ok(Some(v.trim_end_matches('/').to_string()))
        };
        let mut endpoints = cloudgrid_bff::IngestEndpoints {
            otlp_http: check("CLOUDGRID_OTLP_PUBLIC_URL", &self.otlp_public_url, &["http", "https"])?,
            otlp_grpc: check("CLOUDGRID_OTLP_GRPC_PUBLIC_URL", &self.otlp_grpc_public_url, &["http", "https"])?,
        };
        if with_collector {
            let shown = |addr: SocketAddr| {
                // An unspecified address is reached through loopback from this machine.
                let ip = if addr.ip().is_unspecified() { std::net::IpAddr::from([127, 0, 0, 1]) } else { addr.ip() };
                format!("http://{}", SocketAddr::new(ip, addr.port()))
            };
            endpoints.otlp_http.get_or_insert_with(|| shown(self.addr(self.otlp_http_addr, 4318)));
            endpoints.otlp_grpc.get_or_insert_with(|| shown(self.addr(self.otlp_grpc_addr, 4317)));
        }
        Ok(endpoints)
    }

    /// The BFF's GraphQL app over `read` and `control`; `with_collector`: the collector's
    /// listen addresses are where users reach it.
    fn bff(&self, read: Arc<dyn ReadApi>, control: Arc<dyn ControlApi>, with_collector: bool) -> Result<axum::Router> {
        if self.bff_max_subscriptions == 0 {
            bail!("CLOUDGRID_BFF_MAX_SUBSCRIPTIONS must be positive");
        }
        let limits = Limits {
            introspection: self.local(),
            subscriptions_per_connection: self.bff_max_subscriptions,
            ..Limits::default()
        };
        let mut allowed_origins: Vec<String> =
            self.bff_allowed_origins.split(',').map(str::trim).filter(|o| !o.is_empty()).map(String::from).collect();
        for o in &allowed_origins {
            if !(o.starts_with("http://") || o.starts_with("https://")) {
                bail!("CLOUDGRID_BFF_ALLOWED_ORIGINS: `{o}` is not an origin such as https://app.example.com");
            }
        }
        // CloudGrid's own pages are served from the public URL.
        if let Ok(public) = url::Url::parse(&self.public_url()?) {
            allowed_origins.push(public.origin().ascii_serialization());
        }
        let sso = self.sso()?;
        match &sso {
            Some(s) => println!("sign-in: OpenID Connect provider {}", s.sso.issuer()),
            None => println!("sign-in: none (local operator)"),
        }
        let ui = (!self.ui_dir.trim().is_empty()).then(|| UiConfig { dir: PathBuf::from(self.ui_dir.trim()) });
        match &ui {
            Some(ui) if ui.dir.join("index.html").is_file() => println!("web UI: {}", ui.dir.display()),
            Some(ui) => println!("web UI: not built at {} (npm ci && npm run build in bff/ui); the API answers meanwhile", ui.dir.display()),
            None => println!("web UI: off"),
        }
        let schema = cloudgrid_bff::build_with(Backends { read, control: control.clone() }, &limits, self.ingest_endpoints(with_collector)?);
        let config = AppConfig { local: self.local(), allowed_origins, sso, ui, ..AppConfig::default() };
        Ok(cloudgrid_bff::router(schema, control, config))
    }

    fn storage_read(&self, store: Store, bus: Arc<dyn Bus>, health: &Health) -> Result<StorageRead> {
        if self.live_buffer == 0 {
            bail!("CLOUDGRID_LIVE_BUFFER must be positive");
        }
        let config = ReadConfig { live_buffer: self.live_buffer, ..ReadConfig::default() };
        let store = store.with_span_cache(self.query_cache_bytes);
        Ok(StorageRead::new(store, self.rollups()?.tiers, bus, health, &config))
    }

    async fn bus(&self, required: bool, health: &Health) -> Result<Arc<dyn Bus>> {
        self.bus_numbered_from(required, health, 1).await
    }

    /// The bus; an in-process one numbers its messages from `first_seq`.
    async fn bus_numbered_from(&self, required: bool, health: &Health, first_seq: u64) -> Result<Arc<dyn Bus>> {
        match &self.nats_url {
            Some(url) => {
                let mut config = JetStreamConfig::ingest(url.clone()).with_namespace(self.nats_namespace.clone());
                config.max_bytes = self.nats_max_bytes;
                let shown = cloudgrid_proto::bus::jetstream::redacted(url);
                let bus = JetStreamBus::connect(&config).await.with_context(|| format!("CLOUDGRID_NATS_URL={shown}"))?;
                println!("bus: NATS JetStream at {shown}");
                Ok(Arc::new(bus))
            }
            None if required => bail!("CLOUDGRID_NATS_URL is required for this service"),
            None => {
                println!("bus: in-process");
                let config = MemoryBusConfig {
                    max_bytes: self.memory_bus_max_bytes,
                    room_wait: std::time::Duration::from_millis(self.memory_bus_room_wait_ms),
                    first_seq,
                    ..MemoryBusConfig::default()
                };
                Ok(Arc::new(MemoryBus::reporting(config, health)))
            }
        }
    }

    async fn store(&self) -> Result<Store> {
        let store = self.open_store().await?;
        println!("storage: {}", self.surreal()?.url);
        Ok(store)
    }

    async fn open_store(&self) -> Result<Store> {
        let config = self.surreal()?;
        if config.url.starts_with("surrealkv://") {
            std::fs::create_dir_all(&self.data_dir)
                .with_context(|| format!("creating CLOUDGRID_DATA_DIR {}", self.data_dir.display()))?;
        }
        Store::open(&config).await.with_context(|| format!("opening storage at {}", config.url))
    }
}

// Storage work is allocation-heavy; glibc malloc showed up as a third of the profile.
// (`--features system-allocator` builds with the system's malloc, for heap profilers
// that wrap it.)
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc gives freed memory back to the system a second after it is freed by
/// default; under a sustained flood that kept some 100 MB more resident at the peak than
/// giving it back after 100 ms, at the same throughput (docs/benchmarks.md, eleventh
/// round). `MIMALLOC_PURGE_DELAY` in the environment still decides.
#[cfg(not(feature = "system-allocator"))]
#[allow(unsafe_code)]
fn tune_allocator() {
    /// `mi_option_purge_delay` in mimalloc 3's option enumeration.
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: sets the default of an option mimalloc reads when it purges; no memory is
    // touched, and a value the environment gave is kept.
    unsafe { libmimalloc_sys::mi_option_set_default(PURGE_DELAY, 100) }
}

#[cfg(feature = "system-allocator")]
fn tune_allocator() {}

#[tokio::main]
async fn main() -> Result<()> {
    tune_allocator();
    let cli = Cli::parse();
    let target = cli.target.unwrap_or(Target::All);
    let mut common = cli.common;
    common.target_all = target == Target::All;
    let health = Health::default();
    let self_telemetry = init_logging(&common, target, &health)?;
    // Not ready until every target of this process is up; not ready again while draining.
    let readiness = health.readiness("startup");
    let shutdown = CancellationToken::new();
    {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            shutdown.cancel();
        });
    }
    if let Target::Maintenance(MaintenanceArgs { action: Some(MaintenanceAction::Run { dry_run }) }) = target {
        // One run, beside whatever else runs: no listener of its own, and only its report
        // on stdout.
        let config = common.retention()?;
        let store = common.open_store().await?;
        let stopping = shutdown.clone();
        let report = store.retention_run(&config.run, dry_run, || stopping.is_cancelled()).await?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        // The embedded engine stops its maintenance tasks in the background once its
        // last handle goes: a moment for them before the runtime ends (every deletion is
        // committed already).
        drop(store);
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        return Ok(());
    }
    common.warn_if_exposed();
    if matches!(target, Target::All | Target::Bff) {
        // Sign-in settings are checked before anything starts.
        common.sso()?;
    }
    let mut servers = tokio::task::JoinSet::new();
    let admin = common.addr(common.admin_addr, 9464);
    serve(&mut servers, "health", admin, cloudgrid_sources::admin::router(health.clone()), &shutdown).await?;

    let outcome = run(target, common, health, readiness, shutdown, servers).await;
    if let Some(t) = self_telemetry {
        t.shutdown().await;
    }
    outcome
}

/// Logs to stderr (`CLOUDGRID_LOG` filters) and, when configured, to CloudGrid itself.
fn init_logging(common: &Common, target: Target, health: &Health) -> Result<Option<SelfTelemetry>> {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_env("CLOUDGRID_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,surrealdb=warn,surrealkv=warn"))
    };
    let (telemetry, layer) = match common.self_telemetry(target)? {
        Some(config) => {
            let endpoint = config.endpoint.clone();
            let (telemetry, layer) = SelfTelemetry::start(config, health.clone());
            println!("self-observability: exporting traces, logs and metrics to {endpoint}");
            (Some(telemetry), Some(layer))
        }
        None => (None, None),
    };
    tracing_subscriber::registry()
        .with(layer.map(|l| l.with_filter(filter())))
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(filter()))
        .init();
    Ok(telemetry)
}

async fn run(
    target: Target,
    common: Common,
    health: Health,
    readiness: cloudgrid_proto::health::Readiness,
    shutdown: CancellationToken,
    mut servers: tokio::task::JoinSet<Result<()>>,
) -> Result<()> {
    match target {
        Target::All => {
            if common.timely_addresses.is_some() {
                bail!("CLOUDGRID_TIMELY_ADDRESSES applies to storage-write; `all` runs one process");
            }
            let settings = common.control_settings()?;
            let store = common.store().await?;
            // An in-process bus numbers on after what an earlier process applied.
            let applied = SurrealWriter::new(store.clone()).resume_points().await?.into_values().max().unwrap_or(0);
            let bus = common.bus_numbered_from(false, &health, applied + 1).await?;
            let control = Arc::new(ControlPlane::with_settings(store.clone(), settings));
            reseal(&control).await?;
            // Alert notifications go out from the control plane, which holds the channels.
            let _notifier = cloudgrid_control::notifier::spawn((*control).clone(), common.notifier()?, Some(bus.clone()));
            if common.local() {
                let boot = control.bootstrap_local(&common.data_dir).await?;
                match &boot.created_key {
                    Some(key) => println!(
                        "created project '{}' with ingest key (shown once, also in {}):\n  {key}",
                        boot.project_id,
                        boot.key_file.display()
                    ),
                    None => println!("ingest key for project '{}': see {}", boot.project_id, boot.key_file.display()),
                }
            }
            let read = common.storage_read(store.clone(), bus.clone(), &health)?;
            let retention = Scheduler::start(store.clone(), common.retention()?, &health);
            let pipeline =
                Pipeline::start(bus.clone(), common.writer(store, &health)?, common.pipeline()?, health.clone())
                    .await?;
            let bff = common.bff(Arc::new(read), control.clone(), true)?;
            serve(&mut servers, "GraphQL (BFF)", common.addr(common.bff_addr, 8080), bff, &shutdown).await?;
            let mut revocations = control.key_revocations();
            let collector = start_collector(&common, &mut servers, bus, control, &health, &shutdown).await?;
            // In one process a revoked key is refused on its next request.
            tokio::spawn(async move {
                while revocations.changed().await.is_ok() {
                    collector.invalidate_keys();
                }
            });
            let stopped = run_until_stopped(servers, Some(pipeline), Drain::Bus, &shutdown, &readiness).await;
            if let Some(r) = retention {
                r.stop().await;
            }
            stopped
        }
        Target::Collector => {
            let bus = common.bus(true, &health).await?;
            let url = common.control_plane_addr.url();
            let keys = Arc::new(GrpcKeyVerifier::new(&url, &common.service_token()?)?);
            println!("control plane: {url}");
            let revocations = bus.listen(subjects::KEYS_REVOKED).await?;
            let collector = start_collector(&common, &mut servers, bus, keys, &health, &shutdown).await?;
            // A key revoked anywhere is refused here on its next request, not once the
            // cached verdict expires.
            tokio::spawn(async move {
                let mut revocations = revocations;
                while revocations.next().await.is_some() {
                    collector.invalidate_keys();
                }
            });
            run_until_stopped(servers, None, Drain::InFlight, &shutdown, &readiness).await
        }
        Target::StorageWrite => {
            let config = common.pipeline()?;
            common.compaction()?;
            if config.cluster.is_some() && !common.surreal()?.url.starts_with("ws") {
                bail!("a storage-write cluster (CLOUDGRID_TIMELY_ADDRESSES) shares one SurrealDB server: set CLOUDGRID_SURREAL_URL=ws://…");
            }
            let bus = common.bus(true, &health).await?;
            let store = common.store().await?;
            let pipeline = Pipeline::start(bus, common.writer(store, &health)?, config, health.clone()).await?;
            match &common.timely_addresses {
                None => println!("storage-write: {} worker(s)", common.workers),
                Some(list) => println!(
                    "storage-write: {} worker(s), process {} of the timely cluster {list}",
                    common.workers, common.timely_process
                ),
            }
            run_until_stopped(servers, Some(pipeline), Drain::InFlight, &shutdown, &readiness).await
        }
        Target::ControlPlane => {
            let settings = common.control_settings()?;
            let store = common.store().await?;
            let control = Arc::new(ControlPlane::with_settings(store, settings));
            reseal(&control).await?;
            // Alert notifications go out from the control plane, which holds the channels;
            // given the bus, as soon as storage-write tells it recorded transitions.
            let wake = match common.nats_url {
                Some(_) => Some(common.bus(true, &health).await?),
                None => None,
            };
            if let Some(bus) = wake.clone() {
                announce_revocations(control.key_revocations(), bus);
            }
            let _notifier = cloudgrid_control::notifier::spawn((*control).clone(), common.notifier()?, wake);
            if common.local() {
                let boot = control.bootstrap_local(&common.data_dir).await?;
                if let Some(key) = boot.created_key {
                    println!("created project '{}' with ingest key (shown once, also in {}):\n  {key}", boot.project_id, boot.key_file.display());
                }
            }
            let token = common.service_token()?;
            let keys = cloudgrid_proto::cloudgrid::control::v1::key_verification_server::KeyVerificationServer::with_interceptor(
                KeyVerificationService(control.clone()),
                token.require(&["collector"]),
            );
            let router = ControlService::add_to(tonic::service::Routes::new(keys), control, &token).into_axum_router();
            serve(&mut servers, "control-plane gRPC", common.control_plane_addr.resolve().await?, router, &shutdown).await?;
            run_until_stopped(servers, None, Drain::InFlight, &shutdown, &readiness).await
        }
        Target::StorageRead => {
            let token = common.service_token()?;
            let bus = common.bus(true, &health).await?;
            let store = common.store().await?;
            // storage-read checks each call's end user with the control plane's policy,
            // over its own storage.
            let access: Arc<dyn ControlApi> = Arc::new(ControlPlane::new(store.clone()));
            let read = common.storage_read(store, bus, &health)?;
            let router = tonic::service::Routes::new(ReadService::server(Arc::new(read), access, &token)).into_axum_router();
            serve(&mut servers, "storage-read gRPC", common.storage_read_addr.resolve().await?, router, &shutdown).await?;
            run_until_stopped(servers, None, Drain::InFlight, &shutdown, &readiness).await
        }
        Target::Maintenance(_) => {
            let config = common.retention()?;
            let store = common.store().await?;
            let retention = Scheduler::start(store, config, &health);
            let stopped = run_until_stopped(servers, None, Drain::InFlight, &shutdown, &readiness).await;
            if let Some(r) = retention {
                r.stop().await;
            }
            stopped
        }
        Target::Bff => {
            let token = common.service_token()?;
            let read_url = common.storage_read_addr.url();
            let control_url = common.control_plane_addr.url();
            let read = GrpcRead::new(&read_url, &token).map_err(anyhow::Error::msg)?;
            let control = GrpcControl::new(&control_url, &token).map_err(anyhow::Error::msg)?;
            println!("storage-read: {read_url}; control plane: {control_url}");
            // On one machine (local mode) the collector listens where its settings say.
            let bff = common.bff(Arc::new(read), Arc::new(control), common.local())?;
            serve(&mut servers, "GraphQL (BFF)", common.addr(common.bff_addr, 8080), bff, &shutdown).await?;
            run_until_stopped(servers, None, Drain::InFlight, &shutdown, &readiness).await
        }
    }
}

/// Tells the collectors when the control plane revokes keys.
fn announce_revocations(mut revocations: tokio::sync::watch::Receiver<u64>, bus: Arc<dyn Bus>) {
    tokio::spawn(async move {
        while revocations.changed().await.is_ok() {
            if let Err(e) = bus.notify(subjects::KEYS_REVOKED, Default::default()).await {
                tracing::warn!("could not announce a key revocation (collectors drop it when their cache expires): {e}");
            }
        }
    });
}

/// Finishes a rotation of the provider-secret key: what old keys sealed is sealed again
/// under the current one.
async fn reseal(control: &ControlPlane) -> Result<()> {
    let resealed = control.reseal_provider_secrets().await.context("re-encrypting provider secrets under the current key")?;
    if resealed > 0 {
        println!("provider secrets: {resealed} re-encrypted under the current key; the old keys may now be removed");
    }
    Ok(())
}

async fn start_collector(
    common: &Common,
    servers: &mut tokio::task::JoinSet<Result<()>>,
    bus: Arc<dyn Bus>,
    keys: Arc<dyn KeyVerifier>,
    health: &Health,
    shutdown: &CancellationToken,
) -> Result<Collector> {
    let collector = Collector::new(bus, keys, common.collector()?, health);
    let http = common.addr(common.otlp_http_addr, 4318);
    let grpc = common.addr(common.otlp_grpc_addr, 4317);
    serve(servers, "OTLP/HTTP", http, cloudgrid_sources::otlp::http::router(collector.clone()), shutdown).await?;
    serve(servers, "OTLP/gRPC", grpc, cloudgrid_sources::otlp::grpc::router(collector.clone()), shutdown).await?;
    Ok(collector)
}

/// How long a server waits for open connections to finish once asked to stop.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

async fn serve(
    servers: &mut tokio::task::JoinSet<Result<()>>,
    what: &'static str,
    addr: SocketAddr,
    router: axum::Router,
    shutdown: &CancellationToken,
) -> Result<()> {
    // A span per request (exported with self-observability), but not for the probes.
    let router = if what == "health" { router } else { with_request_spans(router, what) };
    let listener = TcpListener::bind(addr).await.with_context(|| format!("{what}: cannot listen on {addr}"))?;
    println!("{what} listening on {}", listener.local_addr()?);
    let (stop, grace) = (shutdown.clone(), shutdown.clone());
    servers.spawn(async move {
        let server = axum::serve(listener, router).with_graceful_shutdown(async move { stop.cancelled().await });
        // Long-lived streams (subscriptions, live views) do not end on their own: after
        // the grace period the rest are closed.
        tokio::select! {
            r = server => r.with_context(|| format!("{what} server")),
            _ = async { grace.cancelled().await; tokio::time::sleep(SHUTDOWN_GRACE).await } => {
                println!("{what}: connections still open after {}s; closing them", SHUTDOWN_GRACE.as_secs());
                Ok(())
            }
        }
    });
    Ok(())
}

/// One span per request: method and path (never the query string, which may carry a
/// sign-in code), the listener, and the response status.
fn with_request_spans(router: axum::Router, what: &'static str) -> axum::Router {
    router.layer(
        tower_http::trace::TraceLayer::new_for_http()
            .make_span_with(move |r: &axum::http::Request<axum::body::Body>| {
                let (method, path) = (r.method().as_str(), r.uri().path());
                tracing::info_span!(
                    "request",
                    otel.name = %format!("{method} {path}"),
                    otel.kind = "server",
                    http.request.method = %method,
                    url.path = %path,
                    server = what,
                    http.response.status_code = tracing::field::Empty,
                )
            })
            .on_request(())
            .on_response(|r: &axum::http::Response<axum::body::Body>, _: std::time::Duration, span: &tracing::Span| {
                span.record("http.response.status_code", i64::from(r.status().as_u16()));
            })
            .on_body_chunk(())
            .on_eos(())
            .on_failure(()),
    )
}

async fn run_until_stopped(
    mut servers: tokio::task::JoinSet<Result<()>>,
    mut pipeline: Option<Pipeline>,
    drain: Drain,
    shutdown: &CancellationToken,
    readiness: &cloudgrid_proto::health::Readiness,
) -> Result<()> {
    readiness.set(true);
    println!("ready");
    let failed = async {
        match pipeline.as_mut() {
            Some(p) => p.failed().await,
            None => std::future::pending().await,
        }
    };
    let mut finished = false;
    tokio::select! {
        _ = shutdown.cancelled() => {}
        r = failed => {
            shutdown.cancel();
            r?;
            // Only a storage-write process that does not consume ends this way: process 0
            // of its cluster stopped, and with it the dataflow.
            println!("the storage-write cluster stopped");
            finished = true;
        }
        Some(r) = servers.join_next() => {
            shutdown.cancel();
            r??;
        }
    }
    readiness.set(false);
    // Stop accepting first, then let the pipeline finish what was accepted.
    while let Some(r) = servers.join_next().await {
        r??;
    }
    if let Some(p) = pipeline.filter(|_| !finished) {
        p.stop(drain).await?;
    }
    println!("stopped");
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
