//! Ingest keys on requests: where they are read from, and a short-lived cache of the
//! control plane's answers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cloudgrid_proto::auth::{KeyCheck, KeyVerifier, VerifyError};
use sha2::{Digest, Sha256};

/// The key from `Authorization: Bearer <key>`, or from `x-cloudgrid-key` for clients
/// that cannot set Authorization.
pub fn key_from_headers(headers: &http::HeaderMap) -> Option<String> {
    if let Some(v) = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        let (scheme, rest) = v.split_once(' ')?;
        if scheme.eq_ignore_ascii_case("bearer") && !rest.trim().is_empty() {
            return Some(rest.trim().to_string());
        }
        return None;
    }
    headers
        .get("x-cloudgrid-key")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Caches answers for `ttl`, keyed by a hash of the key (the key itself is not kept).
pub struct CachedVerifier {
    inner: Arc<dyn KeyVerifier>,
    ttl: Duration,
    cache: Mutex<HashMap<[u8; 32], (KeyCheck, Instant)>>,
}

impl CachedVerifier {
    pub fn new(inner: Arc<dyn KeyVerifier>, ttl: Duration) -> Self {
        Self { inner, ttl, cache: Mutex::new(HashMap::new()) }
    }

    pub fn invalidate(&self) {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    pub async fn verify(&self, key: &str) -> Result<KeyCheck, VerifyError> {
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((check, at)) = cache.get(&digest)
                && at.elapsed() < self.ttl {
                    return Ok(check.clone());
                }
        }
        let check = self.inner.verify_ingest_key(key).await?;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 100_000 {
            // Unknown keys from a scanner must not grow memory without bound.
            cache.clear();
        }
        cache.insert(digest, (check.clone(), Instant::now()));
        Ok(check)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.insert(http::HeaderName::from_bytes(k.as_bytes()).expect("name"), v.parse().expect("value"));
        }
        h
    }

    #[test]
    fn reads_bearer_or_fallback_header() {
        assert_eq!(key_from_headers(&headers(&[("authorization", "Bearer abc")])), Some("abc".into()));
        assert_eq!(key_from_headers(&headers(&[("authorization", "bearer  abc ")])), Some("abc".into()));
        assert_eq!(key_from_headers(&headers(&[("x-cloudgrid-key", "k1")])), Some("k1".into()));
        assert_eq!(key_from_headers(&headers(&[("authorization", "Basic abc")])), None);
        assert_eq!(key_from_headers(&headers(&[])), None);
    }
}
