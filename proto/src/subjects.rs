//! Subject names on the bus. One place, so producers and consumers cannot disagree.

use crate::{LiveKind, Signal};

/// Every ingest subject matches this filter.
pub const INGEST_FILTER: &str = "ingest.>";
/// The durable consumer of the storage-write service.
pub const STORAGE_WRITE_CONSUMER: &str = "storage-write";

/// `ingest.<project>.<signal>`: partitioning by project keeps one tenant's traffic
/// addressable on its own. Subjects here are logical; a transport may put its
/// namespace in front (JetStream: `<namespace>.ingest.…`).
pub fn ingest(project_id: &str, signal: Signal) -> String {
    format!("ingest.{project_id}.{}", signal.name())
}

/// The project an ingest subject names, namespaced or not
/// (`[<namespace>.]ingest.<project>.<signal>`).
pub fn ingest_project(subject: &str) -> Option<&str> {
    let mut parts = subject.rsplitn(3, '.');
    let (_signal, project, rest) = (parts.next()?, parts.next()?, parts.next()?);
    (rest == "ingest" || rest.ends_with(".ingest")).then_some(project).filter(|p| !p.is_empty())
}

/// The control plane revoked keys (or deleted a project, which takes its keys along):
/// collectors drop the key verdicts they cached. A notification that is lost costs at
/// most the cache's lifetime.
pub const KEYS_REVOKED: &str = "control.keys.revoked";

/// `live.<project>.<kind>`: post-persist notifications of one project.
pub fn live(project_id: &str, kind: LiveKind) -> String {
    format!("live.{project_id}.{}", kind.token())
}

/// One kind of live notification of every project.
pub fn live_of_kind(kind: LiveKind) -> String {
    format!("live.*.{}", kind.token())
}

/// Every live notification of one project: what one listener per project per process
/// subscribes to.
pub fn live_of_project(project_id: &str) -> String {
    format!("live.{project_id}.>")
}

/// Whether `subject` matches `filter`, NATS style: tokens split on `.`, `*` matches one
/// token, a final `>` one or more.
pub fn matches(filter: &str, subject: &str) -> bool {
    let mut subject = subject.split('.');
    let mut filter = filter.split('.').peekable();
    while let Some(f) = filter.next() {
        if f == ">" && filter.peek().is_none() {
            return subject.next().is_some();
        }
        match subject.next() {
            Some(s) if f == "*" || f == s => {}
            _ => return false,
        }
    }
    subject.next().is_none()
}

/// Whether `id` can stand as one subject token (and in record ids and file names).
pub fn is_valid_token(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_tokenised_by_project_and_signal() {
        assert_eq!(ingest_project("ingest.p1.metrics"), Some("p1"));
        assert_eq!(ingest_project("cloudgrid.ingest.p1.traces"), Some("p1"));
        assert_eq!(ingest_project("live.p1.traces"), None);
        assert_eq!(ingest_project("ingest..logs"), None);
        assert_eq!(ingest_project("p1.metrics"), None);
        assert_eq!(ingest("p1", Signal::Metrics), "ingest.p1.metrics");
        assert!(is_valid_token("default"));
        assert!(!is_valid_token("a.b"));
        assert!(!is_valid_token("a>"));
        assert!(!is_valid_token(""));
    }

    #[test]
    fn filters_match_like_nats() {
        assert!(matches("live.p1.>", "live.p1.spans"));
        assert!(matches("live.p1.>", "live.p1.spans.x"));
        assert!(!matches("live.p1.>", "live.p1"));
        assert!(!matches("live.p1.>", "live.p2.spans"));
        assert!(matches("live.*.logs", "live.p2.logs"));
        assert!(!matches("live.*.logs", "live.p2.spans"));
        assert!(matches("a.b", "a.b"));
        assert!(!matches("a.b", "a.b.c"));
        assert!(!matches("a.b.c", "a.b"));
        assert_eq!(live("p1", LiveKind::Metrics), "live.p1.metrics");
    }
}
