//! The app shell: the built web UI (a single-page app: `index.html` and its assets)
//! served from a directory, for every path the API and sign-in routes do not take.
//!
//! With single sign-on the shell is only for people signed in. A page request without a
//! live session is sent to sign in and brought back to the page it asked for; any other
//! request (a script, a style sheet) is refused with 401. A session that ended is no
//! session.
//!
//! Under `/assets/` (the build's content-named files) a path is a file or 404, cached for
//! good. Any other path is a file of the directory when there is one (`/favicon.ico`),
//! else a page of the app, answered with `index.html`, so links into the app work when
//! opened directly; those answers are revalidated every time, so a new build is picked
//! up at once.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

use cloudgrid_control::{ControlApi, Principal};

use crate::auth::{self, Auth};

/// Where the built UI is.
#[derive(Debug, Clone)]
pub struct UiConfig {
    /// The build output: `index.html` at its root, assets below it.
    pub dir: PathBuf,
}

#[derive(Clone)]
struct Shell {
    dir: Arc<PathBuf>,
    auth: Option<Arc<Auth>>,
    control: Arc<dyn ControlApi>,
}

/// The shell as a fallback router: whatever path no other route takes.
pub(crate) fn routes(ui: &UiConfig, auth: Option<Arc<Auth>>, control: Arc<dyn ControlApi>) -> Router {
    Router::new().fallback(serve).with_state(Shell { dir: Arc::new(ui.dir.clone()), auth, control })
}

/// What every answer of the shell carries: the page runs only our own scripts, talks
/// only to us, and is never framed.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn harden(headers: &mut HeaderMap, signed_in_only: bool) {
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if signed_in_only {
        // A shared cache must not hand one person's answer to someone signed out.
        headers.insert(header::VARY, HeaderValue::from_static("Cookie"));
    }
}

async fn serve(State(shell): State<Shell>, req: Request) -> Response {
    let signed_in_only = shell.auth.is_some();
    let mut response = answer(&shell, req).await;
    harden(response.headers_mut(), signed_in_only);
    response
}

async fn answer(shell: &Shell, req: Request) -> Response {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "GET, HEAD")], "the web UI answers GET and HEAD").into_response();
    }
    if let Some(auth) = &shell.auth {
        match auth::session_principal(auth, shell.control.as_ref(), req.headers()).await {
            Err(unavailable) => return unavailable,
            Ok(Some((_, Principal::User { .. }))) => {}
            Ok(_) if is_navigation(req.headers()) => return sign_in_first(&req),
            Ok(_) => {
                return (StatusCode::UNAUTHORIZED, [(header::CACHE_CONTROL, "no-store")], "sign in to load the web UI").into_response();
            }
        }
    }
    let index = shell.dir.join("index.html");
    let asset = req.uri().path().starts_with("/assets/");
    if !asset && !tokio::fs::try_exists(&index).await.unwrap_or(false) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CACHE_CONTROL, "no-store")],
            format!(
                "The web UI is not built: {} has no index.html. Build it with `npm ci && npm run build` in bff/ui, \
                 or point CLOUDGRID_UI_DIR at a built copy. The GraphQL API answers at /graphql meanwhile.",
                shell.dir.display()
            ),
        )
            .into_response();
    }
    let files = ServeDir::new(shell.dir.as_path()).precompressed_br().precompressed_gzip();
    let mut response = if asset {
        // A build's assets are named by their content: one that is missing is missing,
        // never the page in its place.
        files.oneshot(req).await
    } else {
        files.fallback(ServeFile::new(index)).oneshot(req).await
    }
    .unwrap_or_else(|e| match e {})
    .map(Body::new);
    let cache = if asset && response.status().is_success() { "public, max-age=31536000, immutable" } else { "no-cache" };
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

/// Whether a request is a person opening a page (as opposed to a page loading a file).
fn is_navigation(headers: &HeaderMap) -> bool {
    if let Some(mode) = headers.get("sec-fetch-mode") {
        return mode.as_bytes() == b"navigate";
    }
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|t| t.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("text/html"))))
}

/// Sends a page request to sign in, to come back to the same page.
fn sign_in_first(req: &Request) -> Response {
    let back = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let location = format!("/auth/login?return_to={}", urlencoding(back));
    let mut response = (StatusCode::SEE_OTHER, [(header::CACHE_CONTROL, "no-store")], "sign in first").into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

fn urlencoding(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
