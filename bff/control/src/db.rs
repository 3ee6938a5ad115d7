//! How the control plane runs its transactions: a refusal raised inside one (`THROW`)
//! becomes the caller's error, and a write conflict with a concurrent change is retried
//! from the start, so the retry decides on the state that change left.

use std::future::Future;
use std::time::Duration;

use cloudgrid_sinks::SinkError;
use surrealdb::IndexedResults;

use crate::ControlError;

/// Marks a refusal raised by `THROW` in a transaction: `THROW "cg:<kind>:<message>"`.
const MARK: &str = "cg:";

/// The control plane's error for a query's answer: a `THROW`n refusal with its message,
/// a conflict, or storage trouble.
pub(crate) fn answer(response: Result<IndexedResults, surrealdb::Error>) -> Result<IndexedResults, ControlError> {
    let response = response.map_err(cloudgrid_sinks::surreal::classify).and_then(cloudgrid_sinks::surreal::check);
    response.map_err(|e| match e {
        SinkError::Conflict(m) => ControlError::Retry(m),
        SinkError::Rejected(m) => match m.find(MARK).map(|at| &m[at + MARK.len()..]) {
            Some(thrown) => refusal(thrown),
            None => ControlError::Storage(m),
        },
        other => ControlError::Storage(other.to_string()),
    })
}

fn refusal(thrown: &str) -> ControlError {
    let (kind, message) = thrown.split_once(':').unwrap_or(("invalid", thrown));
    // The message ends where the thrown string did (storage may quote it).
    let message = message.trim_end_matches(['"', '\'', '`']).to_string();
    match kind {
        "not_found" => ControlError::NotFound(message),
        "conflict" => ControlError::Conflict(message),
        "forbidden" => ControlError::Forbidden(message),
        _ => ControlError::Invalid(message),
    }
}

/// Runs `attempt` until it is not refused for a write conflict (at most 48 times, with
/// short jittered pauses: changes that must serialize on one record, such as many people
/// accepting invitations to one project at once, commit one after another).
pub(crate) async fn retrying<T, F, Fut>(mut attempt: F) -> Result<T, ControlError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ControlError>>,
{
    let mut tries = 0;
    loop {
        match attempt().await {
            Err(ControlError::Retry(m)) if tries < 47 => {
                tries += 1;
                let pause = 1 + rand::random::<u64>() % (4u64 << tries.min(5)).min(100);
                tracing::debug!(tries, pause_ms = pause, conflict = %m, "control-plane change conflicted; retrying");
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
            Err(ControlError::Retry(m)) => return Err(ControlError::Storage(format!("kept conflicting with concurrent changes: {m}"))),
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thrown_refusals_keep_their_kind_and_message() {
        assert!(matches!(refusal("not_found:no invitation\""), ControlError::NotFound(m) if m == "no invitation"));
        assert!(matches!(refusal("conflict:already used"), ControlError::Conflict(m) if m == "already used"));
        assert!(matches!(refusal("forbidden:owners only"), ControlError::Forbidden(m) if m == "owners only"));
        assert!(matches!(refusal("bad input"), ControlError::Invalid(m) if m == "bad input"));
    }
}
