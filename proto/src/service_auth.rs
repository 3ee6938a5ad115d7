//! Service-to-service authentication of the internal gRPC contracts. Each process sends
//! its token (`CLOUDGRID_SERVICE_TOKEN`). A server knows its callers either by one token
//! the whole deployment shares (the same `CLOUDGRID_SERVICE_TOKEN`), or, configured per
//! service, by each caller's own token (`CLOUDGRID_SERVICE_PEER_TOKENS`,
//! `bff=…,collector=…`): then every contract names the callers it takes (the control
//! plane's key verification the collector, its tenancy and workspace contracts and
//! storage-read the BFF), and another service's credential is refused. Without a token
//! (local development) calls are not checked; deployed mode refuses to start without one.

use std::sync::Arc;

use tonic::service::Interceptor;
use tonic::{Request, Status};

/// The least length of a token deployed mode accepts.
pub const MIN_TOKEN_LEN: usize = 32;

const HEADER: &str = "x-cloudgrid-service-token";

#[derive(Clone, Default)]
pub struct ServiceToken(Option<Arc<str>>, Peers);

/// Callers a server knows by their own tokens: (service name, token).
type Peers = Arc<Vec<(String, Arc<str>)>>;

impl std::fmt::Debug for ServiceToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let peers: Vec<&str> = self.1.iter().map(|(name, _)| name.as_str()).collect();
        write!(f, "ServiceToken({}, peers {peers:?})", if self.0.is_some() { "set" } else { "none" })
    }
}

impl ServiceToken {
    /// Surrounding whitespace (a secret file's trailing newline) is not part of it.
    pub fn new(token: Option<String>) -> Self {
        Self(token.map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).map(Arc::from), Peers::default())
    }

    /// The callers this server knows by their own tokens, from `name=token,name=token`.
    pub fn with_peers(mut self, list: &str) -> Result<Self, String> {
        let mut peers = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (name, token) = entry.split_once('=').ok_or_else(|| format!("`{name}` is not service=token", name = entry.split('=').next().unwrap_or_default()))?;
            let (name, token) = (name.trim(), token.trim());
            if name.is_empty() || token.len() < MIN_TOKEN_LEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(format!("the token of `{name}` must be at least {MIN_TOKEN_LEN} printable characters"));
            }
            if peers.iter().any(|(_, t): &(String, Arc<str>)| **t == *token) {
                return Err(format!("`{name}` shares its token with another service: each needs its own"));
            }
            peers.push((name.to_string(), Arc::from(token)));
        }
        self.1 = Arc::new(peers);
        Ok(self)
    }

    /// Why the token cannot be sent, if it cannot (it must be a visible-ASCII header value).
    pub fn validate(&self) -> Result<(), String> {
        match &self.0 {
            Some(t) if !t.bytes().all(|b| b.is_ascii_graphic()) => {
                Err("the service token must be printable ASCII without spaces".into())
            }
            _ => Ok(()),
        }
    }

    /// Its length (0 without one).
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |t| t.len())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }

    /// The server side: an interceptor refusing calls without the deployment's token, or,
    /// when callers have their own tokens, calls from any service but `from`.
    pub fn require(&self, from: &[&'static str]) -> Require {
        Require { shared: self.0.clone(), peers: self.1.clone(), from: from.to_vec() }
    }

    /// The client side: an interceptor attaching the token.
    pub fn attach(&self) -> Attach {
        Attach(self.0.clone())
    }
}

/// Equal-time comparison, so timing says nothing about the token.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Clone, Debug)]
pub struct Require {
    shared: Option<Arc<str>>,
    peers: Peers,
    from: Vec<&'static str>,
}

impl Interceptor for Require {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        if !self.peers.is_empty() {
            let given = request.metadata().get(HEADER).map(|v| v.as_bytes()).unwrap_or_default();
            return match self.peers.iter().find(|(_, t)| same(given, t.as_bytes())) {
                Some((name, _)) if self.from.contains(&name.as_str()) => Ok(request),
                Some((name, _)) => Err(Status::permission_denied(format!("this contract takes no calls from {name}"))),
                None => Err(Status::unauthenticated("this internal service needs a known service token")),
            };
        }
        let Some(want) = &self.shared else { return Ok(request) };
        match request.metadata().get(HEADER).map(|v| v.as_bytes()) {
            Some(given) if same(given, want.as_bytes()) => Ok(request),
            Some(_) => Err(Status::unauthenticated("wrong service token")),
            None => Err(Status::unauthenticated("this internal service needs the deployment's service token")),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Attach(Option<Arc<str>>);

impl Interceptor for Attach {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(t) = &self.0 {
            let v = t.parse().map_err(|_| Status::internal("the service token is not a valid header value"))?;
            request.metadata_mut().insert(HEADER, v);
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_need_the_token_when_one_is_set() {
        let token = ServiceToken::new(Some("s3cret-s3cret-s3cret-s3cret-s3cret".into()));
        let attached = token.attach().call(Request::new(())).expect("attach");
        assert!(token.require(&["bff"]).call(attached).is_ok());
        assert_eq!(token.require(&["bff"]).call(Request::new(())).expect_err("no token").code(), tonic::Code::Unauthenticated);
        let other = ServiceToken::new(Some("another-token-another-token-xxxx".into())).attach().call(Request::new(())).expect("attach");
        assert_eq!(token.require(&["bff"]).call(other).expect_err("wrong token").code(), tonic::Code::Unauthenticated);
        // No token configured: nothing is checked.
        assert!(ServiceToken::new(None).require(&["bff"]).call(Request::new(())).is_ok());
    }

    #[test]
    fn with_tokens_per_service_a_contract_takes_only_the_callers_it_names() {
        let (bff, collector) = ("bff-token-bff-token-bff-token-bff-token", "collector-token-collector-token-xx");
        let server = ServiceToken::new(Some("control-plane-own-token-control-plane".into()))
            .with_peers(&format!("bff={bff}, collector={collector}"))
            .expect("peers");
        let from = |t: &str| ServiceToken::new(Some(t.into())).attach().call(Request::new(())).expect("attach");
        assert!(server.require(&["bff"]).call(from(bff)).is_ok());
        assert!(server.require(&["collector"]).call(from(collector)).is_ok());
        let refused = server.require(&["bff"]).call(from(collector)).expect_err("another service's credential");
        assert_eq!(refused.code(), tonic::Code::PermissionDenied);
        assert!(refused.message().contains("collector"));
        assert_eq!(server.require(&["bff"]).call(Request::new(())).expect_err("none").code(), tonic::Code::Unauthenticated);
        let stranger = from("control-plane-own-token-control-plane");
        assert_eq!(server.require(&["bff"]).call(stranger).expect_err("not a peer").code(), tonic::Code::Unauthenticated);
        for bad in ["bff", "bff=short", &format!("a={bff},b={bff}")] {
            assert!(ServiceToken::new(None).with_peers(bad).is_err(), "{bad}");
        }
    }
}
