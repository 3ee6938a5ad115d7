//! Log search over records stored by the storage writer: filters, newest first, and
//! pages that neither repeat nor skip a record, ties in time included.

use cloudgrid_operators::records::{AttrValue, LogRecord, Record};
use cloudgrid_read::logs::{Cursor, LogQuery, Logs};
use cloudgrid_sinks::surreal::{Store, SurrealConfig, SurrealWriter};
use cloudgrid_sinks::{Sequenced, TelemetryWriter, WriteBatch, partition_of};

const MS: u64 = 1_000_000;
const T0: u64 = 1_700_000_000_000 * MS;

pub(crate) fn log(id: u64, ms: u64, severity: i32, body: &str, user: &str, trace: Option<u8>) -> Record {
    Record::Log(Box::new(LogRecord {
        project_id: "p".into(),
        id,
        time_unix_nano: T0 + ms * MS,
        observed_unix_nano: T0 + ms * MS,
        severity_number: severity,
        severity_text: String::new(),
        body: AttrValue::Str(body.into()),
        attributes: vec![("user".into(), AttrValue::Str(user.into()))],
        resource: vec![("service.name".into(), AttrValue::Str("api".into()))],
        scope_name: String::new(),
        scope_version: String::new(),
        trace_id: trace.map(|t| [t; 16]),
        span_id: None,
        flags: 0,
        event_name: String::new(),
    }))
}

#[tokio::test]
async fn logs_are_searched_newest_first_in_pages_that_cover_each_record_once() {
    let store = Store::open(&SurrealConfig::mem()).await.expect("store");
    let writer = SurrealWriter::new(store.clone());
    // 30 records, three per millisecond (ties in time), every third an error.
    let records: Vec<Record> = (0..30u64)
        .map(|i| {
            let severity = if i % 3 == 0 { 17 } else { 9 };
            let body = if i % 5 == 0 { "Payment FAILED for order" } else { "request served" };
            log(1_000 + i, i / 3, severity, body, if i % 2 == 0 { "ann" } else { "bob" }, (i == 7).then_some(4))
        })
        .collect();
    let records: Vec<Sequenced> = records.into_iter().map(|record| Sequenced { seq: 1, record }).collect();
    let mut resume: Vec<(u32, u64)> = records.iter().map(|r| (partition_of(&r.record), 1)).collect();
    resume.sort_unstable();
    resume.dedup();
    writer.apply(&WriteBatch { records, resume, ..WriteBatch::default() }).await.expect("apply");

    let logs = Logs::new(store);
    let all = LogQuery { from: T0, to: T0 + 60_000 * MS, limit: 10, ..LogQuery::default() };
    let ids = |page: &cloudgrid_read::logs::LogPage| page.logs.iter().map(|l| l["id"].as_str().unwrap_or("").to_string()).collect::<Vec<_>>();

    // Pages of 10 until the cursor runs out: every record once, newest first.
    let mut seen = Vec::new();
    let mut q = all.clone();
    loop {
        let page = logs.search("p", &q).await.expect("search");
        seen.extend(ids(&page));
        match page.next {
            Some(c) => q.after = Some(Cursor::decode(&c.encode()).expect("cursor round trip")),
            None => break,
        }
    }
    let expected: Vec<String> = (0..30u64).rev().map(|i| format!("{:016x}", 1_000 + i)).collect();
    assert_eq!(seen, expected);

    let count = |q: LogQuery| {
        let logs = logs.clone();
        async move { logs.search("p", &LogQuery { limit: 100, ..q }).await.expect("search").logs.len() }
    };
    assert_eq!(count(LogQuery { min_severity: Some(17), ..all.clone() }).await, 10);
    assert_eq!(count(LogQuery { body_contains: Some("payment failed".into()), ..all.clone() }).await, 6, "case-insensitive");
    assert_eq!(count(LogQuery { attributes: vec![("user".into(), "ann".into())], ..all.clone() }).await, 15);
    assert_eq!(count(LogQuery { trace_id: Some("04".repeat(16)), ..all.clone() }).await, 1);
    assert_eq!(count(LogQuery { service: Some("web".into()), ..all.clone() }).await, 0);
    assert_eq!(count(LogQuery { from: T0 + 5 * MS, to: T0 + 7 * MS, ..all.clone() }).await, 6, "two milliseconds of three each");
    let page = logs.search("p", &LogQuery { min_severity: Some(17), limit: 10, ..all.clone() }).await.expect("search");
    assert!(page.next.is_none(), "no cursor when nothing more matches");
}
