//! Log search: severity, body text, attributes, trace id and time; newest first, in
//! pages with a cursor.

use cloudgrid_operators::retention;
use cloudgrid_sinks::SinkError;
use cloudgrid_sinks::surreal::Store;
use serde_json::Value as J;

use crate::text;

#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    /// Record time, unix ns, `[from, to)`.
    pub from: u64,
    pub to: u64,
    /// Lowest OTLP severity number (e.g. 17 for ERROR).
    pub min_severity: Option<u32>,
    /// Text the body must contain (case-insensitive).
    pub body_contains: Option<String>,
    /// Attributes that must equal these values (as text).
    pub attributes: Vec<(String, String)>,
    /// Hex trace id.
    pub trace_id: Option<String>,
    pub service: Option<String>,
    /// Most records per page.
    pub limit: usize,
    /// Continue after this cursor (from the previous page).
    pub after: Option<Cursor>,
}

/// Where a page ended: the last record's time and id. The next page holds records
/// strictly older in (time, id) order, so a page boundary never repeats or skips one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub time_unix_nano: u64,
    pub id: String,
}

impl Cursor {
    /// As a client carries it: `time:id`.
    pub fn encode(&self) -> String {
        format!("{}:{}", self.time_unix_nano, self.id)
    }

    pub fn decode(s: &str) -> Option<Cursor> {
        let (t, id) = s.split_once(':')?;
        Some(Cursor { time_unix_nano: t.parse().ok()?, id: id.to_string() })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogPage {
    pub logs: Vec<J>,
    /// Present when more records match.
    pub next: Option<Cursor>,
}

/// A log record's time (unix ns): what its retention is reckoned from.
pub fn log_time(log: &J) -> u64 {
    key(log).0
}

fn key(log: &J) -> (u64, String) {
    (log["time_unix_nano"].as_u64().unwrap_or(0), text(&log["id"]))
}

/// Whether `log` passes the query's filters, its time range and cursor aside (live
/// views).
pub fn log_matches(q: &LogQuery, log: &J) -> bool {
    let needle = q.body_contains.as_ref().map(|b| b.to_lowercase());
    q.min_severity.is_none_or(|s| log["severity_number"].as_u64().unwrap_or(0) >= u64::from(s))
        && needle.is_none_or(|n| text(&log["body"]).to_lowercase().contains(&n))
        && q.trace_id.as_ref().is_none_or(|t| log["trace_id"] == t.as_str())
        && q.service.as_ref().is_none_or(|s| log["service_name"] == s.as_str())
        && q.attributes.iter().all(|(k, v)| log["attributes"].get(k).is_some_and(|a| text(a) == *v))
}

#[derive(Debug, Clone)]
pub struct Logs {
    store: Store,
}

impl Logs {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    fn matches(q: &LogQuery, log: &J) -> bool {
        (q.from..q.to).contains(&key(log).0) && log_matches(q, log)
    }

    /// Records older than the project's logs tombstone are gone.
    pub async fn search(&self, project: &str, q: &LogQuery) -> Result<LogPage, SinkError> {
        let to = q.after.as_ref().map_or(q.to, |c| q.to.min(c.time_unix_nano.saturating_add(1)));
        let from = q.from.max(self.store.retention_cutoffs(project).await?.of(retention::LOGS));
        if from >= to {
            return Ok(LogPage { logs: Vec::new(), next: None });
        }
        let mut logs: Vec<J> = self
            .store
            .logs_between(project, from, to)
            .await?
            .into_iter()
            .filter(|l| Self::matches(q, l) && key(l).0 >= from)
            .filter(|l| q.after.as_ref().is_none_or(|c| key(l) < (c.time_unix_nano, c.id.clone())))
            .collect();
        logs.sort_by_key(|l| std::cmp::Reverse(key(l)));
        let more = logs.len() > q.limit;
        logs.truncate(q.limit);
        let next = more.then(|| logs.last().map(key)).flatten().map(|(time_unix_nano, id)| Cursor { time_unix_nano, id });
        Ok(LogPage { logs, next })
    }
}
