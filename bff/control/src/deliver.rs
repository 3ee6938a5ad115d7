//! Sending a webhook: a JSON body, signed, to a URL that is checked again at the moment
//! of sending. The host's name is resolved here and every address it resolves to must be
//! public (or in the company's allow-list); the connection is then pinned to the checked
//! address, so DNS cannot answer differently between the check and the connection.
//! Redirects are not followed: a 3xx answer is a failed delivery.
//!
//! Each request carries `X-CloudGrid-Timestamp` (unix seconds) and
//! `X-CloudGrid-Signature: v1=<hex HMAC-SHA256 over "<timestamp>.<body>">` keyed with the
//! channel's signing secret, and an `Idempotency-Key` that is the same on every attempt
//! of one notification, so a receiver can drop repeats.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::webhook::{check_host, forbidden};

/// Addresses a company's admins allow webhooks to reach although they are not public
/// (an internal receiver): single addresses or CIDR blocks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList(Vec<(IpAddr, u8)>);

impl AllowList {
    /// `10.1.2.3`, `10.0.0.0/8`, `fd00::/8`, comma-separated.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (ip, len) = match item.split_once('/') {
                Some((ip, len)) => (ip, Some(len)),
                None => (item, None),
            };
            let ip: IpAddr = ip.parse().map_err(|_| format!("`{item}` is not an address or CIDR block"))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let len = match len {
                None => max,
                Some(l) => l.parse::<u8>().ok().filter(|l| *l <= max).ok_or_else(|| format!("`{item}`: a prefix length from 0 to {max}"))?,
            };
            out.push((ip, len));
        }
        Ok(Self(out))
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|(net, len)| match (net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix(u128::from(u32::from(*n)) << 96, u128::from(u32::from(a)) << 96, *len),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix(u128::from(*n), u128::from(a), *len),
            _ => false,
        })
    }
}

fn prefix(net: u128, addr: u128, len: u8) -> bool {
    len == 0 || (net ^ addr) >> (128 - u32::from(len)) == 0
}

/// Why a delivery failed, and whether trying again later can help.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The target is not allowed (an inside address, a bad URL): retrying cannot help.
    #[error("refused: {0}")]
    Refused(String),
    /// The receiver answered with a status that says the request is wrong (4xx, 3xx).
    #[error("the receiver answered {0}")]
    Rejected(u16),
    /// Not delivered this time: unreachable, timed out, or a 5xx, 408 or 429 answer.
    #[error("not delivered: {0}")]
    Failed(String),
}

impl DeliveryError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, DeliveryError::Failed(_))
    }
}

/// Resolves a host name to the addresses a connection may use.
#[async_trait::async_trait]
pub trait Resolve: Send + Sync {
    async fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>>;
}

/// The system's resolver.
pub struct SystemResolver;

#[async_trait::async_trait]
impl Resolve for SystemResolver {
    async fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        Ok(tokio::net::lookup_host((host, port)).await?.collect())
    }
}

/// One webhook request.
pub struct Webhook<'a> {
    pub url: &'a str,
    pub body: &'a [u8],
    pub secret: &'a str,
    pub idempotency_key: &'a str,
    /// Unix seconds, signed with the body.
    pub timestamp: u64,
}

/// The signature a receiver recomputes: hex HMAC-SHA256 over `<timestamp>.<body>`.
pub fn signature(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

pub struct Sender {
    timeout: Duration,
    resolver: Box<dyn Resolve>,
}

impl Sender {
    pub fn new(timeout: Duration) -> Self {
        Self { timeout, resolver: Box::new(SystemResolver) }
    }

    /// A sender resolving names with `resolver` (tests).
    pub fn with_resolver(timeout: Duration, resolver: Box<dyn Resolve>) -> Self {
        Self { timeout, resolver }
    }

    /// The address to connect to for `url`: every address its host resolves to must be
    /// allowed, and the first is used.
    async fn target(&self, url: &url::Url, allow: &AllowList) -> Result<SocketAddr, DeliveryError> {
        let refused = |m: String| DeliveryError::Refused(m);
        let port = url.port_or_known_default().ok_or_else(|| refused("the URL has no port".into()))?;
        let addrs: Vec<SocketAddr> = match url.host() {
            Some(url::Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
            Some(url::Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
            Some(url::Host::Domain(name)) => self
                .resolver
                .resolve(name, port)
                .await
                .map_err(|e| DeliveryError::Failed(format!("resolving {name}: {e}")))?,
            None => return Err(refused("the URL needs a host".into())),
        };
        if addrs.is_empty() {
            return Err(DeliveryError::Failed(format!("{} resolves to no address", url.host_str().unwrap_or_default())));
        }
        // A name that resolves to an inside address anywhere in its answer is refused as a
        // whole: which one a client picks is not ours to guess.
        for a in &addrs {
            if let Some(why) = forbidden(a.ip()).filter(|_| !allow.contains(a.ip())) {
                return Err(refused(format!("{} resolves to {}, {why}: webhooks go to public addresses only", url.host_str().unwrap_or_default(), a.ip())));
            }
        }
        Ok(addrs[0])
    }

    /// Sends `hook`. `Ok` is the receiver's 2xx status.
    pub async fn send(&self, hook: &Webhook<'_>, allow: &AllowList) -> Result<u16, DeliveryError> {
        let url = check_host(hook.url, allow).map_err(DeliveryError::Refused)?;
        let addr = self.target(&url, allow).await?;
        let mut client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
            .user_agent(concat!("CloudGrid/", env!("CARGO_PKG_VERSION")));
        if let Some(url::Host::Domain(name)) = url.host() {
            client = client.resolve(name, addr);
        }
        let client = client.build().map_err(|e| DeliveryError::Failed(e.to_string()))?;
        let answer = client
            .post(url)
            .header("content-type", "application/json")
            .header("x-cloudgrid-timestamp", hook.timestamp.to_string())
            .header("x-cloudgrid-signature", format!("v1={}", signature(hook.secret, hook.timestamp, hook.body)))
            .header("idempotency-key", hook.idempotency_key)
            .body(hook.body.to_vec())
            .send()
            .await
            .map_err(|e| DeliveryError::Failed(if e.is_timeout() { "timed out".into() } else { format!("{e}") }))?;
        let status = answer.status().as_u16();
        match status {
            200..=299 => Ok(status),
            408 | 429 | 500..=599 => Err(DeliveryError::Failed(format!("the receiver answered {status}"))),
            _ => Err(DeliveryError::Rejected(status)),
        }
    }
}

/// Delays between attempts of one notification: 1 s, 2 s, 4 s… up to `max`.
pub fn backoff(attempt: u32, max: Duration) -> Duration {
    Duration::from_secs(1u64.checked_shl(attempt.min(20)).unwrap_or(u64::MAX)).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_lists_hold_addresses_and_blocks() {
        let allow = AllowList::parse("10.1.2.3, 192.168.0.0/16, fd00::/8").expect("parse");
        assert!(allow.contains("10.1.2.3".parse().expect("ip")));
        assert!(!allow.contains("10.1.2.4".parse().expect("ip")));
        assert!(allow.contains("192.168.200.1".parse().expect("ip")));
        assert!(allow.contains("fd12::1".parse().expect("ip")));
        assert!(!allow.contains("fe80::1".parse().expect("ip")));
        assert!(AllowList::parse("10.0.0.0/33").is_err());
        assert!(AllowList::parse("example.com").is_err());
        assert!(AllowList::parse("0.0.0.0/0").expect("all").contains("8.8.8.8".parse().expect("ip")));
    }

    #[test]
    fn backoff_doubles_up_to_its_bound() {
        let max = Duration::from_secs(60);
        assert_eq!([0, 1, 2, 6, 40].map(|a| backoff(a, max).as_secs()), [1, 2, 4, 60, 60]);
    }
}
