//! The HTTP face of the BFF: `POST /graphql` for queries and mutations, `GET /graphql`
//! upgraded to a WebSocket (`graphql-transport-ws`) for subscriptions, in local mode a
//! GraphiQL page at `GET /graphql` for people, with single sign-on the `/auth/` routes
//! ([`crate::auth`]), and the web UI for every other path ([`crate::shell`]).
//!
//! Who calls: a read key sent as `Authorization: Bearer`; else, with single sign-on, the
//! session of the signed session cookie (then the request must carry the session's CSRF
//! token); else, in local mode without sign-on, the local operator; else nobody.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::Data;
use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, GraphiQLSource};
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use axum::Router;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use futures::{SinkExt, StreamExt};
use tower_http::limit::RequestBodyLimitLayer;

use cloudgrid_control::{ControlApi, ControlError, LOCAL_USER_ID, Principal};

use crate::auth::{self, Auth, CSRF_HEADER, SsoAuth};
use crate::schema::{CloudGridSchema, ConnectionSlots};
use crate::shell::{self, UiConfig};

#[derive(Debug, Clone)]
pub struct AppConfig {
    /// Local mode: GraphiQL served, loopback origins allowed.
    pub local: bool,
    /// Origins (`scheme://host[:port]`) whose pages may open a WebSocket, besides
    /// loopback ones in local mode.
    pub allowed_origins: Vec<String>,
    /// Largest request body, and largest WebSocket message.
    pub max_body_bytes: usize,
    /// A WebSocket that sends no `connection_init` within this is closed (4408).
    pub connection_init_timeout: Duration,
    /// The server pings every WebSocket this often...
    pub ping_interval: Duration,
    /// ...and closes one it has heard nothing from (not even a pong) for this long,
    /// ending its subscriptions.
    pub peer_timeout: Duration,
    /// Sign-in through an identity provider; without it, local mode's operator (or a
    /// read key) is the only caller.
    pub sso: Option<SsoAuth>,
    /// How often a WebSocket opened with a session checks that the session still
    /// stands; one signed out is closed (4401).
    pub session_recheck: Duration,
    /// The built web UI, served for every path the API does not take.
    pub ui: Option<UiConfig>,
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            local: true,
            allowed_origins: Vec::new(),
            max_body_bytes: 1 << 20,
            connection_init_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(20),
            peer_timeout: Duration::from_secs(60),
            sso: None,
            session_recheck: Duration::from_secs(30),
            ui: None,
        }
    }
}

#[derive(Clone)]
struct App {
    schema: CloudGridSchema,
    /// Resolves API keys presented as bearer credentials.
    control: Arc<dyn ControlApi>,
    config: Arc<AppConfig>,
    auth: Option<Arc<Auth>>,
}

/// The BFF's routes over `schema`.
pub fn router(schema: CloudGridSchema, control: Arc<dyn ControlApi>, config: AppConfig) -> Router {
    let limit = config.max_body_bytes;
    let auth = config.sso.as_ref().map(|sso| Arc::new(Auth::new(sso)));
    let ui = config.ui.clone();
    let mut routes = Router::new()
        .route("/graphql", get(upgrade_or_page).post(graphql))
        .with_state(App { schema, control: control.clone(), config: Arc::new(config), auth: auth.clone() });
    if let Some(auth) = &auth {
        routes = routes.merge(auth::routes(auth.clone(), control.clone()));
    }
    if let Some(ui) = &ui {
        routes = routes.merge(shell::routes(ui, auth, control));
    }
    routes.layer(RequestBodyLimitLayer::new(limit))
}

/// Who is calling, and the session token when a session cookie says so.
struct Caller {
    principal: Principal,
    session: Option<String>,
}

/// Who a request comes from: the read key it presents as `Authorization: Bearer`, else
/// the session of its cookie, else in local mode without sign-on the local operator,
/// else nobody. A key that is not a valid read key is refused here (401; 403 for an
/// ingest key), before any GraphQL runs.
async fn caller(headers: &HeaderMap, app: &App) -> Result<Caller, Response> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        return Ok(Caller { principal: key_principal(value, app).await?, session: None });
    }
    if let Some(auth) = &app.auth {
        return Ok(match auth::session_principal(auth, app.control.as_ref(), headers).await? {
            Some((token, principal)) => Caller { principal, session: Some(token) },
            None => Caller { principal: Principal::Anonymous, session: None },
        });
    }
    let principal = if app.config.local { Principal::user(LOCAL_USER_ID) } else { Principal::Anonymous };
    Ok(Caller { principal, session: None })
}

async fn key_principal(value: &axum::http::HeaderValue, app: &App) -> Result<Principal, Response> {
    let unauthorized = |m: &str| (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], m.to_string()).into_response();
    let key = value.to_str().ok().and_then(|v| v.split_once(' ')).filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"));
    let Some((_, key)) = key else { return Err(unauthorized("send an API key as `Authorization: Bearer <key>`")) };
    match app.control.read_key_principal(key.trim()).await {
        Ok(p) => Ok(p),
        Err(ControlError::Forbidden(m)) => Err((StatusCode::FORBIDDEN, m).into_response()),
        Err(ControlError::Unauthenticated | ControlError::NotFound(_)) => Err(unauthorized("unknown or revoked API key")),
        Err(e) => {
            tracing::warn!(error = %e, "API key could not be checked");
            Err((StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, "1")], "the API key could not be checked; try again").into_response())
        }
    }
}

async fn graphql(State(app): State<App>, headers: HeaderMap, req: GraphQLRequest) -> Response {
    // A page from another site must not drive the API through the user's browser: its
    // requests carry its Origin, and only JSON (which needs a CORS preflight) is taken.
    if !origin_allowed(&headers, &app.config) {
        return (StatusCode::FORBIDDEN, "requests from this origin are not allowed").into_response();
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json")));
    if !json {
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "send GraphQL requests as application/json").into_response();
    }
    // The browser sends the session cookie with any request to us, whichever page made
    // it: the CSRF token shows the page is ours. Checked before the session is looked up.
    if let Some(auth) = &app.auth
        && !headers.contains_key(header::AUTHORIZATION)
        && let Some(token) = auth.session_token(&headers)
        && !auth.csrf_matches(&token, headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()))
    {
        return (StatusCode::FORBIDDEN, "requests signed in by cookie need the session's CSRF token in X-CSRF-Token (from /auth/session)")
            .into_response();
    }
    let who = match caller(&headers, &app).await {
        Ok(c) => c.principal,
        Err(refused) => return refused,
    };
    GraphQLResponse::from(app.schema.execute(req.into_inner().data(who)).await).into_response()
}

/// Whether a page from `origin` may talk to us. Requests without an `Origin` do not
/// come from another site's page, and are let through.
fn origin_allowed(headers: &HeaderMap, config: &AppConfig) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else { return true };
    let Ok(origin) = origin.to_str() else { return false };
    if config.allowed_origins.iter().any(|o| o.eq_ignore_ascii_case(origin)) {
        return true;
    }
    config.local
        && url::Url::parse(origin).ok().is_some_and(|u| match u.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        })
}

async fn upgrade_or_page(State(app): State<App>, req: Request) -> Response {
    let (mut parts, _) = req.into_parts();
    let is_upgrade = parts.headers.get(header::UPGRADE).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    if !is_upgrade {
        return if app.config.local {
            Html(GraphiQLSource::build().endpoint("/graphql").subscription_endpoint("/graphql").finish()).into_response()
        } else {
            (StatusCode::METHOD_NOT_ALLOWED, "POST GraphQL requests to /graphql, or open a WebSocket").into_response()
        };
    }
    if !origin_allowed(&parts.headers, &app.config) {
        return (StatusCode::FORBIDDEN, "this origin may not open a WebSocket here").into_response();
    }
    let who = match caller(&parts.headers, &app).await {
        Ok(c) => c,
        Err(refused) => return refused,
    };
    // Browsers always say where a WebSocket comes from; one riding on the session cookie
    // without saying so is not from a page of ours.
    if who.session.is_some() && !parts.headers.contains_key(header::ORIGIN) {
        return (StatusCode::FORBIDDEN, "a WebSocket signed in by cookie must come from an allowed origin").into_response();
    }
    let protocol = match GraphQLProtocol::from_request_parts(&mut parts, &()).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    let max = app.config.max_body_bytes;
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(SOCKET_READ_BUFFER)
        .on_upgrade(move |socket| serve_socket(socket, app, protocol, who))
}

/// A socket's read buffer. Clients send small documents; and every read attempt makes
/// the whole buffer ready (zeroed) first, while a socket is polled for input each time
/// it has a message to send: with the default 128 KiB, a thousand live deliveries a
/// second zeroed 128 MB. A larger message still arrives (the buffer grows for it).
const SOCKET_READ_BUFFER: usize = 4 << 10;

async fn serve_socket(socket: WebSocket, app: App, protocol: GraphQLProtocol, who: Caller) {
    let (mut sink, mut stream) = socket.split();
    // The protocol's `connection_init` must come soon; a socket that sends anything else
    // meanwhile (pings included) still holds a slot for nothing.
    let deadline = tokio::time::Instant::now() + app.config.connection_init_timeout;
    let mut before_init = Vec::new();
    loop {
        let m = match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(Ok(m))) => m,
            Ok(_) => return,
            Err(_) => {
                let frame = CloseFrame { code: 4408, reason: "Connection initialisation timeout".into() };
                let _ = sink.send(Message::Close(Some(frame))).await;
                return;
            }
        };
        let init = match &m {
            Message::Text(t) => serde_json::from_str::<serde_json::Value>(t).ok().filter(|v| v["type"] == "connection_init"),
            _ => None,
        };
        before_init.push(Ok(m));
        if let Some(init) = init {
            // A socket riding on the session cookie proves its page is ours with the
            // session's CSRF token.
            if let (Some(auth), Some(session)) = (&app.auth, &who.session)
                && !auth.csrf_matches(session, init["payload"]["csrfToken"].as_str())
            {
                let frame = CloseFrame { code: 4403, reason: "Forbidden: csrfToken missing or wrong in connection_init".into() };
                let _ = sink.send(Message::Close(Some(frame))).await;
                return;
            }
            break;
        }
        if before_init.len() > 16 {
            let frame = CloseFrame { code: 4400, reason: "connection_init expected".into() };
            let _ = sink.send(Message::Close(Some(frame))).await;
            return;
        }
    }
    let mut data = Data::default();
    data.insert(who.principal.clone());
    data.insert(Arc::new(ConnectionSlots::default()));
    // Every message heard (pongs included) proves the peer alive; a peer silent for
    // `peer_timeout` is gone, and its input ends, which ends its subscriptions.
    let opened = tokio::time::Instant::now();
    let heard = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (gone_tx, gone_rx) = futures::channel::oneshot::channel::<()>();
    let stream = futures::stream::iter(before_init).chain(stream).map({
        let heard = heard.clone();
        move |m| {
            heard.store(opened.elapsed().as_millis() as u64, std::sync::atomic::Ordering::Relaxed);
            m
        }
    });
    let stream = stream.take_until(gone_rx);
    // Outgoing messages go through a small queue, so pings can be sent between them.
    let (out_tx, mut out_rx) = futures::channel::mpsc::channel::<Message>(16);
    let (ping_every, timeout) = (app.config.ping_interval, app.config.peer_timeout);
    // A socket opened with a session lives only as long as the session.
    let session = who.session.clone().map(|token| (token, app.control.clone()));
    let recheck_every = app.config.session_recheck;
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(ping_every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut rechecks = tokio::time::interval_at(tokio::time::Instant::now() + recheck_every, recheck_every);
        rechecks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = rechecks.tick(), if session.is_some() => {
                    let Some((token, control)) = &session else { continue };
                    if matches!(control.session_principal(token).await, Err(ControlError::Unauthenticated | ControlError::NotFound(_))) {
                        let frame = CloseFrame { code: 4401, reason: "Unauthorized: the session ended".into() };
                        let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(Message::Close(Some(frame)))).await;
                        break;
                    }
                }
                m = out_rx.next() => match m {
                    // A peer that takes nothing for `timeout` is as gone as a silent one.
                    // What is queued goes out in one write.
                    Some(m) => {
                        let write = async {
                            sink.feed(m).await?;
                            while let Ok(m) = out_rx.try_recv() {
                                sink.feed(m).await?;
                            }
                            sink.flush().await
                        };
                        if !matches!(tokio::time::timeout(timeout, write).await, Ok(Ok(()))) {
                            break;
                        }
                    }
                    None => break,
                },
                _ = ticks.tick() => {
                    let silent = opened.elapsed().saturating_sub(Duration::from_millis(heard.load(std::sync::atomic::Ordering::Relaxed)));
                    if silent > timeout {
                        let frame = CloseFrame { code: 1001, reason: "no answer to pings".into() };
                        let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(Message::Close(Some(frame)))).await;
                        break;
                    }
                    if !matches!(tokio::time::timeout(timeout, sink.send(Message::Ping(Default::default()))).await, Ok(Ok(()))) {
                        break;
                    }
                }
            }
        }
        let _ = gone_tx.send(());
    });
    GraphQLWebSocket::new_with_pair(out_tx, stream, app.schema, protocol).with_data(data).serve().await;
}
