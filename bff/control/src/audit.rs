//! The audit log: who did what to which object, written in the same transaction as the
//! change itself (a change is never without its entry, nor an entry without its change),
//! and read by the company's admins. Entry ids order by time: nanoseconds since the epoch,
//! strictly increasing within a process, then a random suffix against other processes.

use cloudgrid_sinks::surreal::Query;
use surrealdb::types::SurrealValue;

use crate::access::{Principal, Role};
use crate::db::{answer, retrying};
use crate::{ControlError, ControlPlane, storage};

/// The statement that records an entry; its variables are bound by [`Entry::bind`].
pub(crate) const RECORD: &str = "CREATE type::record('audit_event', $audit_id) SET company_id = $audit_company, project_id = $audit_project, \
     actor = $audit_actor, action = $audit_action, object_kind = $audit_kind, object_id = $audit_object, \
     detail = $audit_detail, at = time::now() RETURN NONE;";

/// The next entry id of this process.
fn next_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let mut last = LAST.load(Ordering::Relaxed);
    let id = loop {
        let next = now.max(last + 1);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => break next,
            Err(seen) => last = seen,
        }
    };
    format!("{id:020}{}", crate::random_hex(3))
}

/// One change, as the audit log keeps it.
pub(crate) struct Entry {
    pub company_id: String,
    pub project_id: Option<String>,
    pub actor: String,
    /// `invitation.create`, `member.role`, `api_key.revoke`, ...
    pub action: &'static str,
    pub object_kind: &'static str,
    pub object_id: String,
    /// What else identifies the change (a role given, an email invited); never a secret.
    pub detail: serde_json::Value,
}

impl Entry {
    pub(crate) fn new(who: &Principal, company_id: &str, action: &'static str, object_kind: &'static str, object_id: &str) -> Self {
        Self {
            company_id: company_id.to_string(),
            project_id: None,
            actor: who.actor(),
            action,
            object_kind,
            object_id: object_id.to_string(),
            detail: serde_json::Value::Null,
        }
    }

    /// A change the system made on its own (the local bootstrap).
    pub(crate) fn system(company_id: &str, action: &'static str, object_kind: &'static str, object_id: &str) -> Self {
        Self { actor: "system".into(), ..Self::new(&Principal::Anonymous, company_id, action, object_kind, object_id) }
    }

    pub(crate) fn project(mut self, project_id: &str) -> Self {
        self.project_id = Some(project_id.to_string());
        self
    }

    pub(crate) fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }

    pub(crate) fn bind(self, query: Query<'_>) -> Query<'_> {
        query
            .bind(("audit_id", next_id()))
            .bind(("audit_company", self.company_id))
            .bind(("audit_project", self.project_id))
            .bind(("audit_actor", self.actor))
            .bind(("audit_action", self.action))
            .bind(("audit_kind", self.object_kind))
            .bind(("audit_object", self.object_id))
            .bind(("audit_detail", self.detail.to_string()))
    }
}

/// An entry as read back.
#[derive(Debug, Clone, PartialEq, SurrealValue)]
pub struct AuditEvent {
    pub id: String,
    pub company_id: String,
    pub project_id: Option<String>,
    pub actor: String,
    pub action: String,
    pub object_kind: String,
    pub object_id: String,
    /// JSON text.
    pub detail: String,
    /// RFC 3339.
    pub at: String,
}

/// Which entries to read.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub project_id: Option<String>,
    pub actor: Option<String>,
    /// An action, or a family of them by its prefix (`invitation.`).
    pub action: Option<String>,
    /// Entries older than this one (the last id of the previous page).
    pub before: Option<String>,
    pub limit: usize,
}

/// Most entries one read returns.
pub const MAX_AUDIT_PAGE: usize = 500;

/// A variable of a change's statements.
pub(crate) type Var = (&'static str, serde_json::Value);

impl ControlPlane {
    /// Runs `statements` and records `entry` in one transaction, again from the start
    /// while it conflicts with concurrent changes. A `THROW "cg:<kind>:<message>"` among
    /// the statements refuses the change with that error.
    pub(crate) async fn audited(&self, statements: &str, entry: impl Fn() -> Entry, vars: &[Var]) -> Result<(), ControlError> {
        let sql = format!("BEGIN; {statements} {RECORD} COMMIT;");
        retrying(|| async {
            let mut query = self.store.handle().query(sql.as_str());
            for (name, value) in vars {
                query = query.bind((*name, value.clone()));
            }
            answer(entry().bind(query).await).map(drop)
        })
        .await
    }

    /// The company's audit log, newest first; admins and owners only.
    pub async fn audit_log(&self, who: &Principal, company_id: &str, filter: &AuditFilter) -> Result<Vec<AuditEvent>, ControlError> {
        self.authorize_company(who, company_id, Role::Admin).await?;
        let limit = filter.limit.clamp(1, MAX_AUDIT_PAGE);
        let mut conditions = vec!["company_id = $company"];
        if filter.project_id.is_some() {
            conditions.push("project_id = $project");
        }
        if filter.actor.is_some() {
            conditions.push("actor = $actor");
        }
        if filter.action.is_some() {
            conditions.push("string::starts_with(action, $action)");
        }
        if filter.before.is_some() {
            conditions.push("id < type::record('audit_event', $before)");
        }
        let sql = format!(
            "SELECT record::id(id) AS id, company_id, project_id, actor, action, object_kind, object_id, detail, \
             <string> at AS at FROM audit_event WHERE {} ORDER BY id DESC LIMIT {limit}",
            conditions.join(" AND ")
        );
        self.store
            .handle()
            .query(sql)
            .bind(("company", company_id.to_string()))
            .bind(("project", filter.project_id.clone()))
            .bind(("actor", filter.actor.clone()))
            .bind(("action", filter.action.clone()))
            .bind(("before", filter.before.clone()))
            .await
            .map_err(storage)?
            .take(0)
            .map_err(storage)
    }
}
