//! Retention policies: everyone in the project reads them, admins change them (from the
//! current version, audited), a mistake names its field and stores nothing, a reset goes
//! back to the defaults, and another tenant sees nothing.

use cloudgrid_control::audit::AuditFilter;
use cloudgrid_control::{ControlError, ControlPlane, Principal, Role};
use cloudgrid_operators::retention::{Policy, PolicyDoc, Tombstone};
use cloudgrid_operators::rollup::Tiers;
use cloudgrid_sinks::surreal::{Store, SurrealConfig};
use serde_json::json;

use crate::tenancy::world_on;

const DAY: u64 = 86_400;

fn doc(v: serde_json::Value) -> PolicyDoc {
    serde_json::from_value(v).expect("a policy document")
}

fn invalid<T: std::fmt::Debug>(r: Result<T, ControlError>) -> String {
    match r {
        Err(ControlError::Invalid(m)) => m,
        other => panic!("expected an invalid-input error, got {other:?}"),
    }
}

#[tokio::test]
async fn retention_policies_are_read_by_the_project_changed_by_admins_and_audited() {
    let store = Store::open(&SurrealConfig::mem()).await.expect("store");
    let w = world_on(ControlPlane::new(store.clone())).await;
    let c = &w.control;
    let Principal::User { id: viewer } = &w.viewer else { unreachable!() };
    c.set_project_access(&w.owner, &w.a, viewer, Some(Role::Viewer)).await.expect("grant");

    // Before anything is set: the defaults, version 0, no tombstone.
    let fresh = c.retention_policy(&w.viewer, &w.a).await.expect("viewers read");
    assert_eq!(fresh.policy, Policy::defaults(&Tiers::default()));
    assert_eq!((fresh.version, fresh.doc.clone(), fresh.tombstones.len()), (0, PolicyDoc::default(), 0));
    let kept: Vec<(&str, Option<u64>)> = fresh.kept.iter().map(|k| (k.signal.as_str(), k.oldest)).collect();
    assert_eq!(kept, ["traces", "logs", "points", "1m", "5m", "1h", "1d"].map(|s| (s, None)), "nothing stored, nothing kept");

    // Members and viewers may not change it; strangers and anonymous callers see nothing.
    let short = doc(json!({"traces": "2d", "tiers": {"1h": "800d"}}));
    assert!(matches!(c.set_retention_policy(&w.member, &w.a, &short, None).await, Err(ControlError::Forbidden(_))));
    assert!(matches!(c.reset_retention_policy(&w.viewer, &w.a, None).await, Err(ControlError::Forbidden(_))));
    assert!(matches!(c.retention_policy(&w.stranger, &w.a).await, Err(ControlError::NotFound(_))));
    assert!(matches!(c.set_retention_policy(&w.stranger, &w.a, &short, None).await, Err(ControlError::NotFound(_))));
    assert!(matches!(c.retention_policy(&Principal::Anonymous, &w.a).await, Err(ControlError::Unauthenticated)));

    // An admin sets it; what is left out keeps its default.
    let set = c.set_retention_policy(&w.admin, &w.a, &short, Some(0)).await.expect("admins set");
    assert_eq!(set.version, 1);
    assert_eq!((set.policy.traces, set.policy.logs, set.policy.tiers["1h"], set.policy.tiers["1m"]), (2 * DAY, 15 * DAY, 800 * DAY, 15 * DAY));
    assert_eq!(set.doc, short, "the document is kept as written");
    assert_eq!(c.retention_policy(&w.viewer, &w.a).await.expect("read"), set);
    assert_eq!(c.retention_policy(&w.owner, &w.b).await.expect("read").version, 0, "a policy is its project's");

    // A change made on an older version is refused, and changes nothing.
    let other = doc(json!({"logs": "3d"}));
    match c.set_retention_policy(&w.owner, &w.a, &other, Some(0)).await {
        Err(ControlError::Conflict(m)) => assert!(m.contains("at version 1, not 0"), "{m}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    // Mistakes name the field and store nothing.
    assert!(invalid(c.set_retention_policy(&w.owner, &w.a, &doc(json!({"logs": "10m"})), None).await).starts_with("logs: 10m is outside 1h"));
    assert!(invalid(c.set_retention_policy(&w.owner, &w.a, &doc(json!({"tiers": {"1d": "7d"}})), None).await).starts_with("tiers.1d: keeps 7d"));
    assert!(invalid(c.set_retention_policy(&w.owner, &w.a, &doc(json!({"tiers": {"2h": "7d"}})), None).await).starts_with("tiers.2h: no such rollup tier"));
    assert_eq!(c.retention_policy(&w.owner, &w.a).await.expect("read"), set, "nothing changed");

    // The tombstones made for the project show with it.
    let t = |signal: &str, cutoff: u64| Tombstone { project: w.a.clone(), signal: signal.into(), cutoff };
    store.record_tombstones(&[t("traces", 5_000), t("1h", 3_600)]).await.expect("tombstones");
    store.record_tombstones(&[t("traces", 4_000)]).await.expect("an older cutoff");
    let seen = c.retention_policy(&w.viewer, &w.a).await.expect("read");
    let cuts: Vec<(&str, u64, u64)> = seen.tombstones.iter().map(|t| (t.signal.as_str(), t.cutoff, t.deleted_through)).collect();
    assert_eq!(cuts, [("1h", 3_600, 0), ("traces", 5_000, 0)], "a cutoff never moves back; nothing deleted yet");

    // Reset: the defaults again, a new version.
    let reset = c.reset_retention_policy(&w.admin, &w.a, Some(1)).await.expect("reset");
    assert_eq!((reset.version, reset.doc.clone(), reset.policy.clone()), (2, PolicyDoc::default(), Policy::defaults(&Tiers::default())));

    // What storage-write reads: every project, with its document where one is set.
    let stored = store.retention_policies().await.expect("policies");
    assert!(stored.iter().all(|p| p.doc.is_none()), "a reset leaves no document: {stored:?}");
    c.set_retention_policy(&w.admin, &w.a, &short, None).await.expect("set without a version");
    let stored = store.retention_policies().await.expect("policies");
    let a = stored.iter().find(|p| p.project == w.a).expect("project a");
    assert_eq!((a.version, a.doc.as_deref().map(|d| serde_json::from_str::<PolicyDoc>(d).expect("doc"))), (3, Some(short.clone())));
    assert!(stored.iter().any(|p| p.project == w.g && p.doc.is_none()), "projects without a policy are listed too");

    // Each change is audited with what was kept before and after.
    let filter = AuditFilter { action: Some("retention_policy.".into()), limit: 50, ..Default::default() };
    let log = c.audit_log(&w.owner, &w.acme, &filter).await.expect("log");
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["retention_policy.update", "retention_policy.reset", "retention_policy.update"]);
    let first: serde_json::Value = serde_json::from_str(&log[2].detail).expect("detail");
    assert_eq!((first["before"]["traces"].as_str(), first["after"]["traces"].as_str()), (Some("15d"), Some("2d")), "{first}");
}
