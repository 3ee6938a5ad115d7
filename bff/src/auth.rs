//! Sign-in for people: the routes under `/auth/`, the session cookie, and CSRF tokens.
//!
//! - `GET /auth/login?return_to=/path` starts a sign-in with the identity provider
//!   ([`crate::sso`]); the attempt's state, nonce and PKCE verifier go into a signed,
//!   short-lived cookie the browser brings back.
//! - `GET /auth/callback` checks the state against that cookie (each state is taken
//!   once), redeems the code, checks the ID token, and opens a session with the control
//!   plane. A session the browser held before is ended: signing in always issues a new
//!   session token.
//! - `GET /auth/session` answers who is signed in and the session's CSRF token.
//! - `POST /auth/logout` ends the session on the server (a copied cookie stops working
//!   at once) and clears the cookie.
//!
//! The session cookie is signed with `CLOUDGRID_SESSION_SECRET`, `HttpOnly`, `Secure`
//! and `SameSite=Lax`. Requests the browser authenticates with it must also prove they
//! come from CloudGrid's own pages: GraphQL requests and logout carry the session's CSRF
//! token in `X-CSRF-Token`, and a WebSocket sends it in its `connection_init` payload
//! (`csrfToken`) after a handshake from an allowed origin. The token is derived from the
//! session (HMAC), so it changes with every sign-in and needs no storage.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cookie::{Cookie, CookieJar, Key, SameSite};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use cloudgrid_control::{ControlApi, ControlError, Principal};

use crate::sso::{Sso, SsoError};

/// The session cookie. `__Host-`: only ever set by this host, over HTTPS, for every path.
pub const SESSION_COOKIE: &str = "__Host-cloudgrid_session";
/// The sign-in attempt cookie, between `/auth/login` and `/auth/callback`.
pub const LOGIN_COOKIE: &str = "__Host-cloudgrid_login";
/// The header cookie-authenticated requests carry their CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a sign-in attempt may take at the provider.
const ATTEMPT_TTL: Duration = Duration::from_secs(600);
/// Shortest accepted session secret, and fewest distinct characters in it.
const MIN_SECRET_LEN: usize = 32;
const MIN_SECRET_DISTINCT: usize = 10;

/// `CLOUDGRID_SESSION_SECRET`, checked: long and varied enough to be random.
#[derive(Clone)]
pub struct SessionSecret(Arc<[u8]>);

impl std::fmt::Debug for SessionSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionSecret(<hidden>)")
    }
}

impl SessionSecret {
    /// Refuses a secret that is short or looks made by hand (`changeme…`, one
    /// character repeated): cookies signed with it could be forged.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.len() < MIN_SECRET_LEN {
            return Err(format!(
                "is {} characters; it must be at least {MIN_SECRET_LEN} random characters (for example `openssl rand -base64 48`)",
                text.len()
            ));
        }
        let mut distinct = text.bytes().collect::<Vec<_>>();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() < MIN_SECRET_DISTINCT {
            return Err(format!(
                "uses only {} distinct characters; it must be random (for example `openssl rand -base64 48`)",
                distinct.len()
            ));
        }
        Ok(Self(text.as_bytes().into()))
    }
}

/// Sign-in through an identity provider, as the BFF is configured with it.
#[derive(Clone, Debug)]
pub struct SsoAuth {
    pub sso: Arc<Sso>,
    pub secret: SessionSecret,
    /// How long a session lasts from sign-in.
    pub session_ttl: Duration,
}

/// What the sign-in attempt cookie holds.
#[derive(Serialize, Deserialize)]
struct Attempt {
    state: String,
    nonce: String,
    verifier: String,
    return_to: String,
    /// Unix seconds when it began.
    began: u64,
}

/// Sessions and sign-ins, as the routes and the GraphQL app use them.
pub(crate) struct Auth {
    sso: Arc<Sso>,
    cookie_key: Key,
    secret: SessionSecret,
    ttl: Duration,
    /// States already redeemed, so a callback cannot be replayed (kept as long as an
    /// attempt lives).
    used_states: Mutex<HashMap<String, Instant>>,
}

impl Auth {
    pub(crate) fn new(config: &SsoAuth) -> Self {
        Self {
            sso: config.sso.clone(),
            cookie_key: Key::derive_from(&config.secret.0),
            secret: config.secret.clone(),
            ttl: config.session_ttl,
            used_states: Mutex::new(HashMap::new()),
        }
    }

    fn jar(headers: &HeaderMap) -> CookieJar {
        let mut jar = CookieJar::new();
        for value in headers.get_all(header::COOKIE) {
            let Ok(value) = value.to_str() else { continue };
            for cookie in Cookie::split_parse(value).flatten() {
                jar.add_original(cookie.into_owned());
            }
        }
        jar
    }

    /// The session token of the request's cookie, if its signature holds.
    pub(crate) fn session_token(&self, headers: &HeaderMap) -> Option<String> {
        Self::jar(headers).signed(&self.cookie_key).get(SESSION_COOKIE).map(|c| c.value().to_string())
    }

    /// The CSRF token of a session.
    pub(crate) fn csrf_token(&self, session: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret.0).expect("HMAC takes keys of any length");
        mac.update(b"cloudgrid csrf\0");
        mac.update(session.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// Whether `given` is the session's CSRF token.
    pub(crate) fn csrf_matches(&self, session: &str, given: Option<&str>) -> bool {
        given.is_some_and(|g| same(g.as_bytes(), self.csrf_token(session).as_bytes()))
    }

    /// A `Set-Cookie` value for `name`, signed; `None` removes the cookie.
    fn set_cookie(&self, name: &'static str, value: Option<String>, max_age: Duration) -> HeaderValue {
        let mut cookie = Cookie::build((name, value.clone().unwrap_or_default()))
            .path("/")
            .http_only(true)
            .secure(true)
            .same_site(SameSite::Lax)
            .max_age(cookie::time::Duration::seconds(max_age.as_secs() as i64))
            .build();
        let text = if value.is_some() {
            let mut jar = CookieJar::new();
            jar.signed_mut(&self.cookie_key).add(cookie);
            jar.delta().next().map(|c| c.to_string()).unwrap_or_default()
        } else {
            cookie.make_removal();
            cookie.to_string()
        };
        HeaderValue::from_str(&text).expect("cookie values are header-safe")
    }

    /// Takes `state` once; false when it was taken before.
    fn take_state(&self, state: &str) -> bool {
        let mut used = self.used_states.lock().expect("the state set is never poisoned");
        used.retain(|_, at| at.elapsed() < ATTEMPT_TTL);
        used.insert(state.to_string(), Instant::now()).is_none()
    }
}

/// Equal-time comparison, so timing says nothing about the right value.
fn same(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

#[derive(Clone)]
struct Routes {
    auth: Arc<Auth>,
    control: Arc<dyn ControlApi>,
}

/// The `/auth/` routes.
pub(crate) fn routes(auth: Arc<Auth>, control: Arc<dyn ControlApi>) -> Router {
    Router::new()
        .route("/auth/login", get(login))
        .route("/auth/callback", get(callback))
        .route("/auth/session", get(session))
        .route("/auth/logout", post(logout))
        .with_state(Routes { auth, control })
}

/// A plain-text answer that no cache keeps.
fn plain(status: StatusCode, message: impl Into<String>) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], message.into()).into_response()
}

fn from_sso(e: SsoError) -> Response {
    match e {
        SsoError::Refused(m) => plain(StatusCode::UNAUTHORIZED, format!("sign-in refused: {m}")),
        SsoError::Unavailable(_) | SsoError::Config(_) => {
            let mut r = plain(StatusCode::SERVICE_UNAVAILABLE, "the identity provider cannot be reached at the moment; try again");
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            r
        }
    }
}

/// Where to go after signing in: a path of this site, never another site.
fn return_path(given: Option<&str>) -> String {
    match given {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.starts_with("/\\")
                && p.len() <= 2048
                && !p.chars().any(|c| c.is_control()) =>
        {
            p.to_string()
        }
        _ => "/".to_string(),
    }
}

#[derive(Deserialize)]
struct LoginQuery {
    return_to: Option<String>,
}

async fn login(State(r): State<Routes>, Query(q): Query<LoginQuery>) -> Response {
    let attempt = match r.auth.sso.start().await {
        Ok(a) => a,
        Err(e) => return from_sso(e),
    };
    let cookie = Attempt {
        state: attempt.state,
        nonce: attempt.nonce,
        verifier: attempt.pkce_verifier,
        return_to: return_path(q.return_to.as_deref()),
        began: now_secs(),
    };
    let value = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&cookie).expect("the attempt serializes"));
    let Ok(location) = HeaderValue::from_str(&attempt.url) else {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "the identity provider's authorization URL is not usable");
    };
    let mut response = StatusCode::SEE_OTHER.into_response();
    let h = response.headers_mut();
    h.insert(header::LOCATION, location);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.append(header::SET_COOKIE, r.auth.set_cookie(LOGIN_COOKIE, Some(value), ATTEMPT_TTL));
    response
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    /// The answering provider (RFC 9207), when it says.
    iss: Option<String>,
}

async fn callback(State(r): State<Routes>, headers: HeaderMap, Query(q): Query<CallbackQuery>) -> Response {
    let mut response = finish(&r, &headers, q).await;
    let h = response.headers_mut();
    // The attempt is over whatever happened; and the callback's URL (with its code)
    // goes to no other site.
    h.append(header::SET_COOKIE, r.auth.set_cookie(LOGIN_COOKIE, None, Duration::ZERO));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

async fn finish(r: &Routes, headers: &HeaderMap, q: CallbackQuery) -> Response {
    let attempt = Auth::jar(headers)
        .signed(&r.auth.cookie_key)
        .get(LOGIN_COOKIE)
        .and_then(|c| URL_SAFE_NO_PAD.decode(c.value()).ok())
        .and_then(|bytes| serde_json::from_slice::<Attempt>(&bytes).ok());
    let Some(attempt) = attempt.filter(|a| now_secs().saturating_sub(a.began) < ATTEMPT_TTL.as_secs()) else {
        return plain(StatusCode::BAD_REQUEST, "no sign-in was started in this browser, or it took too long; sign in again");
    };
    let Some(state) = q.state else {
        return plain(StatusCode::BAD_REQUEST, "the identity provider's answer has no state; sign in again");
    };
    if !same(state.as_bytes(), attempt.state.as_bytes()) {
        return plain(StatusCode::BAD_REQUEST, "the identity provider's answer is not for this sign-in (state mismatch); sign in again");
    }
    if !r.auth.take_state(&state) {
        return plain(StatusCode::BAD_REQUEST, "this sign-in answer was already used; sign in again");
    }
    // An answer from another provider than ours (a mix-up attack) is not redeemed here.
    if q.iss.as_deref().is_some_and(|iss| iss.trim_end_matches('/') != r.auth.sso.issuer().trim_end_matches('/')) {
        return plain(StatusCode::BAD_REQUEST, "the answer comes from another identity provider than this site's; sign in again");
    }
    if let Some(error) = q.error {
        let detail = q.error_description.map(|d| format!(": {d}")).unwrap_or_default();
        let text: String = format!("{error}{detail}").chars().filter(|c| !c.is_control()).take(300).collect();
        return plain(StatusCode::UNAUTHORIZED, format!("the identity provider did not sign you in ({text})"));
    }
    let Some(code) = q.code else {
        return plain(StatusCode::BAD_REQUEST, "the identity provider's answer has no authorization code; sign in again");
    };
    let identity = match r.auth.sso.finish(&code, &attempt.verifier, &attempt.nonce).await {
        Ok(i) => i,
        Err(e) => return from_sso(e),
    };
    let signed = match r.control.sign_in(&identity, r.auth.ttl).await {
        Ok(s) => s,
        Err(ControlError::Conflict(m) | ControlError::Invalid(m) | ControlError::Forbidden(m)) => {
            return plain(StatusCode::FORBIDDEN, format!("sign-in refused: {m}"));
        }
        Err(e) => {
            tracing::warn!(error = %e, "opening a session failed");
            return plain(StatusCode::SERVICE_UNAVAILABLE, "signing in failed at the moment; try again");
        }
    };
    // A session this browser held before ends: signing in always starts a new one.
    if let Some(old) = r.auth.session_token(headers)
        && let Err(e) = r.control.end_session(&old).await
    {
        tracing::warn!(error = %e, "ending the previous session failed");
    }
    let mut response = StatusCode::SEE_OTHER.into_response();
    let h = response.headers_mut();
    h.insert(header::LOCATION, HeaderValue::from_str(&attempt.return_to).unwrap_or(HeaderValue::from_static("/")));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.append(header::SET_COOKIE, r.auth.set_cookie(SESSION_COOKIE, Some(signed.token), r.auth.ttl));
    response
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionUser {
    id: String,
    email: String,
    name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionInfo {
    user: SessionUser,
    /// Send it as `X-CSRF-Token` (or `csrfToken` in a WebSocket's `connection_init`).
    csrf_token: String,
}

fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store"), (header::CONTENT_TYPE, "application/json")], serde_json::to_string(body).unwrap_or_default())
        .into_response()
}

fn not_signed_in() -> Response {
    json(StatusCode::UNAUTHORIZED, &serde_json::json!({ "error": "not signed in", "login": "/auth/login" }))
}

async fn session(State(r): State<Routes>, headers: HeaderMap) -> Response {
    let (token, who) = match session_principal(&r.auth, r.control.as_ref(), &headers).await {
        Ok(Some((_, Principal::Anonymous)) | None) => return not_signed_in(),
        Ok(Some(found)) => found,
        Err(unavailable) => return unavailable,
    };
    let user = match r.control.me(&who).await {
        Ok((Some(u), _)) => u,
        Ok((None, _)) => return not_signed_in(),
        Err(e) => {
            tracing::warn!(error = %e, "reading the signed-in user failed");
            return plain(StatusCode::SERVICE_UNAVAILABLE, "the session could not be checked; try again");
        }
    };
    let csrf_token = r.auth.csrf_token(&token);
    json(StatusCode::OK, &SessionInfo { user: SessionUser { id: user.id, email: user.email, name: user.name }, csrf_token })
}

async fn logout(State(r): State<Routes>, headers: HeaderMap) -> Response {
    let Some(token) = r.auth.session_token(&headers) else { return not_signed_in() };
    let given = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    if !r.auth.csrf_matches(&token, given) {
        return plain(StatusCode::FORBIDDEN, "signing out needs the session's CSRF token in X-CSRF-Token");
    }
    if let Err(e) = r.control.end_session(&token).await {
        tracing::warn!(error = %e, "ending a session failed");
        return plain(StatusCode::SERVICE_UNAVAILABLE, "signing out failed at the moment; try again");
    }
    let mut response = json(StatusCode::OK, &serde_json::json!({ "signedOut": true }));
    response.headers_mut().append(header::SET_COOKIE, r.auth.set_cookie(SESSION_COOKIE, None, Duration::ZERO));
    response
}

/// Who a request's session cookie stands for, if it carries a valid one: the session
/// token, and the user (anonymous once the session ended or expired).
pub(crate) async fn session_principal(
    auth: &Auth,
    control: &dyn ControlApi,
    headers: &HeaderMap,
) -> Result<Option<(String, Principal)>, Response> {
    let Some(token) = auth.session_token(headers) else { return Ok(None) };
    match control.session_principal(&token).await {
        Ok(p) => Ok(Some((token, p))),
        Err(ControlError::Unauthenticated | ControlError::NotFound(_)) => Ok(Some((token, Principal::Anonymous))),
        Err(e) => {
            tracing::warn!(error = %e, "checking a session failed");
            Err(plain(StatusCode::SERVICE_UNAVAILABLE, "the session could not be checked; try again"))
        }
    }
}
