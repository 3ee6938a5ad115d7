//! The app shell in local mode: the built web UI served from its directory, pages of
//! the app answered with `index.html`, content-named assets cached for good, nothing
//! outside the directory reachable, and the API's routes untouched.

use std::path::Path;

use cloudgrid_bff::{AppConfig, UiConfig};

use crate::support::{Bff, Options};

pub const INDEX: &str = "<!doctype html><title>CloudGrid</title><script type=module src=/assets/app-3f9a1c.js></script>";
pub const SCRIPT: &str = "console.log('cloudgrid')";

/// A built UI: `index.html`, a content-named script (with its gzip twin) and a favicon.
pub fn built_ui(dir: &Path) {
    std::fs::create_dir_all(dir.join("assets")).expect("assets dir");
    std::fs::write(dir.join("index.html"), INDEX).expect("index");
    std::fs::write(dir.join("assets/app-3f9a1c.js"), SCRIPT).expect("script");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, SCRIPT.as_bytes()).expect("gzip");
    std::fs::write(dir.join("assets/app-3f9a1c.js.gz"), gz.finish().expect("gzip")).expect("script.gz");
    std::fs::write(dir.join("favicon.ico"), [0u8, 0, 1, 0]).expect("favicon");
}

async fn bff_with_ui(dir: &Path) -> Bff {
    let app = AppConfig { ui: Some(UiConfig { dir: dir.to_path_buf() }), ..AppConfig::default() };
    Bff::start(Options { app, ..Options::default() }).await
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).no_gzip().build().expect("client")
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

#[tokio::test]
async fn serves_the_built_ui_with_pages_as_index_and_assets_cached_for_good() {
    let ui = tempfile::tempdir().expect("tmp");
    built_ui(ui.path());
    let bff = bff_with_ui(ui.path()).await;
    let http = client();

    // The root and any link into the app are the app's page, revalidated every time.
    for path in ["/", "/projects/default/explore", "/explore/http.server.duration?range=1h"] {
        let r = http.get(format!("http://{}{path}", bff.addr)).send().await.expect("get");
        assert_eq!(r.status(), 200, "{path}");
        assert!(header(&r, "content-type").starts_with("text/html"), "{path}");
        assert_eq!(header(&r, "cache-control"), "no-cache", "{path}");
        let csp = header(&r, "content-security-policy").to_string();
        assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(header(&r, "x-content-type-options"), "nosniff");
        assert_eq!(header(&r, "x-frame-options"), "DENY");
        assert_eq!(r.text().await.expect("body"), INDEX, "{path}");
    }

    // A content-named asset is cached for good, and sent compressed to who takes it.
    let r = http.get(format!("http://{}/assets/app-3f9a1c.js", bff.addr)).send().await.expect("get");
    assert_eq!(r.status(), 200);
    assert!(header(&r, "content-type").contains("javascript"), "{:?}", r.headers());
    assert_eq!(header(&r, "cache-control"), "public, max-age=31536000, immutable");
    assert_eq!(r.text().await.expect("body"), SCRIPT);
    let r = http.get(format!("http://{}/assets/app-3f9a1c.js", bff.addr)).header("accept-encoding", "gzip").send().await.expect("get");
    assert_eq!(header(&r, "content-encoding"), "gzip");
    assert!(header(&r, "content-type").contains("javascript"));

    // A missing asset is missing: never the page in its place (a stale page would
    // otherwise run HTML as a script).
    let r = http.get(format!("http://{}/assets/app-0000.js", bff.addr)).send().await.expect("get");
    assert_eq!(r.status(), 404);
    assert_eq!(header(&r, "cache-control"), "no-cache", "a 404 is not cached for good");

    // Other files of the build are served as they are.
    let r = http.get(format!("http://{}/favicon.ico", bff.addr)).send().await.expect("get");
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.expect("body").as_ref(), [0u8, 0, 1, 0]);

    // Nothing outside the directory is reachable, however the path is spelled.
    std::fs::write(ui.path().parent().expect("parent").join("cloudgrid-secret.txt"), "secret").ok();
    for path in ["/../cloudgrid-secret.txt", "/assets/../../cloudgrid-secret.txt", "/%2e%2e/cloudgrid-secret.txt", "/assets/..%2f..%2fcloudgrid-secret.txt"] {
        let r = http.get(format!("http://{}{path}", bff.addr)).send().await.expect("get");
        let status = r.status();
        let body = r.text().await.expect("body");
        assert!(!body.contains("secret"), "{path} answered {status} with the file outside the UI");
    }
    let _ = std::fs::remove_file(ui.path().parent().expect("parent").join("cloudgrid-secret.txt"));

    // Only GET and HEAD.
    let r = http.post(format!("http://{}/projects", bff.addr)).body("x").send().await.expect("post");
    assert_eq!(r.status(), 405);
    assert_eq!(header(&r, "allow"), "GET, HEAD");

    // The API keeps its routes: GraphQL answers, and GraphiQL stays at GET /graphql.
    let v = bff.query("{ me { user { id } } }", serde_json::json!({})).await;
    assert!(v["data"]["me"]["user"]["id"].is_string(), "{v}");
    let r = http.get(bff.url()).send().await.expect("get");
    assert!(r.text().await.expect("body").to_lowercase().contains("graphiql"));
}

#[tokio::test]
async fn an_unbuilt_ui_says_how_to_build_it() {
    let empty = tempfile::tempdir().expect("tmp");
    let bff = bff_with_ui(empty.path()).await;
    let r = client().get(format!("http://{}/projects/default", bff.addr)).send().await.expect("get");
    assert_eq!(r.status(), 503);
    assert_eq!(header(&r, "cache-control"), "no-store");
    let body = r.text().await.expect("body");
    assert!(body.contains("npm run build") && body.contains("CLOUDGRID_UI_DIR"), "{body}");
    // The API does not depend on it.
    let v = bff.query("{ me { user { id } } }", serde_json::json!({})).await;
    assert!(v["data"]["me"]["user"]["id"].is_string(), "{v}");
}
