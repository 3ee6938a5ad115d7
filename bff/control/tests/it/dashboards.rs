//! Dashboards: created, read, listed, updated only from the version they were read at,
//! deleted, exported and imported, each within its project.

use cloudgrid_control::dashboards::{DashboardSpec, Layout, Variable, Widget, WidgetKind};
use cloudgrid_control::{ControlError, ControlPlane, Principal, Role};

use crate::tenancy::{named, world};

/// The control plane, the world's Acme owner, its two projects (a and b), and the world.
async fn setup() -> (ControlPlane, Principal, String, String, crate::tenancy::World) {
    let w = world().await;
    (w.control.clone(), w.owner.clone(), w.a.clone(), w.b.clone(), w)
}

fn spec(title: &str) -> DashboardSpec {
    DashboardSpec {
        title: title.into(),
        variables: vec![Variable { name: "host".into(), label: "host".into(), metric: Some("latency".into()), default: Some("web-1".into()) }],
        widgets: vec![
            Widget {
                id: "w1".into(),
                title: "p99 latency".into(),
                kind: WidgetKind::TimeSeries,
                query: serde_json::json!({"metric": "latency", "over_time": "p99", "matchers": [["host", "=", "$host"]]}),
                layout: Layout { x: 0, y: 0, w: 6, h: 4 },
                options: serde_json::json!({"unit": "ms", "thresholds": [{"value": 250, "colour": "red"}]}),
            },
            Widget {
                id: "w2".into(),
                title: "errors".into(),
                kind: WidgetKind::Stat,
                query: serde_json::json!({"metric": "errors", "over_time": "sum"}),
                layout: Layout::default(),
                options: serde_json::Value::Null,
            },
        ],
    }
}

#[tokio::test]
async fn dashboards_are_kept_per_project_and_changed_only_from_their_current_version() {
    let (control, me, p, q, _w) = setup().await;
    let (p, q) = (p.as_str(), q.as_str());
    let made = control.create_dashboard(&me, p, &spec("Service")).await.expect("create");
    assert_eq!((made.version, made.project_id.as_str()), (1, p));
    assert_eq!(control.dashboard(&me, p, &made.id).await.expect("read").spec, spec("Service"));
    control.create_dashboard(&me, p, &spec("Another")).await.expect("create");
    control.create_dashboard(&me, q, &spec("Elsewhere")).await.expect("create");
    let titles: Vec<String> = control.dashboards(&me, p).await.expect("list").into_iter().map(|d| d.1).collect();
    assert_eq!(titles, vec!["Another", "Service"], "only this project's, by title");
    assert!(matches!(control.dashboard(&me, q, &made.id).await, Err(ControlError::NotFound(_))), "not visible from another project");

    // Two editors read version 1; the first save wins, the second is told to reload.
    let mut edited = spec("Service (edited)");
    edited.widgets.pop();
    let saved = control.update_dashboard(&me, p, &made.id, 1, &edited).await.expect("update");
    assert_eq!((saved.version, saved.spec.widgets.len()), (2, 1));
    match control.update_dashboard(&me, p, &made.id, 1, &spec("Stale")).await {
        Err(ControlError::Conflict(m)) => assert!(m.contains("version 2"), "{m}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(control.dashboard(&me, p, &made.id).await.expect("read").spec.title, "Service (edited)");

    // Export and import round trip into a new dashboard.
    let json = control.export_dashboard(&me, p, &made.id).await.expect("export");
    let copy = control.import_dashboard(&me, q, &json).await.expect("import");
    assert_eq!((copy.project_id.as_str(), copy.version), (q, 1));
    assert_eq!(copy.spec, edited);
    assert_ne!(copy.id, made.id);

    control.delete_dashboard(&me, p, &made.id).await.expect("delete");
    assert!(matches!(control.dashboard(&me, p, &made.id).await, Err(ControlError::NotFound(_))));
    assert!(matches!(control.delete_dashboard(&me, p, &made.id).await, Err(ControlError::NotFound(_))));
}

#[tokio::test]
async fn viewers_read_dashboards_members_change_them_and_other_tenants_see_none() {
    let (control, owner, a, b, w) = setup().await;
    let made = control.create_dashboard(&owner, &a, &spec("Service")).await.expect("create");
    // The member was given project a as member: it edits there, and does not see b.
    let edited = control.update_dashboard(&w.member, &a, &made.id, 1, &spec("Edited")).await.expect("member edits");
    assert_eq!(edited.version, 2);
    assert!(matches!(control.dashboards(&w.member, &b).await, Err(ControlError::NotFound(_))));
    control.set_project_access(&w.admin, &b, match &w.viewer { Principal::User { id } => id, _ => unreachable!() }, Some(Role::Viewer)).await.expect("grant");
    let on_b = control.create_dashboard(&owner, &b, &spec("Billing")).await.expect("create");
    assert_eq!(control.dashboard(&w.viewer, &b, &on_b.id).await.expect("viewer reads").spec.title, "Billing");
    assert!(matches!(control.update_dashboard(&w.viewer, &b, &on_b.id, 1, &spec("x")).await, Err(ControlError::Forbidden(_))));
    assert!(matches!(control.delete_dashboard(&w.viewer, &b, &on_b.id).await, Err(ControlError::Forbidden(_))));
    assert!(matches!(control.dashboard(&w.stranger, &a, &made.id).await, Err(ControlError::NotFound(_))));
    assert!(matches!(control.import_dashboard(&w.stranger, &a, "{\"title\": \"x\"}").await, Err(ControlError::NotFound(_))));
    let other = control.create_project(&w.stranger, &w.globex, &named("Theirs")).await.expect("project");
    assert!(control.dashboards(&w.stranger, &other.id).await.expect("their own").is_empty());
}

#[tokio::test]
async fn bad_dashboards_are_refused_with_the_reason_and_nothing_is_stored() {
    let (control, me, p, _, _w) = setup().await;
    let p = p.as_str();
    let invalid = |r: Result<_, ControlError>| match r {
        Err(ControlError::Invalid(m)) => m,
        other => panic!("expected invalid, got {other:?}"),
    };
    let m = invalid(control.create_dashboard(&me, p, &spec(" ")).await);
    assert!(m.contains("title"), "{m}");
    let mut twice = spec("x");
    twice.widgets[1].id = "w1".into();
    assert!(invalid(control.create_dashboard(&me, p, &twice).await).contains("unique"));
    let mut bad_var = spec("x");
    bad_var.variables[0].name = "host name".into();
    assert!(invalid(control.create_dashboard(&me, p, &bad_var).await).contains("host name"));
    let mut many = spec("x");
    many.widgets = (0..101).map(|i| Widget { id: format!("w{i}"), ..spec("x").widgets[1].clone() }).collect();
    assert!(invalid(control.create_dashboard(&me, p, &many).await).contains("100"));
    // An alert list takes what the active alerts query takes.
    let mut alerts = spec("x");
    alerts.widgets[1].kind = WidgetKind::AlertList;
    let m = invalid(control.create_dashboard(&me, p, &alerts).await);
    assert!(m.starts_with("widgets[1].query: "), "{m}");
    alerts.widgets[1].query = serde_json::json!({"labels": {"host": "$host"}, "firingOnly": true});
    control.create_dashboard(&me, p, &alerts).await.expect("an alert list of the host's firing alerts");
    let made = control.dashboards(&me, p).await.expect("list");
    control.delete_dashboard(&me, p, &made[0].0).await.expect("delete");
    assert!(invalid(control.import_dashboard(&me, p, "{\"widgets\": 3}").await).contains("not a dashboard export"));
    // A misspelt field is named, not dropped (which would store an empty dashboard).
    let m = invalid(control.import_dashboard(&me, p, "{\"title\": \"x\", \"widget\": []}").await);
    assert!(m.contains("unknown field `widget`"), "{m}");
    let m = invalid(control.import_dashboard(&me, p, "{\"title\": \"x\", \"widgets\": [{\"id\": \"a\", \"title\": \"t\", \"kind\": \"stat\", \"query\": {}, \"colour\": \"red\"}]}").await);
    assert!(m.contains("unknown field `colour`"), "{m}");
    assert!(control.dashboards(&me, p).await.expect("list").is_empty());
}

#[test]
fn variables_are_substituted_into_widget_queries() {
    let widget = Widget {
        id: "w".into(),
        title: "t".into(),
        kind: WidgetKind::TimeSeries,
        query: serde_json::json!({
            "metric": "latency",
            "matchers": [["host", "=", "$host"], ["route", "=~", "/api/$version/.*$"], ["pod", "=", "$pod"]],
            "step": 60,
            "by": ["$host_label"]
        }),
        layout: Layout::default(),
        options: serde_json::Value::Null,
    };
    let values = std::collections::HashMap::from([
        ("host".to_string(), "h1".to_string()),
        ("version".to_string(), "v2".to_string()),
        ("host_label".to_string(), "region".to_string()),
    ]);
    assert_eq!(
        widget.query_with(&values),
        serde_json::json!({
            "metric": "latency",
            "matchers": [["host", "=", "h1"], ["route", "=~", "/api/v2/.*$"], ["pod", "=", "$pod"]],
            "step": 60,
            "by": ["region"]
        }),
        "whole names only; an unknown name and a regex anchor stay"
    );
}
