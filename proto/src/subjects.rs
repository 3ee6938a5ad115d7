//! Subject names on the bus. One place, so producers and consumers cannot disagree.

use crate::Signal;

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
        assert_eq!(ingest("p1", Signal::Metrics), "ingest.p1.metrics");
        assert!(is_valid_token("default"));
        assert!(!is_valid_token("a.b"));
        assert!(!is_valid_token("a>"));
        assert!(!is_valid_token(""));
    }
}
