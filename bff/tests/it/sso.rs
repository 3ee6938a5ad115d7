//! Signing in through a real OpenID Connect provider (npm `oidc-provider`, started by the
//! test as a child process: `tests/oidc/provider.mjs`), driven the way a browser drives
//! it: redirects followed one by one, cookies kept per site.
//!
//! The whole flow works, and ends in a signed, `HttpOnly`, `Secure`, `SameSite=Lax`
//! session cookie; requests riding on it need the session's CSRF token; logging out ends
//! the session on the server. Every way a callback can be wrong (no state, another
//! browser's state, a replayed one, a code redeemed with the wrong PKCE verifier, an ID
//! token with a wrong nonce, issuer or audience, expired, unsigned, badly signed or
//! signed with a foreign key) opens no session.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use cloudgrid_bff::{AppConfig, SessionSecret, Sso, SsoAuth, SsoConfig, UiConfig};
use serde_json::{Value as J, json};

use crate::shell::{INDEX, SCRIPT, built_ui};
use crate::support::{Bff, Options, Shape, Ws};

const CLIENT_ID: &str = "cloudgrid";
const CLIENT_SECRET: &str = "test-client-secret-0123456789abcdef";
const SESSION_SECRET: &str = "session-secret-for-tests-Qx7Vb2Kp9Lm4Nz8Rt";
const SESSION_COOKIE: &str = "__Host-cloudgrid_session";
const LOGIN_COOKIE: &str = "__Host-cloudgrid_login";

/// The identity provider, for as long as this lives.
struct Provider {
    child: Child,
    issuer: String,
}

impl Provider {
    fn start(redirect_url: &str) -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/oidc/provider.mjs");
        let mut child = Command::new("node")
            .arg(script)
            .env("OIDC_CLIENT_ID", CLIENT_ID)
            .env("OIDC_CLIENT_SECRET", CLIENT_SECRET)
            .env("OIDC_REDIRECT_URIS", redirect_url)
            // It exits when its stdin closes, so none outlives the test.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node must be installed (see .ci/run)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("provider output");
        let issuer = serde_json::from_str::<J>(&line).ok().and_then(|v| v["issuer"].as_str().map(String::from)).unwrap_or_else(|| {
            panic!("the OIDC provider did not start (run `npm ci` in tests/oidc, see .ci/run): {line:?}")
        });
        Self { child, issuer }
    }

    /// Has the provider's next ID token come out wrong in the way `mutation` says.
    async fn arm(&self, mutation: &str) {
        let status = reqwest::Client::new()
            .post(format!("{}/test/next-id-token", self.issuer))
            .header("content-type", "application/json")
            .body(json!({ "mutation": mutation }).to_string())
            .send()
            .await
            .expect("arm the provider")
            .status();
        assert_eq!(status, 204, "mutation {mutation} armed");
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A BFF in deployed mode signing people in through its own provider, serving a built UI.
struct Site {
    bff: Bff,
    provider: Provider,
    _ui: tempfile::TempDir,
}

impl Site {
    async fn start(shape: Shape) -> Site {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let redirect_url = format!("http://{addr}/auth/callback");
        let provider = Provider::start(&redirect_url);
        let sso = Sso::new(SsoConfig {
            issuer: provider.issuer.clone(),
            client_id: CLIENT_ID.into(),
            client_secret: Some(CLIENT_SECRET.into()),
            redirect_url,
            scopes: vec!["email".into(), "profile".into()],
        })
        .expect("sso config");
        let ui = tempfile::tempdir().expect("tmp");
        built_ui(ui.path());
        let app = AppConfig {
            local: false,
            allowed_origins: vec![format!("http://{addr}")],
            sso: Some(SsoAuth {
                sso: Arc::new(sso),
                secret: SessionSecret::parse(SESSION_SECRET).expect("secret"),
                session_ttl: Duration::from_secs(3600),
            }),
            session_recheck: Duration::from_millis(200),
            ui: Some(UiConfig { dir: ui.path().to_path_buf() }),
            ..AppConfig::default()
        };
        let bff = Bff::start_on(Options { app, ..Options::shape(shape) }, listener).await;
        Site { bff, provider, _ui: ui }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.bff.addr)
    }

    fn origin(&self) -> String {
        format!("http://{}", self.bff.addr)
    }
}

/// One answer, as a browser sees it.
#[derive(Debug)]
struct Answer {
    status: u16,
    location: Option<String>,
    set_cookies: Vec<String>,
    body: String,
}

impl Answer {
    /// The `Set-Cookie` line for `name`, if the answer sets it.
    fn cookie(&self, name: &str) -> Option<&str> {
        self.set_cookies.iter().map(String::as_str).find(|c| c.starts_with(&format!("{name}=")))
    }

    /// Whether the answer hands out a session (a session cookie with a value).
    fn opens_session(&self) -> bool {
        self.cookie(SESSION_COOKIE).is_some_and(|c| !c.starts_with(&format!("{SESSION_COOKIE}=;")))
    }
}

/// A browser: follows nothing by itself, keeps each site's cookies.
struct Browser {
    http: reqwest::Client,
    /// Cookies by `host:port`, then by name.
    jar: HashMap<String, BTreeMap<String, String>>,
}

impl Browser {
    fn new() -> Self {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        Self { http, jar: HashMap::new() }
    }

    fn site(url: &str) -> String {
        let u = url::Url::parse(url).expect("url");
        format!("{}:{}", u.host_str().unwrap_or_default(), u.port_or_known_default().unwrap_or_default())
    }

    fn cookies_for(&self, url: &str) -> Option<String> {
        let jar = self.jar.get(&Self::site(url))?;
        (!jar.is_empty()).then(|| jar.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; "))
    }

    fn cookie(&self, url: &str, name: &str) -> Option<String> {
        self.jar.get(&Self::site(url)).and_then(|j| j.get(name).cloned())
    }

    fn set_cookie(&mut self, url: &str, name: &str, value: &str) {
        self.jar.entry(Self::site(url)).or_default().insert(name.into(), value.into());
    }

    async fn send(&mut self, method: reqwest::Method, url: &str, build: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder) -> Answer {
        let mut request = self.http.request(method, url);
        if let Some(c) = self.cookies_for(url) {
            request = request.header("cookie", c);
        }
        let response = build(request).send().await.expect("request");
        let status = response.status().as_u16();
        let location = response.headers().get("location").and_then(|l| l.to_str().ok()).map(|l| {
            url::Url::parse(url).expect("url").join(l).expect("location").to_string()
        });
        let set_cookies: Vec<String> =
            response.headers().get_all("set-cookie").iter().filter_map(|c| c.to_str().ok()).map(String::from).collect();
        for line in &set_cookies {
            let (pair, attributes) = line.split_once(';').unwrap_or((line, ""));
            let Some((name, value)) = pair.split_once('=') else { continue };
            let attributes = attributes.to_ascii_lowercase();
            let removed = value.is_empty() || attributes.contains("max-age=0") || attributes.contains("1970");
            let jar = self.jar.entry(Self::site(url)).or_default();
            if removed {
                jar.remove(name.trim());
            } else {
                jar.insert(name.trim().to_string(), value.trim().to_string());
            }
        }
        let body = response.text().await.unwrap_or_default();
        Answer { status, location, set_cookies, body }
    }

    async fn get(&mut self, url: &str) -> Answer {
        self.send(reqwest::Method::GET, url, |r| r).await
    }

    /// Through the provider, from its authorization URL to the redirect back to the
    /// BFF: signs in as `login` on its form. Answers the callback URL.
    async fn at_provider(&mut self, authorize_url: &str, login: &str, email_verified: bool) -> String {
        let mut url = authorize_url.to_string();
        for _ in 0..10 {
            let answer = self.get(&url).await;
            if let Some(next) = answer.location {
                if next.contains("/auth/callback") {
                    return next;
                }
                url = next;
                continue;
            }
            assert_eq!(answer.status, 200, "the provider's sign-in page at {url}: {}", answer.body);
            let form = format!("{}/login", url.trim_end_matches('/'));
            let verified = if email_verified { "true" } else { "false" };
            let answer = self
                .send(reqwest::Method::POST, &form, |r| r.form(&[("login", login), ("email_verified", verified)]))
                .await;
            url = answer.location.unwrap_or_else(|| panic!("the login form answered {}: {}", answer.status, answer.body));
        }
        panic!("the provider never sent the browser back");
    }

    /// Starts signing in at the BFF: the provider's authorization URL.
    async fn start_sign_in(&mut self, site: &Site) -> String {
        let answer = self.get(&site.url("/auth/login?return_to=/projects/default")).await;
        assert_eq!(answer.status, 303, "{answer:?}");
        let attempt = answer.cookie(LOGIN_COOKIE).expect("the attempt cookie").to_ascii_lowercase();
        for attribute in ["httponly", "secure", "samesite=lax", "path=/"] {
            assert!(attempt.contains(attribute), "the attempt cookie is {attribute}: {attempt}");
        }
        let to = answer.location.expect("to the provider");
        assert!(to.starts_with(&site.provider.issuer), "{to}");
        let query: HashMap<String, String> = url::Url::parse(&to).expect("url").query_pairs().into_owned().collect();
        assert_eq!(query.get("code_challenge_method").map(String::as_str), Some("S256"), "PKCE: {to}");
        for p in ["state", "nonce", "code_challenge"] {
            assert!(query.get(p).is_some_and(|v| v.len() >= 20), "{p} is sent, and random: {to}");
        }
        to
    }

    /// Signs in as `login` all the way: the callback's answer.
    async fn sign_in(&mut self, site: &Site, login: &str) -> Answer {
        let to = self.start_sign_in(site).await;
        let callback = self.at_provider(&to, login, true).await;
        self.get(&callback).await
    }

    /// The session's CSRF token, from `/auth/session`.
    async fn csrf(&mut self, site: &Site) -> String {
        let answer = self.get(&site.url("/auth/session")).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        let v: J = serde_json::from_str(&answer.body).expect("json");
        v["csrfToken"].as_str().expect("csrf token").to_string()
    }

    /// A GraphQL request riding on the browser's cookies, with this CSRF token.
    async fn graphql(&mut self, site: &Site, csrf: Option<&str>, query: &str) -> (u16, J) {
        let body = json!({ "query": query }).to_string();
        let answer = self
            .send(reqwest::Method::POST, &site.url("/graphql"), |mut r| {
                r = r.header("content-type", "application/json").header("origin", site.origin());
                if let Some(t) = csrf {
                    r = r.header("x-csrf-token", t);
                }
                r.body(body)
            })
            .await;
        (answer.status, serde_json::from_str(&answer.body).unwrap_or(J::String(answer.body)))
    }

    async fn logout(&mut self, site: &Site, csrf: Option<&str>) -> Answer {
        self.send(reqwest::Method::POST, &site.url("/auth/logout"), |r| match csrf {
            Some(t) => r.header("x-csrf-token", t),
            None => r,
        })
        .await
    }

    /// A WebSocket to the BFF carrying the browser's cookies, from `origin`.
    async fn ws(&self, site: &Site, origin: Option<String>) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
        let mut headers = vec![];
        if let Some(c) = self.cookies_for(&site.url("/")) {
            headers.push(("cookie", c));
        }
        if let Some(o) = origin {
            headers.push(("origin", o));
        }
        Ws::connect_with(site.bff.addr, &headers).await
    }
}

const ME: &str = "{ me { user { id email name } companies { id name } } }";

fn parse_query(url: &str) -> HashMap<String, String> {
    url::Url::parse(url).expect("url").query_pairs().into_owned().collect()
}

async fn signs_in_through_the_provider(shape: Shape) {
    let site = Site::start(shape).await;
    let mut alice = Browser::new();

    // Nobody is signed in yet.
    assert_eq!(alice.get(&site.url("/auth/session")).await.status, 401);
    let (status, body) = alice.graphql(&site, None, ME).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["me"], json!({"user": null, "companies": []}), "nobody: {body}");

    // The whole flow: to the provider, its form, back with a code; a session opens.
    let answer = alice.sign_in(&site, "alice@example.com").await;
    assert_eq!(answer.status, 303, "{answer:?}");
    assert_eq!(answer.location.as_deref(), Some(site.url("/projects/default").as_str()), "back where sign-in began");
    let cookie = answer.cookie(SESSION_COOKIE).expect("a session cookie").to_ascii_lowercase();
    for attribute in ["httponly", "secure", "samesite=lax", "path=/", "max-age=3600"] {
        assert!(cookie.contains(attribute), "the session cookie is {attribute}: {cookie}");
    }
    assert!(answer.cookie(LOGIN_COOKIE).is_some_and(|c| c.contains("Max-Age=0")), "the attempt cookie is cleared: {answer:?}");
    let csrf = alice.csrf(&site).await;
    let session: J = serde_json::from_str(&alice.get(&site.url("/auth/session")).await.body).expect("json");
    assert_eq!(session["user"]["email"], "alice@example.com");
    assert_eq!(session["user"]["name"], "alice", "the provider's name claim, from userinfo");
    let alice_id = session["user"]["id"].as_str().expect("id").to_string();

    // Cookie-authenticated GraphQL needs the session's CSRF token.
    let (status, body) = alice.graphql(&site, None, ME).await;
    assert_eq!(status, 403, "no CSRF token: {body}");
    let (status, _) = alice.graphql(&site, Some("not-the-token"), ME).await;
    assert_eq!(status, 403, "a wrong CSRF token");
    let (status, body) = alice.graphql(&site, Some(&csrf), ME).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["me"]["user"]["email"], "alice@example.com", "{body}");
    let (_, body) = alice.graphql(&site, Some(&csrf), r#"mutation { createCompany(name: "Alice Co") { id name } }"#).await;
    assert_eq!(body["data"]["createCompany"]["name"], "Alice Co", "{body}");

    // A session cookie not signed with our secret is no session at all.
    let mut forger = Browser::new();
    forger.set_cookie(&site.url("/"), SESSION_COOKIE, "cgs_0000000000000000000000000000000000000000000000000000000000000000");
    assert_eq!(forger.get(&site.url("/auth/session")).await.status, 401);
    let mut stolen_value = Browser::new();
    let signed = alice.cookie(&site.url("/"), SESSION_COOKIE).expect("alice's cookie");
    // The signature covers the value: changing one character of it breaks the cookie.
    let mut tampered = signed.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'0' { b'1' } else { b'0' };
    stolen_value.set_cookie(&site.url("/"), SESSION_COOKIE, &String::from_utf8(tampered).expect("utf8"));
    assert_eq!(stolen_value.get(&site.url("/auth/session")).await.status, 401, "a tampered cookie");

    // WebSocket: the handshake must come from an allowed origin, and connection_init
    // must carry the CSRF token.
    assert!(alice.ws(&site, None).await.is_err(), "a cookie WebSocket without Origin is refused");
    assert!(alice.ws(&site, Some("https://evil.example".into())).await.is_err(), "a foreign origin is refused");
    let mut ws = alice.ws(&site, Some(site.origin())).await.expect("websocket");
    ws.send(json!({"type": "connection_init", "payload": {}})).await;
    assert_eq!(ws.next().await, json!({"type": "closed", "code": 4403}), "no CSRF token in connection_init");
    let mut live = alice.ws(&site, Some(site.origin())).await.expect("websocket");
    live.send(json!({"type": "connection_init", "payload": {"csrfToken": csrf}})).await;
    assert_eq!(live.next().await["type"], "connection_ack");

    // Signing in again rotates the session: the old token stops working.
    let old = alice.cookie(&site.url("/"), SESSION_COOKIE).expect("cookie");
    let answer = alice.sign_in(&site, "alice@example.com").await;
    assert!(answer.opens_session(), "{answer:?}");
    let new = alice.cookie(&site.url("/"), SESSION_COOKIE).expect("cookie");
    assert_ne!(old, new, "a new session token at each sign-in");
    let mut old_browser = Browser::new();
    old_browser.set_cookie(&site.url("/"), SESSION_COOKIE, &old);
    assert_eq!(old_browser.get(&site.url("/auth/session")).await.status, 401, "the session before sign-in ended");
    let session: J = serde_json::from_str(&alice.get(&site.url("/auth/session")).await.body).expect("json");
    assert_eq!(session["user"]["id"], alice_id.as_str(), "the same person is the same user");
    let csrf = alice.csrf(&site).await;
    // The socket opened on the old session is closed.
    assert_eq!(live.next().await, json!({"type": "closed", "code": 4401}), "a socket outlives no session");

    // Logging out needs the CSRF token, ends the session on the server and clears the
    // cookie; a copy of the cookie is worth nothing afterwards.
    let mut ws = alice.ws(&site, Some(site.origin())).await.expect("websocket");
    ws.send(json!({"type": "connection_init", "payload": {"csrfToken": csrf}})).await;
    assert_eq!(ws.next().await["type"], "connection_ack");
    let copy = alice.cookie(&site.url("/"), SESSION_COOKIE).expect("cookie");
    assert_eq!(alice.logout(&site, None).await.status, 403, "logout without CSRF token");
    let answer = alice.logout(&site, Some(&csrf)).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(answer.cookie(SESSION_COOKIE).is_some_and(|c| c.contains("Max-Age=0")), "{answer:?}");
    let mut thief = Browser::new();
    thief.set_cookie(&site.url("/"), SESSION_COOKIE, &copy);
    assert_eq!(thief.get(&site.url("/auth/session")).await.status, 401);
    let (status, body) = thief.graphql(&site, Some(&csrf), ME).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["me"], json!({"user": null, "companies": []}), "nobody: {body}");
    let (_, body) = thief.graphql(&site, Some(&csrf), r#"mutation { createCompany(name: "Thief Co") { id } }"#).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{body}");
    assert_eq!(ws.next().await, json!({"type": "closed", "code": 4401}), "logging out closes the live socket");

    // Someone else signing in is someone else, and sees nothing of Alice's.
    let mut bob = Browser::new();
    assert!(bob.sign_in(&site, "bob@example.com").await.opens_session());
    let csrf = bob.csrf(&site).await;
    let (_, body) = bob.graphql(&site, Some(&csrf), ME).await;
    assert_eq!(body["data"]["me"]["user"]["email"], "bob@example.com");
    assert_ne!(body["data"]["me"]["user"]["id"], alice_id.as_str());
    assert_eq!(body["data"]["me"]["companies"], json!([]), "{body}");
}

async fn refuses_every_broken_callback(shape: Shape) {
    let site = Site::start(shape).await;

    // No attempt cookie: the answer is not for a sign-in this browser began.
    let mut browser = Browser::new();
    let to = browser.start_sign_in(&site).await;
    let callback = browser.at_provider(&to, "carol@example.com", true).await;
    let mut elsewhere = Browser::new();
    let answer = elsewhere.get(&callback).await;
    assert_eq!(answer.status, 400, "{answer:?}");
    assert!(!answer.opens_session());

    // No state.
    let query = parse_query(&callback);
    let answer = browser.get(&site.url(&format!("/auth/callback?code={}", query["code"]))).await;
    assert_eq!(answer.status, 400, "{answer:?}");
    assert!(answer.body.contains("no state"), "{}", answer.body);
    assert!(!answer.opens_session());

    // The attempt ended with that answer (the cookie is cleared whatever happens);
    // a fresh attempt, then a callback with another state.
    let to = browser.start_sign_in(&site).await;
    let callback = browser.at_provider(&to, "carol@example.com", true).await;
    let wrong_state = with_param(&callback, "state", "forged-state-value");
    let attempt = browser.cookie(&site.url("/"), LOGIN_COOKIE).expect("attempt cookie");
    let answer = browser.get(&wrong_state).await;
    assert_eq!(answer.status, 400, "{answer:?}");
    assert!(answer.body.contains("state mismatch"), "{}", answer.body);
    assert!(!answer.opens_session());

    // The right callback works once; the same answer replayed (with the same attempt
    // cookie) is refused.
    browser.set_cookie(&site.url("/"), LOGIN_COOKIE, &attempt);
    let answer = browser.get(&callback).await;
    assert!(answer.opens_session(), "{answer:?}");
    let mut replayer = Browser::new();
    replayer.set_cookie(&site.url("/"), LOGIN_COOKIE, &attempt);
    let answer = replayer.get(&callback).await;
    assert_eq!(answer.status, 400, "{answer:?}");
    assert!(answer.body.contains("already used"), "{}", answer.body);
    assert!(!answer.opens_session());

    // A code obtained in another attempt (an injected code): the state is this
    // browser's, but the PKCE verifier is not the one the code was issued for, and the
    // provider will not redeem it.
    let mut victim = Browser::new();
    let victim_to = victim.start_sign_in(&site).await;
    let mut attacker = Browser::new();
    let attacker_to = attacker.start_sign_in(&site).await;
    let attacker_callback = attacker.at_provider(&attacker_to, "mallory@example.com", true).await;
    let victim_state = parse_query(&victim_to)["state"].clone();
    let injected = site.url(&format!("/auth/callback?code={}&state={victim_state}", parse_query(&attacker_callback)["code"]));
    let answer = victim.get(&injected).await;
    assert_eq!(answer.status, 401, "{answer:?}");
    assert!(answer.body.contains("invalid_grant"), "{}", answer.body);
    assert!(!answer.opens_session());

    // An answer naming another provider than ours (a mix-up).
    let mut mixed = Browser::new();
    let to = mixed.start_sign_in(&site).await;
    let callback = mixed.at_provider(&to, "carol@example.com", true).await;
    assert!(parse_query(&callback).contains_key("iss"), "the provider names itself: {callback}");
    let answer = mixed.get(&with_param(&callback, "iss", "http://attacker.example")).await;
    assert_eq!(answer.status, 400, "{answer:?}");
    assert!(!answer.opens_session());

    // The provider says no.
    let mut denied = Browser::new();
    let to = denied.start_sign_in(&site).await;
    let state = parse_query(&to)["state"].clone();
    let answer = denied.get(&site.url(&format!("/auth/callback?error=access_denied&error_description=nope&state={state}"))).await;
    assert_eq!(answer.status, 401, "{answer:?}");
    assert!(answer.body.contains("access_denied"), "{}", answer.body);
    assert!(!answer.opens_session());

    // ID tokens that must not be believed.
    for (mutation, says) in [
        ("nonce", "nonce"),
        ("issuer", "issuer"),
        ("audience", "audience"),
        ("expired", "xpired"),
        ("alg-none", "ignature"),
        ("bad-signature", "ignature"),
        ("foreign-key", "ignature"),
    ] {
        let mut browser = Browser::new();
        let to = browser.start_sign_in(&site).await;
        let callback = browser.at_provider(&to, "dave@example.com", true).await;
        site.provider.arm(mutation).await;
        let answer = browser.get(&callback).await;
        assert_eq!(answer.status, 401, "{mutation}: {answer:?}");
        assert!(answer.body.contains(says), "{mutation}: {}", answer.body);
        assert!(!answer.opens_session(), "{mutation}: {answer:?}");
    }

    // An address the provider has not verified cannot claim invitations made to it.
    let mut unverified = Browser::new();
    let to = unverified.start_sign_in(&site).await;
    let callback = unverified.at_provider(&to, "erin@example.com", false).await;
    let answer = unverified.get(&callback).await;
    assert_eq!(answer.status, 401, "{answer:?}");
    assert!(answer.body.contains("not verified"), "{}", answer.body);
    assert!(!answer.opens_session());

    // After all that, a clean sign-in still works.
    let mut fine = Browser::new();
    assert!(fine.sign_in(&site, "dave@example.com").await.opens_session());
}

/// `return_to` only ever leads to a page of this site.
async fn return_to_stays_on_this_site(shape: Shape) {
    let site = Site::start(shape).await;
    for (given, expected) in [("//evil.example/x", "/"), ("https://evil.example/", "/"), ("/\\evil.example", "/"), ("/traces?x=1", "/traces?x=1")] {
        let mut browser = Browser::new();
        let answer = browser.get(&site.url(&format!("/auth/login?return_to={}", urlencode(given)))).await;
        let to = answer.location.expect("to the provider");
        let callback = browser.at_provider(&to, "frank@example.com", true).await;
        let answer = browser.get(&callback).await;
        assert_eq!(answer.location.as_deref(), Some(site.url(expected).as_str()), "return_to={given}");
    }
}

/// `url` with query parameter `name` set to `value`.
fn with_param(url: &str, name: &str, value: &str) -> String {
    let mut u = url::Url::parse(url).expect("url");
    let pairs: Vec<(String, String)> = u.query_pairs().into_owned().filter(|(k, _)| k != name).collect();
    u.query_pairs_mut().clear().extend_pairs(pairs).append_pair(name, value);
    u.to_string()
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A browser opening `url` as a page (`navigate`, or as an `old browser` says it), or
/// loading it as a `file`.
async fn open(b: &mut Browser, url: String, how: &'static str) -> Answer {
    b.send(reqwest::Method::GET, &url, |r| match how {
        "navigate" => r.header("sec-fetch-mode", "navigate").header("accept", "text/html"),
        "old browser" => r.header("accept", "text/html,application/xhtml+xml,*/*;q=0.8"),
        _ => r.header("sec-fetch-mode", "no-cors").header("accept", "*/*"),
    })
    .await
}

/// The web UI is for people signed in: opening a page without a session leads to the
/// provider and back to that page; a file is refused outright; signing out closes it.
async fn the_app_shell_is_only_for_people_signed_in(shape: Shape) {
    let site = Site::start(shape).await;
    let mut alice = Browser::new();
    let page = site.url("/projects/default/explore?metric=http.server.duration&range=1h");
    // Opening a page (as browsers say it, or as older ones do) leads to sign-in, set to
    // come back to the very page; nothing of the app is in the answer.
    for how in ["navigate", "old browser"] {
        let answer = open(&mut alice, page.clone(), how).await;
        assert_eq!(answer.status, 303, "{how}: {answer:?}");
        let login = answer.location.clone().expect("to sign-in");
        assert!(login.starts_with(&site.url("/auth/login?")), "{login}");
        assert_eq!(parse_query(&login)["return_to"], "/projects/default/explore?metric=http.server.duration&range=1h");
        assert!(!answer.body.contains(INDEX), "{how}");
    }
    // A file the page would load is refused, not redirected.
    let answer = open(&mut alice, site.url("/assets/app-3f9a1c.js"), "file").await;
    assert_eq!(answer.status, 401, "{answer:?}");
    assert!(!answer.body.contains(SCRIPT));
    // A forged session cookie is no session.
    let mut forger = Browser::new();
    forger.set_cookie(&site.url("/"), SESSION_COOKIE, "cgs_0000000000000000000000000000000000000000000000000000000000000000");
    assert_eq!(open(&mut forger, page.clone(), "navigate").await.status, 303);
    assert_eq!(open(&mut forger, site.url("/assets/app-3f9a1c.js"), "file").await.status, 401);

    // Following the way it was shown: the provider, and back to the page asked for.
    let login = open(&mut alice, page.clone(), "navigate").await.location.expect("to sign-in");
    let answer = alice.get(&login).await;
    assert_eq!(answer.status, 303, "{answer:?}");
    let callback = alice.at_provider(&answer.location.expect("to the provider"), "alice@example.com", true).await;
    let answer = alice.get(&callback).await;
    assert!(answer.opens_session(), "{answer:?}");
    assert_eq!(answer.location.as_deref(), Some(page.as_str()), "back to the page first asked for");
    let answer = open(&mut alice, page.clone(), "navigate").await;
    assert_eq!((answer.status, answer.body.as_str()), (200, INDEX));
    let answer = open(&mut alice, site.url("/assets/app-3f9a1c.js"), "file").await;
    assert_eq!((answer.status, answer.body.as_str()), (200, SCRIPT));

    // Signed out, the shell is closed again, for this browser and for a copy of its cookie.
    let copy = alice.cookie(&site.url("/"), SESSION_COOKIE).expect("cookie");
    let csrf = alice.csrf(&site).await;
    assert_eq!(alice.logout(&site, Some(&csrf)).await.status, 200);
    assert_eq!(open(&mut alice, page.clone(), "navigate").await.status, 303);
    let mut thief = Browser::new();
    thief.set_cookie(&site.url("/"), SESSION_COOKIE, &copy);
    assert_eq!(open(&mut thief, page.clone(), "navigate").await.status, 303);
    assert_eq!(open(&mut thief, site.url("/assets/app-3f9a1c.js"), "file").await.status, 401);
}

crate::both_shapes!(signs_in_through_the_provider, refuses_every_broken_callback, the_app_shell_is_only_for_people_signed_in);

#[tokio::test]
async fn return_to_is_a_path_of_this_site() {
    return_to_stays_on_this_site(Shape::InProcess).await;
}

/// An identity provider that cannot be reached makes sign-in answer 503 with
/// `Retry-After`, not an error page of ours, and opens nothing.
#[tokio::test]
async fn an_unreachable_provider_is_unavailable_not_an_error() {
    // A port nothing listens on: bound, then released.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let sso = Sso::new(SsoConfig {
        issuer: format!("http://{closed}"),
        client_id: CLIENT_ID.into(),
        client_secret: None,
        redirect_url: format!("http://{addr}/auth/callback"),
        scopes: vec!["email".into()],
    })
    .expect("sso config");
    let app = AppConfig {
        local: false,
        sso: Some(SsoAuth {
            sso: Arc::new(sso),
            secret: SessionSecret::parse(SESSION_SECRET).expect("secret"),
            session_ttl: Duration::from_secs(3600),
        }),
        ..AppConfig::default()
    };
    let bff = Bff::start_on(Options { app, ..Options::default() }, listener).await;
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(format!("http://{}/auth/login", bff.addr))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert!(response.headers().get("set-cookie").is_none(), "no attempt is begun");
}

#[test]
fn weak_session_secrets_are_refused() {
    for weak in ["", "short", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "changeme-changeme-changeme-changeme"] {
        assert!(SessionSecret::parse(weak).is_err(), "{weak:?} is refused");
    }
    assert!(SessionSecret::parse(SESSION_SECRET).is_ok());
}
