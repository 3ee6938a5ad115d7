//! Webhook delivery against a real HTTP receiver on this machine: signed requests that
//! the receiver verifies on its own, inside addresses refused at the moment of sending
//! (however the name resolves) unless allow-listed, connections pinned to the checked
//! address, redirects not followed, and failures told apart (retry or give up).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use cloudgrid_control::deliver::{AllowList, DeliveryError, Resolve, Sender, Webhook};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const SECRET: &str = "whsec_0123456789abcdef0123456789abcdef";

/// What the receiver got.
#[derive(Debug, Clone)]
pub struct Got {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// A receiver answering `status` (after `delay`), with `location` on redirects.
pub struct Receiver {
    pub addr: SocketAddr,
    got: Arc<Mutex<Vec<Got>>>,
}

impl Receiver {
    pub async fn start(status: u16, delay: Duration, location: Option<&'static str>) -> Self {
        let got: Arc<Mutex<Vec<Got>>> = Arc::default();
        let seen = got.clone();
        let app = Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: Bytes| {
                let seen = seen.clone();
                async move {
                    seen.lock().expect("lock").push(Got { headers, body: body.to_vec() });
                    tokio::time::sleep(delay).await;
                    let mut answer = axum::http::Response::builder().status(StatusCode::from_u16(status).expect("status"));
                    if let Some(l) = location {
                        answer = answer.header("location", l);
                    }
                    answer.body(axum::body::Body::empty()).expect("response")
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, got }
    }

    pub fn got(&self) -> Vec<Got> {
        self.got.lock().expect("lock").clone()
    }
}

/// Names resolved as the test says, whatever DNS would.
struct Names(Vec<(&'static str, Vec<SocketAddr>)>);

#[async_trait::async_trait]
impl Resolve for Names {
    async fn resolve(&self, host: &str, _port: u16) -> std::io::Result<Vec<SocketAddr>> {
        self.0
            .iter()
            .find(|(n, _)| *n == host)
            .map(|(_, a)| a.clone())
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such name"))
    }
}

fn hook<'a>(url: &'a str, body: &'a [u8]) -> Webhook<'a> {
    Webhook { url, body, secret: SECRET, idempotency_key: "rule-1:group-a:firing:1764342000", timestamp: 1_764_342_000 }
}

fn loopback() -> AllowList {
    AllowList::parse("127.0.0.1").expect("allow")
}

/// What a receiver does with the headers: recompute the signature with the secret.
fn verifies(got: &Got) -> bool {
    verifies_with(SECRET, got)
}

/// [`verifies`] with `secret`.
pub fn verifies_with(secret: &str, got: &Got) -> bool {
    let header = |n: &str| got.headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let timestamp = header("x-cloudgrid-timestamp");
    let Some(sent) = header("x-cloudgrid-signature").strip_prefix("v1=").map(String::from) else { return false };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(&got.body);
    mac.verify_slice(&hex::decode(sent).unwrap_or_default()).is_ok()
}

#[tokio::test]
async fn a_webhook_reaches_an_allowed_receiver_signed_and_keyed() {
    let receiver = Receiver::start(204, Duration::ZERO, None).await;
    let url = format!("http://{}/hook", receiver.addr);
    let body = br#"{"rule":"Checkout errors","state":"firing"}"#;
    let sender = Sender::new(Duration::from_secs(5));
    assert_eq!(sender.send(&hook(&url, body), &loopback()).await.expect("delivered"), 204);
    let got = receiver.got();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, body);
    assert!(verifies(&got[0]), "the receiver verifies the signature: {:?}", got[0].headers);
    assert_eq!(got[0].headers["idempotency-key"], "rule-1:group-a:firing:1764342000");
    assert_eq!(got[0].headers["content-type"], "application/json");
    // A body changed on the way no longer verifies.
    let mut tampered = got[0].clone();
    tampered.body.push(b' ');
    assert!(!verifies(&tampered));
}

#[tokio::test]
async fn inside_addresses_are_refused_when_sending_unless_allow_listed() {
    let receiver = Receiver::start(200, Duration::ZERO, None).await;
    let port = receiver.addr.port();
    let url = format!("http://{}/hook", receiver.addr);
    let sender = Sender::new(Duration::from_secs(5));
    let e = sender.send(&hook(&url, b"{}"), &AllowList::default()).await.expect_err("loopback is refused");
    assert!(matches!(e, DeliveryError::Refused(_)) && !e.is_retryable(), "{e}");
    assert!(receiver.got().is_empty(), "nothing reached it");

    // Names are resolved at sending, and judged by every address they resolve to.
    let public: SocketAddr = "93.184.216.34:80".parse().expect("addr");
    let here: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let names = Names(vec![
        ("rebind.example", vec![public, "10.0.0.5:80".parse().expect("addr")]),
        ("metadata.example", vec!["169.254.169.254:80".parse().expect("addr")]),
        ("mapped.example", vec!["[::ffff:127.0.0.1]:80".parse().expect("addr")]),
        ("hooks.example", vec![here]),
    ]);
    let sender = Sender::with_resolver(Duration::from_secs(5), Box::new(names));
    for name in ["rebind.example", "metadata.example", "mapped.example", "hooks.example"] {
        let url = format!("http://{name}:{port}/hook");
        let e = sender.send(&hook(&url, b"{}"), &AllowList::default()).await.expect_err("refused");
        assert!(matches!(e, DeliveryError::Refused(ref m) if m.contains("resolves to")), "{name}: {e}");
    }
    assert!(receiver.got().is_empty());

    // Allow-listed, the name's checked address is the one connected to: the name exists
    // in no DNS, so only the pinned address can reach the receiver.
    let url = format!("http://hooks.example:{port}/hook");
    assert_eq!(sender.send(&hook(&url, b"{}"), &loopback()).await.expect("delivered"), 200);
    assert_eq!(receiver.got().len(), 1);
    assert_eq!(receiver.got()[0].headers["host"], format!("hooks.example:{port}"));
    // The allow-list opens only what it lists.
    let e = sender.send(&hook("http://rebind.example/hook", b"{}"), &loopback()).await.expect_err("refused");
    assert!(matches!(e, DeliveryError::Refused(_)), "{e}");
    // Names for this machine stay refused whatever the list says.
    let e = sender.send(&hook(&format!("http://localhost:{port}/hook"), b"{}"), &loopback()).await.expect_err("refused");
    assert!(matches!(e, DeliveryError::Refused(_)), "{e}");
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let receiver = Receiver::start(302, Duration::ZERO, Some("http://169.254.169.254/latest/meta-data/")).await;
    let url = format!("http://{}/hook", receiver.addr);
    let e = Sender::new(Duration::from_secs(5)).send(&hook(&url, b"{}"), &loopback()).await.expect_err("a redirect fails");
    assert!(matches!(e, DeliveryError::Rejected(302)) && !e.is_retryable(), "{e}");
    assert_eq!(receiver.got().len(), 1, "one request, no second one to where it pointed");
}

#[tokio::test]
async fn failures_say_whether_a_retry_can_help() {
    let sender = Sender::new(Duration::from_millis(500));
    for (status, retry) in [(500, true), (503, true), (429, true), (408, true), (400, false), (404, false), (410, false)] {
        let receiver = Receiver::start(status, Duration::ZERO, None).await;
        let url = format!("http://{}/hook", receiver.addr);
        let e = sender.send(&hook(&url, b"{}"), &loopback()).await.expect_err("fails");
        assert_eq!(e.is_retryable(), retry, "{status}: {e}");
    }
    let slow = Receiver::start(200, Duration::from_secs(5), None).await;
    let url = format!("http://{}/hook", slow.addr);
    let e = sender.send(&hook(&url, b"{}"), &loopback()).await.expect_err("times out");
    assert!(e.is_retryable() && e.to_string().contains("timed out"), "{e}");
    // Nobody listening: retry later.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let e = sender.send(&hook(&format!("http://{closed}/hook"), b"{}"), &loopback()).await.expect_err("refused connection");
    assert!(e.is_retryable(), "{e}");
}
