//! Service-to-service authentication of the internal gRPC contracts: every process of
//! one deployment shares a token (`CLOUDGRID_SERVICE_TOKEN`); servers refuse calls that do
//! not carry it, clients attach it. Without a token (local development) calls are not
//! checked; deployed mode refuses to start without one.

use std::sync::Arc;

use tonic::service::Interceptor;
use tonic::{Request, Status};

/// The least length of a token deployed mode accepts.
pub const MIN_TOKEN_LEN: usize = 32;

const HEADER: &str = "x-cloudgrid-service-token";

#[derive(Clone, Default)]
pub struct ServiceToken(Option<Arc<str>>);

impl std::fmt::Debug for ServiceToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "ServiceToken(set)" } else { "ServiceToken(none)" })
    }
}

impl ServiceToken {
    /// Surrounding whitespace (a secret file's trailing newline) is not part of it.
    pub fn new(token: Option<String>) -> Self {
        Self(token.map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).map(Arc::from))
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

    /// The server side: an interceptor refusing calls without the token.
    pub fn require(&self) -> Require {
        Require(self.0.clone())
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
pub struct Require(Option<Arc<str>>);

impl Interceptor for Require {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let Some(want) = &self.0 else { return Ok(request) };
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
        assert!(token.require().call(attached).is_ok());
        assert_eq!(token.require().call(Request::new(())).expect_err("no token").code(), tonic::Code::Unauthenticated);
        let other = ServiceToken::new(Some("another-token-another-token-xxxx".into())).attach().call(Request::new(())).expect("attach");
        assert_eq!(token.require().call(other).expect_err("wrong token").code(), tonic::Code::Unauthenticated);
        // No token configured: nothing is checked.
        assert!(ServiceToken::new(None).require().call(Request::new(())).is_ok());
    }
}
