//! Alert detection latency, side by side: the same crossing point sent at the same moment
//! to CloudGrid (OTLP/HTTP) and to a Prometheus with Alertmanager (remote write), and the
//! time from each send to the webhook call announcing the alert.
//!
//! Each round uses a series of its own (`round` label), so every crossing starts a new
//! alert: a point below the threshold first, then, after a pause of random length (so
//! the peer's evaluation ticks are sampled at every phase), a point above it. Both
//! webhooks land on a receiver this probe runs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::{Value as J, json};

/// The metric both sides are fed (Prometheus spells it with underscores).
pub const METRIC: &str = "bench.alert.level";
/// The threshold the rules compare with; rounds go from 1 to 150.
pub const THRESHOLD: f64 = 100.0;

#[derive(Debug, Clone)]
pub struct AlertLatencyConfig {
    /// The BFF's GraphQL endpoint (`http://host:port/graphql`), answering as the local owner.
    pub graphql: String,
    /// OTLP/HTTP receiver.
    pub otlp: String,
    pub key: String,
    /// The pipeline's health surface, to wait until the rule is loaded.
    pub admin: String,
    /// Prometheus (`http://host:port`, remote-write receiver enabled); `None`: CloudGrid only.
    pub prometheus: Option<String>,
    /// Where this probe receives both webhooks: `/cloudgrid` and `/peer`.
    pub receiver: SocketAddr,
    pub rounds: usize,
    /// Pause between a round's low point and its crossing point: this plus up to 1 s.
    pub pause: Duration,
    /// Longest wait for a round's notifications.
    pub timeout: Duration,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Side {
    pub notified: usize,
    pub missed: usize,
    pub p50_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct AlertLatencyReport {
    pub rounds: usize,
    pub cloudgrid: Side,
    pub peer: Option<Side>,
    /// Peer p50 / CloudGrid p50, and the same of p99.
    pub p50_ratio: Option<f64>,
    pub p99_ratio: Option<f64>,
}

/// When each round's firing alert reached each webhook path.
type Arrivals = Arc<Mutex<HashMap<(String, String), Instant>>>;

async fn receive(addr: SocketAddr) -> Result<Arrivals> {
    let arrivals: Arrivals = Arc::default();
    let seen = arrivals.clone();
    let handler = move |axum::extract::Path(side): axum::extract::Path<String>, body: axum::body::Bytes| {
        let seen = seen.clone();
        async move {
            let at = Instant::now();
            // CloudGrid's and Alertmanager's payloads both list `alerts` with a
            // `status` and `labels`.
            if let Ok(body) = serde_json::from_slice::<J>(&body) {
                let mut seen = seen.lock().expect("lock");
                for a in body["alerts"].as_array().into_iter().flatten() {
                    if let (Some("firing"), Some(round)) = (a["status"].as_str(), a["labels"]["round"].as_str()) {
                        seen.entry((side.clone(), round.to_string())).or_insert(at);
                    }
                }
            }
            "ok"
        }
    };
    let app = axum::Router::new().route("/{side}", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding the webhook receiver at {addr}"))?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(arrivals)
}

async fn graphql(http: &reqwest::Client, url: &str, query: &str, variables: J) -> Result<J> {
    let body = json!({"query": query, "variables": variables}).to_string();
    let reply = http.post(url).header("content-type", "application/json").body(body).send().await?.bytes().await?;
    let reply: J = serde_json::from_slice(&reply).context("GraphQL answered something that is not JSON")?;
    if !reply["errors"].is_null() {
        bail!("GraphQL answered errors: {}", reply["errors"]);
    }
    Ok(reply["data"].clone())
}

/// A webhook channel to this probe and a rule over the bench metric, on project `default`.
async fn set_up_cloudgrid(http: &reqwest::Client, config: &AlertLatencyConfig) -> Result<()> {
    let gql = &config.graphql;
    let host = config.receiver.ip().to_string();
    graphql(http, gql, "mutation($e: [String!]!) { setWebhookAllowList(company: \"default\", entries: $e) }", json!({"e": [host]})).await?;
    let made = graphql(
        http,
        gql,
        "mutation($spec: JSON!) { createNotificationChannel(project: \"default\", spec: $spec) { channel { id } } }",
        json!({"spec": {"name": format!("alert-bench-{}", unix_ms()), "target": {"kind": "webhook", "url": format!("http://{}/cloudgrid", config.receiver)}}}),
    )
    .await?;
    let channel = made["createNotificationChannel"]["channel"]["id"].as_str().context("no channel id")?;
    let rule = json!({
        "name": format!("alert-bench-{}", unix_ms()), "metric": METRIC, "aggregation": "max", "window": "1m",
        "groupBy": ["round"], "condition": {"op": "gt", "threshold": THRESHOLD}, "severity": "critical", "channels": [channel]
    });
    graphql(http, gql, "mutation($spec: JSON!) { createAlertRule(project: \"default\", spec: $spec) { id } }", json!({"spec": rule})).await?;
    // Storage-write reads rules every second.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = http.get(format!("{}/metrics", config.admin)).send().await?.text().await?;
        let loaded = text.lines().filter(|l| l.starts_with("cloudgrid_alert_rules ")).filter_map(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()).sum::<f64>();
        if loaded >= 1.0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("storage-write did not load the alert rule within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// An OTLP/HTTP metrics request body: a gauge point of `metric` per `(label value,
/// value)`, with `label` set to it, all at `time_unix_nano`.
pub fn gauge_request(metric: &str, label: &str, points: &[(String, f64)], time_unix_nano: u64) -> Vec<u8> {
    let attr = |k: &str, v: &str| KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(v.into())) }),
        ..Default::default()
    };
    let data_points = points
        .iter()
        .map(|(l, v)| NumberDataPoint {
            attributes: vec![attr(label, l)],
            time_unix_nano,
            value: Some(number_data_point::Value::AsDouble(*v)),
            ..Default::default()
        })
        .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource { attributes: vec![attr("service.name", "alert-bench")], ..Default::default() }),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric { name: metric.into(), data: Some(metric::Data::Gauge(Gauge { data_points })), ..Default::default() }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn otlp_gauge(round: &str, value: f64) -> Vec<u8> {
    gauge_request(METRIC, "round", &[(round.to_string(), value)], unix_ms() * 1_000_000)
}

/// Prometheus' remote-write messages (`prometheus.WriteRequest`, the fields used here).
mod remote {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct WriteRequest {
        #[prost(message, repeated, tag = "1")]
        pub timeseries: Vec<TimeSeries>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TimeSeries {
        #[prost(message, repeated, tag = "1")]
        pub labels: Vec<Label>,
        #[prost(message, repeated, tag = "2")]
        pub samples: Vec<Sample>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Label {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub value: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        #[prost(double, tag = "1")]
        pub value: f64,
        #[prost(int64, tag = "2")]
        pub timestamp: i64,
    }
}

fn remote_write(round: &str, value: f64) -> Result<Vec<u8>> {
    let label = |n: &str, v: &str| remote::Label { name: n.into(), value: v.into() };
    let request = remote::WriteRequest {
        timeseries: vec![remote::TimeSeries {
            // Sorted by name, as the protocol asks.
            labels: vec![label("__name__", &METRIC.replace('.', "_")), label("job", "alert-bench"), label("round", round)],
            samples: vec![remote::Sample { value, timestamp: unix_ms() as i64 }],
        }],
    };
    Ok(snap::raw::Encoder::new().compress_vec(&request.encode_to_vec())?)
}

async fn send_otlp(http: &reqwest::Client, config: &AlertLatencyConfig, round: &str, value: f64) -> Result<()> {
    let reply = http
        .post(format!("{}/v1/metrics", config.otlp))
        .header("content-type", "application/x-protobuf")
        .header("authorization", format!("Bearer {}", config.key))
        .body(otlp_gauge(round, value))
        .send()
        .await?;
    if !reply.status().is_success() {
        bail!("OTLP answered {}", reply.status());
    }
    Ok(())
}

async fn send_remote(http: &reqwest::Client, url: &str, round: &str, value: f64) -> Result<()> {
    let reply = http
        .post(format!("{url}/api/v1/write"))
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "snappy")
        .header("x-prometheus-remote-write-version", "0.1.0")
        .body(remote_write(round, value)?)
        .send()
        .await?;
    if !reply.status().is_success() {
        bail!("Prometheus remote write answered {}: {}", reply.status(), reply.text().await.unwrap_or_default());
    }
    Ok(())
}

fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    Some(sorted[i.min(sorted.len() - 1)])
}

fn side(mut ms: Vec<f64>, missed: usize) -> Side {
    ms.sort_by(f64::total_cmp);
    Side {
        notified: ms.len(),
        missed,
        p50_ms: quantile(&ms, 0.5),
        p90_ms: quantile(&ms, 0.9),
        p99_ms: quantile(&ms, 0.99),
        max_ms: ms.last().copied(),
    }
}

pub async fn run(config: AlertLatencyConfig) -> Result<AlertLatencyReport> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let arrivals = receive(config.receiver).await?;
    set_up_cloudgrid(&http, &config).await?;
    let run = format!("{:x}", unix_ms());
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let (mut our_missed, mut their_missed) = (0, 0);
    // Round 0 warms both up (Prometheus finds its Alertmanager some seconds after it
    // starts) and is not counted.
    for r in 0..=config.rounds {
        let round = format!("{run}-{r}");
        send_otlp(&http, &config, &round, 1.0).await?;
        if let Some(url) = &config.prometheus {
            send_remote(&http, url, &round, 1.0).await?;
        }
        let jitter = Duration::from_millis(rand::random_range(0..1_000));
        tokio::time::sleep(config.pause + jitter).await;
        // The crossing point, to both at once; each side's clock starts at its send.
        let cg_sent = Instant::now();
        let peer = async {
            match &config.prometheus {
                Some(url) => {
                    let at = Instant::now();
                    send_remote(&http, url, &round, 150.0).await.map(|()| Some(at))
                }
                None => Ok(None),
            }
        };
        let (ours_sent, peer_sent) = tokio::join!(send_otlp(&http, &config, &round, 150.0), peer);
        ours_sent?;
        let peer_sent = peer_sent?;
        let deadline = Instant::now() + if r == 0 { config.timeout.max(Duration::from_secs(60)) } else { config.timeout };
        let (mut cg, mut pe) = (None, None);
        loop {
            {
                let seen = arrivals.lock().expect("lock");
                cg = cg.or_else(|| seen.get(&("cloudgrid".to_string(), round.clone())).copied());
                pe = pe.or_else(|| seen.get(&("peer".to_string(), round.clone())).copied());
            }
            if cg.is_some() && (pe.is_some() || peer_sent.is_none()) || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        if r == 0 {
            eprintln!("warm-up: cloudgrid {cg:?}, peer {pe:?}");
            continue;
        }
        match cg {
            Some(at) => ours.push(at.duration_since(cg_sent).as_secs_f64() * 1e3),
            None => our_missed += 1,
        }
        if let Some(sent) = peer_sent {
            match pe {
                Some(at) => theirs.push(at.duration_since(sent).as_secs_f64() * 1e3),
                None => their_missed += 1,
            }
        }
        eprintln!("round {r}: cloudgrid {:?} ms, peer {:?} ms", ours.last(), theirs.last());
    }
    let cloudgrid = side(ours, our_missed);
    let peer = config.prometheus.as_ref().map(|_| side(theirs, their_missed));
    let ratio = |a: Option<f64>, b: Option<f64>| Some(a? / b?);
    Ok(AlertLatencyReport {
        rounds: config.rounds,
        p50_ratio: peer.as_ref().and_then(|p| ratio(p.p50_ms, cloudgrid.p50_ms)),
        p99_ratio: peer.as_ref().and_then(|p| ratio(p.p99_ms, cloudgrid.p99_ms)),
        cloudgrid,
        peer,
    })
}
