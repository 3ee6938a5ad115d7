//! Dashboards: a title, variables (label values picked in the UI and substituted into
//! widget queries, [`Widget::query_with`]) and widgets, persisted per project. Updates name the version they
//! change, so two editors cannot overwrite each other unknowingly; a dashboard exports
//! to JSON and imports from it. Viewers read dashboards; members and up change them.

use serde::{Deserialize, Serialize};
use serde_json::json;
use surrealdb::types::SurrealValue;

use crate::access::{Principal, Role};
use crate::audit::Entry;
use crate::{ControlError, ControlPlane, random_hex, storage};

/// Most widgets on one dashboard, and the largest dashboard document, in bytes.
pub const MAX_WIDGETS: usize = 100;
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WidgetKind {
    TimeSeries,
    Stat,
    Table,
    Bar,
    Heatmap,
    AlertList,
}

// Every part of a dashboard document refuses fields it does not know: an import with a
// misspelt `"widget": [...]` is told so, rather than stored as an empty dashboard.

/// Where a widget sits on the dashboard's grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Layout {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Widget {
    /// Unique within the dashboard.
    pub id: String,
    pub title: String,
    pub kind: WidgetKind,
    /// The widget's query as the UI builds it; `$name` refers to a variable.
    pub query: serde_json::Value,
    #[serde(default)]
    pub layout: Layout,
    /// How the UI shows the widget (unit, decimals, thresholds, colours...), kept as
    /// given; absent when the widget has none.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub options: serde_json::Value,
}

/// A dashboard variable: the values of `label` (of `metric`, when given) to pick from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variable {
    /// Referred to as `$name` in widget queries.
    pub name: String,
    pub label: String,
    #[serde(default)]
    pub metric: Option<String>,
    /// The value picked when the dashboard opens; absent: every value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// What a dashboard holds: what is created, updated, exported and imported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardSpec {
    pub title: String,
    #[serde(default)]
    pub variables: Vec<Variable>,
    #[serde(default)]
    pub widgets: Vec<Widget>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dashboard {
    pub id: String,
    pub project_id: String,
    pub version: u64,
    pub spec: DashboardSpec,
}

impl DashboardSpec {
    /// Checks what a user can get wrong; the message says what and where.
    pub fn validate(&self) -> Result<(), ControlError> {
        let invalid = |m: String| Err(ControlError::Invalid(m));
        if self.title.trim().is_empty() {
            return invalid("a dashboard needs a title".into());
        }
        if self.widgets.len() > MAX_WIDGETS {
            return invalid(format!("at most {MAX_WIDGETS} widgets per dashboard, got {}", self.widgets.len()));
        }
        let mut ids = std::collections::HashSet::new();
        for (i, w) in self.widgets.iter().enumerate() {
            if w.id.is_empty() || !ids.insert(w.id.as_str()) {
                return invalid(format!("widget ids must be present and unique: `{}`", w.id));
            }
            // An alert list's query is what `activeAlerts` takes: `{ruleId, labels,
            // firingOnly}`, each optional.
            if w.kind == WidgetKind::AlertList
                && !w.query.is_null()
                && let Err(e) = serde_json::from_value::<crate::alert_history::ActiveAlertQuery>(w.query.clone())
            {
                return invalid(format!("widgets[{i}].query: an alert list takes ruleId, labels and firingOnly: {e}"));
            }
        }
        let mut names = std::collections::HashSet::new();
        for v in &self.variables {
            let ident = !v.name.is_empty() && v.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ident || !names.insert(v.name.as_str()) {
                return invalid(format!("variable names must be unique letters, digits or _: `{}`", v.name));
            }
            if v.label.is_empty() {
                return invalid(format!("variable `{}` needs the label whose values it offers", v.name));
            }
        }
        let bytes = serde_json::to_vec(self).map(|b| b.len()).unwrap_or(usize::MAX);
        if bytes > MAX_DOCUMENT_BYTES {
            return invalid(format!("a dashboard is at most {MAX_DOCUMENT_BYTES} bytes, this one {bytes}"));
        }
        Ok(())
    }
}

impl Widget {
    /// The widget's query with `$name` replaced, in every string of it, by the value
    /// picked for variable `name`. References to names without a value are left as they
    /// are (a regular expression's `$` and the like).
    pub fn query_with(&self, values: &std::collections::HashMap<String, String>) -> serde_json::Value {
        fn substitute(text: &str, values: &std::collections::HashMap<String, String>) -> String {
            let mut out = String::with_capacity(text.len());
            let mut rest = text;
            while let Some(at) = rest.find('$') {
                out.push_str(&rest[..at]);
                let after = &rest[at + 1..];
                let len = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
                match values.get(&after[..len]) {
                    Some(v) if len > 0 => out.push_str(v),
                    _ => {
                        out.push('$');
                        out.push_str(&after[..len]);
                    }
                }
                rest = &after[len..];
            }
            out.push_str(rest);
            out
        }
        fn walk(v: &serde_json::Value, values: &std::collections::HashMap<String, String>) -> serde_json::Value {
            match v {
                serde_json::Value::String(s) => serde_json::Value::String(substitute(s, values)),
                serde_json::Value::Array(a) => serde_json::Value::Array(a.iter().map(|x| walk(x, values)).collect()),
                serde_json::Value::Object(o) => {
                    serde_json::Value::Object(o.iter().map(|(k, x)| (k.clone(), walk(x, values))).collect())
                }
                other => other.clone(),
            }
        }
        walk(&self.query, values)
    }
}

#[derive(Debug, SurrealValue)]
struct Row {
    id: String,
    project_id: String,
    version: i64,
    doc: String,
}

impl Row {
    fn dashboard(self) -> Result<Dashboard, ControlError> {
        let spec = serde_json::from_str(&self.doc).map_err(|e| storage(format!("stored dashboard {}: {e}", self.id)))?;
        Ok(Dashboard { id: self.id, project_id: self.project_id, version: self.version as u64, spec })
    }
}

const COLUMNS: &str = "record::id(id)[1] AS id, project_id, version, doc";

impl ControlPlane {
    /// A new dashboard in the project (members and up).
    pub async fn create_dashboard(&self, who: &Principal, project_id: &str, spec: &DashboardSpec) -> Result<Dashboard, ControlError> {
        let access = self.authorize_project(who, project_id, Role::Member).await?;
        spec.validate()?;
        let id = random_hex(8);
        let doc = serde_json::to_string(spec).map_err(storage)?;
        self.audited(
            "CREATE type::record('dashboard', [$p, $id]) SET project_id = $p, title = $title, version = 1, \
             doc = $doc, updated_at = time::now() RETURN NONE;",
            || Entry::new(who, &access.company_id, "dashboard.create", "dashboard", &id).project(project_id).detail(json!({ "title": spec.title })),
            &[("p", json!(project_id)), ("id", json!(id)), ("title", json!(spec.title)), ("doc", json!(doc))],
        )
        .await?;
        self.stored_dashboard(project_id, &id).await
    }

    /// A dashboard of the project (viewers and up).
    pub async fn dashboard(&self, who: &Principal, project_id: &str, id: &str) -> Result<Dashboard, ControlError> {
        self.authorize_project(who, project_id, Role::Viewer).await?;
        self.stored_dashboard(project_id, id).await
    }

    async fn stored_dashboard(&self, project_id: &str, id: &str) -> Result<Dashboard, ControlError> {
        let rows: Vec<Row> = self
            .store
            .handle()
            .query(format!("SELECT {COLUMNS} FROM type::record('dashboard', [$p, $id])"))
            .bind(("p", project_id.to_string()))
            .bind(("id", id.to_string()))
            .await
            .map_err(storage)?
            .take(0)
            .map_err(storage)?;
        rows.into_iter().next().ok_or_else(|| ControlError::NotFound(format!("no dashboard {id}")))?.dashboard()
    }

    /// (id, title, version) of every dashboard of the project, by title (viewers and up).
    pub async fn dashboards(&self, who: &Principal, project_id: &str) -> Result<Vec<(String, String, u64)>, ControlError> {
        self.authorize_project(who, project_id, Role::Viewer).await?;
        #[derive(Debug, SurrealValue)]
        struct Listed {
            id: String,
            title: String,
            version: i64,
        }
        let rows: Vec<Listed> = self
            .store
            .handle()
            .query("SELECT record::id(id)[1] AS id, title, version FROM dashboard WHERE project_id = $p ORDER BY title")
            .bind(("p", project_id.to_string()))
            .await
            .map_err(storage)?
            .take(0)
            .map_err(storage)?;
        Ok(rows.into_iter().map(|e| (e.id, e.title, e.version as u64)).collect())
    }

    /// Replaces the dashboard's content if it is still at `version`; the new version is
    /// one more. A stale version is a conflict: someone else saved first (members and up).
    pub async fn update_dashboard(
        &self,
        who: &Principal,
        project_id: &str,
        id: &str,
        version: u64,
        spec: &DashboardSpec,
    ) -> Result<Dashboard, ControlError> {
        let access = self.authorize_project(who, project_id, Role::Member).await?;
        spec.validate()?;
        let doc = serde_json::to_string(spec).map_err(storage)?;
        self.audited(
            "LET $d = type::record('dashboard', [$p, $id]); \
             IF $d.version = NONE { THROW 'cg:not_found:no dashboard ' + $id }; \
             IF $d.version != $version { THROW 'cg:conflict:dashboard ' + $id + ' is at version ' + <string> $d.version \
                + ', not ' + <string> $version + ': reload it and apply the change again' }; \
             UPDATE $d SET title = $title, doc = $doc, version = version + 1, updated_at = time::now() RETURN NONE;",
            || {
                Entry::new(who, &access.company_id, "dashboard.update", "dashboard", id)
                    .project(project_id)
                    .detail(json!({ "title": spec.title, "version": version + 1 }))
            },
            &[
                ("p", json!(project_id)),
                ("id", json!(id)),
                ("title", json!(spec.title)),
                ("doc", json!(doc)),
                ("version", json!(i64::try_from(version).unwrap_or(i64::MAX))),
            ],
        )
        .await?;
        self.stored_dashboard(project_id, id).await
    }

    /// Deletes a dashboard (members and up).
    pub async fn delete_dashboard(&self, who: &Principal, project_id: &str, id: &str) -> Result<(), ControlError> {
        let access = self.authorize_project(who, project_id, Role::Member).await?;
        self.audited(
            "IF (DELETE type::record('dashboard', [$p, $id]) RETURN BEFORE)[0] = NONE { THROW 'cg:not_found:no dashboard ' + $id };",
            || Entry::new(who, &access.company_id, "dashboard.delete", "dashboard", id).project(project_id),
            &[("p", json!(project_id)), ("id", json!(id))],
        )
        .await
    }

    /// The dashboard as portable JSON: its content, without id, project or version.
    pub async fn export_dashboard(&self, who: &Principal, project_id: &str, id: &str) -> Result<String, ControlError> {
        let d = self.dashboard(who, project_id, id).await?;
        serde_json::to_string_pretty(&d.spec).map_err(storage)
    }

    /// A new dashboard from exported JSON, checked like any other.
    pub async fn import_dashboard(&self, who: &Principal, project_id: &str, json: &str) -> Result<Dashboard, ControlError> {
        if json.len() > MAX_DOCUMENT_BYTES {
            return Err(ControlError::Invalid(format!("a dashboard is at most {MAX_DOCUMENT_BYTES} bytes")));
        }
        let spec: DashboardSpec =
            serde_json::from_str(json).map_err(|e| ControlError::Invalid(format!("not a dashboard export: {e}")))?;
        self.create_dashboard(who, project_id, &spec).await
    }
}
