//! The ingest-key verification contract. The control plane owns keys; the collector only
//! asks, in-process in `cloudgrid all` and over gRPC between services.

use async_trait::async_trait;

use crate::cloudgrid::control::v1 as pb;

/// What the control plane says about a presented key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyCheck {
    /// `max_active_series`: the project's own active-series limit, when it sets one
    /// (otherwise the collector's applies; 0: no limit).
    Valid { project_id: String, max_active_series: Option<u64> },
    Unknown,
    Revoked,
    /// A real key that may not ingest (e.g. a read-only key).
    WrongScope,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("key verification unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait KeyVerifier: Send + Sync + 'static {
    async fn verify_ingest_key(&self, key: &str) -> Result<KeyCheck, VerifyError>;
}

/// Asks a control-plane service over gRPC.
#[derive(Clone)]
pub struct GrpcKeyVerifier {
    client: pb::key_verification_client::KeyVerificationClient<
        tonic::service::interceptor::InterceptedService<tonic::transport::Channel, crate::service_auth::Attach>,
    >,
}

impl GrpcKeyVerifier {
    /// Connects lazily: the control plane may start after the collector. Calls carry
    /// `token`.
    pub fn new(url: &str, token: &crate::service_auth::ServiceToken) -> Result<Self, VerifyError> {
        let endpoint = tonic::transport::Endpoint::from_shared(url.to_string())
            .map_err(|e| VerifyError::Unavailable(format!("control-plane URL {url:?}: {e}")))?
            .connect_timeout(std::time::Duration::from_secs(3))
            .timeout(std::time::Duration::from_secs(5));
        Ok(Self {
            client: pb::key_verification_client::KeyVerificationClient::with_interceptor(endpoint.connect_lazy(), token.attach()),
        })
    }
}

#[async_trait]
impl KeyVerifier for GrpcKeyVerifier {
    async fn verify_ingest_key(&self, key: &str) -> Result<KeyCheck, VerifyError> {
        let mut client = self.client.clone();
        let resp = client
            .verify_ingest_key(pb::VerifyIngestKeyRequest { key: key.to_string() })
            .await
            .map_err(|s| VerifyError::Unavailable(format!("control-plane: {}", s.message())))?
            .into_inner();
        use pb::verify_ingest_key_response::Outcome;
        Ok(match Outcome::try_from(resp.outcome).unwrap_or(Outcome::Unspecified) {
            Outcome::Valid => KeyCheck::Valid { project_id: resp.project_id, max_active_series: resp.max_active_series },
            Outcome::Revoked => KeyCheck::Revoked,
            Outcome::WrongScope => KeyCheck::WrongScope,
            Outcome::Unknown | Outcome::Unspecified => KeyCheck::Unknown,
        })
    }
}

/// Serves a [`KeyVerifier`] as the control-plane's gRPC contract.
pub struct KeyVerificationService<V>(pub std::sync::Arc<V>);

#[tonic::async_trait]
impl<V: KeyVerifier> pb::key_verification_server::KeyVerification for KeyVerificationService<V> {
    async fn verify_ingest_key(
        &self,
        request: tonic::Request<pb::VerifyIngestKeyRequest>,
    ) -> Result<tonic::Response<pb::VerifyIngestKeyResponse>, tonic::Status> {
        use pb::verify_ingest_key_response::Outcome;
        let check = self
            .0
            .verify_ingest_key(&request.into_inner().key)
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let (outcome, project_id, max_active_series) = match check {
            KeyCheck::Valid { project_id, max_active_series } => (Outcome::Valid, project_id, max_active_series),
            KeyCheck::Unknown => (Outcome::Unknown, String::new(), None),
            KeyCheck::Revoked => (Outcome::Revoked, String::new(), None),
            KeyCheck::WrongScope => (Outcome::WrongScope, String::new(), None),
        };
        Ok(tonic::Response::new(pb::VerifyIngestKeyResponse {
            outcome: outcome as i32,
            project_id,
            cache_ttl_ms: 10_000,
            max_active_series,
        }))
    }
}
