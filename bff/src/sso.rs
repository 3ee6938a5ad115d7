//! Single sign-on with an OpenID Connect provider: the authorization code flow with
//! PKCE, state and nonce.
//!
//! [`Sso::start`] makes a sign-in attempt (where to send the browser, and the secrets
//! the browser must bring back); [`Sso::finish`] redeems the code the provider returned
//! and checks the ID token it answers with: signed by one of the provider's keys with
//! an algorithm it announces (never `none`), issued by the configured issuer, for this
//! client, not expired, and carrying the attempt's nonce. Only then is the person's
//! identity handed on. The provider's metadata and keys are fetched by discovery and
//! fetched again every few minutes, so its key rotations are followed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cloudgrid_control::SsoIdentity;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    TokenResponse,
};

/// How long fetched provider metadata and keys are used before they are fetched again.
const METADATA_TTL: Duration = Duration::from_secs(300);

/// Where the identity provider is and who we are to it.
#[derive(Clone)]
pub struct SsoConfig {
    /// The provider's issuer URL; its discovery document is under
    /// `/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    /// Absent for a public client (PKCE alone protects the code).
    pub client_secret: Option<String>,
    /// Where the provider sends the browser back: the BFF's `/auth/callback`.
    pub redirect_url: String,
    /// Scopes asked for besides `openid`.
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for SsoConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "<set>"))
            .field("redirect_url", &self.redirect_url)
            .field("scopes", &self.scopes)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    /// The provider could not be reached or answered nonsense; trying again may work.
    #[error("the identity provider is unavailable: {0}")]
    Unavailable(String),
    /// The sign-in is refused; the message says why, for the person signing in.
    #[error("{0}")]
    Refused(String),
    /// The configuration cannot work (checked at start).
    #[error("{0}")]
    Config(String),
}

/// A sign-in attempt: send the browser to `url`, and keep the rest for the callback.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

type Client = CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

pub struct Sso {
    config: SsoConfig,
    issuer: IssuerUrl,
    redirect: RedirectUrl,
    http: reqwest::Client,
    provider: tokio::sync::Mutex<Option<(Instant, Arc<CoreProviderMetadata>)>>,
}

impl std::fmt::Debug for Sso {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sso").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Sso {
    /// Checks the configuration; the provider is first asked at the first sign-in.
    pub fn new(config: SsoConfig) -> Result<Self, SsoError> {
        let issuer = IssuerUrl::new(config.issuer.trim_end_matches('/').to_string())
            .map_err(|e| SsoError::Config(format!("the OIDC issuer `{}` is not a URL: {e}", config.issuer)))?;
        let redirect = RedirectUrl::new(config.redirect_url.clone())
            .map_err(|e| SsoError::Config(format!("the OIDC redirect URL `{}` is not a URL: {e}", config.redirect_url)))?;
        if config.client_id.trim().is_empty() {
            return Err(SsoError::Config("the OIDC client id is empty".into()));
        }
        let http = reqwest::Client::builder()
            // The provider's answers are read as they come: following a redirect would
            // let whoever controls one make us fetch what they chose.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| SsoError::Config(format!("HTTP client: {e}")))?;
        Ok(Self { config, issuer, redirect, http, provider: tokio::sync::Mutex::new(None) })
    }

    pub fn issuer(&self) -> &str {
        self.issuer.as_str()
    }

    /// The provider's metadata and keys: discovered, and discovered again once stale.
    async fn metadata(&self) -> Result<Arc<CoreProviderMetadata>, SsoError> {
        let mut held = self.provider.lock().await;
        if let Some((at, metadata)) = held.as_ref()
            && at.elapsed() < METADATA_TTL
        {
            return Ok(metadata.clone());
        }
        let metadata = CoreProviderMetadata::discover_async(self.issuer.clone(), &self.http).await.map_err(|e| {
            tracing::warn!(issuer = %self.issuer.as_str(), error = %e, "OIDC discovery failed");
            SsoError::Unavailable(format!("discovery at {} failed: {e}", self.issuer.as_str()))
        })?;
        let metadata = Arc::new(metadata);
        *held = Some((Instant::now(), metadata.clone()));
        Ok(metadata)
    }

    async fn client(&self) -> Result<Client, SsoError> {
        let metadata = self.metadata().await?;
        Ok(CoreClient::from_provider_metadata(
            (*metadata).clone(),
            ClientId::new(self.config.client_id.clone()),
            self.config.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(self.redirect.clone()))
    }

    /// A new sign-in attempt, with fresh state, nonce and PKCE verifier.
    pub async fn start(&self) -> Result<Attempt, SsoError> {
        let client = self.client().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request =
            client.authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random);
        for scope in &self.config.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        Ok(Attempt {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Redeems `code` with the attempt's PKCE verifier, checks the ID token against the
    /// attempt's nonce, and answers who signed in.
    pub async fn finish(&self, code: &str, pkce_verifier: &str, nonce: &str) -> Result<SsoIdentity, SsoError> {
        let client = self.client().await?;
        let exchange = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| SsoError::Unavailable(format!("the provider announces no token endpoint: {e}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_string()));
        let tokens = exchange.request_async(&self.http).await.map_err(|e| match e {
            RequestTokenError::ServerResponse(r) => {
                tracing::info!(error = %r, "the identity provider refused the authorization code");
                SsoError::Refused(format!("the identity provider refused the sign-in ({})", r.error().as_ref()))
            }
            other => {
                tracing::warn!(error = %other, "token request to the identity provider failed");
                SsoError::Unavailable(format!("token request failed: {other}"))
            }
        })?;
        let refused = |what: &str, e: &dyn std::fmt::Display| {
            tracing::warn!(error = %e, "{what}");
            SsoError::Refused(format!("{what}: {e}"))
        };
        let id_token = tokens.id_token().ok_or_else(|| SsoError::Refused("the identity provider sent no ID token".into()))?;
        let verifier = client.id_token_verifier();
        let claims = id_token
            .claims(&verifier, &Nonce::new(nonce.to_string()))
            .map_err(|e| refused("the ID token was refused", &e))?;
        // The access token must be the one the ID token was issued with.
        if let Some(expected) = claims.access_token_hash() {
            let alg = id_token.signing_alg().map_err(|e| refused("the ID token was refused", &e))?;
            let key = id_token.signing_key(&verifier).map_err(|e| refused("the ID token was refused", &e))?;
            let actual = AccessTokenHash::from_token(tokens.access_token(), alg, key)
                .map_err(|e| refused("the ID token was refused", &e))?;
            if actual != *expected {
                return Err(SsoError::Refused("the ID token was refused: its access token hash does not match".into()));
            }
        }
        let subject = claims.subject().clone();
        let mut email = claims.email().map(|e| e.as_str().to_string());
        let mut verified = claims.email_verified();
        let mut name = claims.name().and_then(|n| n.get(None)).map(|n| n.as_str().to_string());
        // Providers that keep claims out of the ID token serve them from userinfo.
        if email.is_none()
            && let Ok(request) = client.user_info(tokens.access_token().clone(), Some(subject.clone()))
        {
            let info: CoreUserInfoClaims = request.request_async(&self.http).await.map_err(|e| {
                tracing::warn!(error = %e, "userinfo request failed");
                SsoError::Unavailable(format!("userinfo request failed: {e}"))
            })?;
            email = info.email().map(|e| e.as_str().to_string());
            verified = info.email_verified();
            name = name.or_else(|| info.name().and_then(|n| n.get(None)).map(|n| n.as_str().to_string()));
        }
        let email = email.ok_or_else(|| {
            SsoError::Refused("the identity provider sent no email address; CloudGrid needs the `email` scope".into())
        })?;
        // Invitations are bound to email addresses: one the provider says it has not
        // verified could claim someone else's.
        if verified == Some(false) {
            return Err(SsoError::Refused(format!("the identity provider has not verified {email}; verify it there first")));
        }
        Ok(SsoIdentity { issuer: claims.issuer().as_str().to_string(), subject: subject.as_str().to_string(), email, name })
    }
}
