//! A deployment restarted on its data: what is sent after the restart is stored too.
//! (In one process the in-process bus starts afresh with the process; storage remembers
//! the sequences the earlier process applied, and the new bus must number on after them,
//! or its messages would be taken for redeliveries and dropped. In services mode the
//! stream outlives the processes and storage-write resumes where it stopped.)

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::deployment::Deployment;
use crate::retention::send;

const SAMPLE: &str = "cloudgrid_pipeline_persisted_total{kind=\"spans\"} ";

#[tokio::test(flavor = "multi_thread")]
async fn what_is_sent_after_a_restart_is_stored_as_well() {
    let dir = tempfile::tempdir().expect("tmp");
    let http = reqwest::Client::new();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_nanos() as u64;
    let mut proc = Deployment::configure(dir.path()).start().await;
    for (round, first) in [(0u64, 0u64), (1, 40)] {
        if round > 0 {
            proc = proc.stop().start_again().await;
        }
        let endpoint = format!("http://{}", proc.addr("OTLP/HTTP"));
        let key = proc.ingest_key();
        for i in first..first + 40 {
            send(&http, &endpoint, &key, i, now - 60_000_000_000 + i).await;
        }
        // Each process counts what it stored itself: all 40 of this round.
        proc.wait_metric(SAMPLE, 40, Duration::from_secs(60)).await;
        println!("round {round}: stored");
    }
    // The database outlives the processes as long as `stopped` does.
    let stopped = proc.stop();
    let store = stopped.store().await;
    assert_eq!(store.counts("default").await.expect("counts").spans, 80);
}
