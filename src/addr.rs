//! `host:port` for the internal gRPC addresses. The service that listens binds it (a
//! name is resolved first); the services that dial it keep the name, so a Kubernetes
//! Service or any DNS name works, and the connection follows the name as it moves.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use anyhow::{Context, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// A name, an IPv4 address, or an IPv6 address in brackets.
    host: String,
    port: u16,
}

impl FromStr for HostPort {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not host:port (such as 10.0.0.5:4320, [::1]:4320 or control-plane:4320)");
        let (host, port) = s.trim().rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        let bracketed = host.starts_with('[') && host.ends_with(']') && host.len() > 2;
        let plain = !host.is_empty() && !host.contains([':', '/', '[', ']', ' ']);
        if !(bracketed || plain) {
            return Err(bad());
        }
        Ok(Self { host: host.to_string(), port })
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

impl HostPort {
    /// The address to listen on: the first the name resolves to.
    pub async fn resolve(&self) -> Result<SocketAddr> {
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        tokio::net::lookup_host((host, self.port))
            .await
            .with_context(|| format!("cannot resolve {self}"))?
            .next()
            .with_context(|| format!("{self} resolves to no address"))
    }

    /// The URL a gRPC client dials.
    pub fn url(&self) -> String {
        format!("http://{self}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_addresses_parse_and_print_as_given() {
        for ok in ["127.0.0.1:4320", "[::1]:4321", "control-plane:4320", "cloudgrid-storage-read.obs.svc.cluster.local:4321", "localhost:0"] {
            let parsed: HostPort = ok.parse().unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert_eq!(parsed.to_string(), ok);
            assert_eq!(parsed.url(), format!("http://{ok}"));
        }
        for bad in ["", "4320", "host", "host:", ":4320", "host:99999", "::1:4320", "http://host:4320", "a b:1"] {
            let e = bad.parse::<HostPort>().expect_err(bad);
            assert!(e.contains("is not host:port"), "{bad}: {e}");
        }
    }

    #[tokio::test]
    async fn a_name_resolves_to_an_address_to_listen_on() {
        let addr = "localhost:4320".parse::<HostPort>().expect("parse").resolve().await.expect("resolve");
        assert!(addr.ip().is_loopback() && addr.port() == 4320, "{addr}");
        let v6 = "[::1]:0".parse::<HostPort>().expect("parse").resolve().await.expect("resolve");
        assert_eq!(v6, "[::1]:0".parse::<SocketAddr>().expect("socket addr"));
    }
}
