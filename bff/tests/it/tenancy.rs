//! Companies, projects, members, invitations and keys through GraphQL, and tenant
//! isolation over the whole schema: every query, mutation and subscription field, called
//! with another tenant's ids by every kind of caller, is refused and shows nothing of
//! that tenant. Requests run against the schema with the caller the app would have
//! authenticated, in both shapes (control plane in-process and over gRPC).

use std::sync::Arc;

use async_graphql::{Request, Variables};
use cloudgrid_bff::{Backends, CloudGridSchema, Limits};
use cloudgrid_control::alerts::{ChannelSpec, ChannelTarget, SilenceSpec};
use cloudgrid_control::dashboards::DashboardSpec;
use cloudgrid_operators::alert::{MatchOp, Matcher, RuleSpec};
use cloudgrid_control::invitations::InvitationSpec;
use cloudgrid_control::keys::KeyScope;
use cloudgrid_control::tenancy::ProjectSettings;
use cloudgrid_control::{ControlPlane, Principal, Role};
use futures::StreamExt;
use serde_json::{Value as J, json};

use crate::support::{Bff, Options, Shape, over_grpc, services};

async fn schema(shape: Shape) -> (CloudGridSchema, ControlPlane, tempfile::TempDir) {
    let (read, control, data) = services().await;
    let backends = match shape {
        Shape::InProcess => Backends { read: Arc::new(read), control: Arc::new(control.clone()) },
        Shape::Grpc => over_grpc(read, control.clone()).await.0,
    };
    (cloudgrid_bff::build(backends, &Limits::default()), control, data)
}

/// Runs `query` as `who`; the whole response as JSON. Subscriptions answer their first
/// event.
async fn run(schema: &CloudGridSchema, who: &Principal, query: &str, variables: &J) -> J {
    let request = Request::new(query).variables(Variables::from_json(variables.clone())).data(who.clone());
    let response = if query.trim_start().starts_with("subscription") {
        schema.execute_stream(request).next().await.expect("a first event")
    } else {
        schema.execute(request).await
    };
    serde_json::to_value(&response).expect("json")
}

fn user(id: &str) -> Principal {
    Principal::user(id)
}

async fn signed_in(control: &ControlPlane, email: &str) -> Principal {
    user(&control.user_by_email(email, email.split('@').next().unwrap_or(email)).await.expect("user").id)
}

fn named(name: &str) -> ProjectSettings {
    ProjectSettings { name: Some(name.into()), ..ProjectSettings::default() }
}

async fn tenancy_flows_work_through_graphql(shape: Shape) {
    let (schema, control, _data) = schema(shape).await;
    let local = user(cloudgrid_control::LOCAL_USER_ID);
    let q = |who: &Principal, query: &str, v: J| {
        let (schema, who, query) = (schema.clone(), who.clone(), query.to_string());
        async move { run(&schema, &who, &query, &v).await }
    };
    // The local operator owns the default company; it makes a company and a project.
    let me = q(&local, "{ me { user { id email } companies { id name role } } }", json!({})).await;
    assert_eq!(me["data"]["me"]["companies"], json!([{"id": "default", "name": "Default company", "role": "OWNER"}]), "{me}");
    let made = q(&local, "mutation { createCompany(name: \"Acme\") { id role } }", json!({})).await;
    let acme = made["data"]["createCompany"]["id"].as_str().expect("company id").to_string();
    let created = q(
        &local,
        "mutation($c: String!) { createProject(company: $c, input: {name: \"Shop (EU)\", timeZone: \"Europe/Paris\", activeSeries: 1000}) \
         { id slug timeZone role limits { activeSeries } } }",
        json!({"c": acme}),
    )
    .await;
    let shop = &created["data"]["createProject"];
    assert_eq!((shop["slug"].as_str(), shop["timeZone"].as_str(), shop["role"].as_str()), (Some("shop-eu"), Some("Europe/Paris"), Some("OWNER")), "{created}");
    assert_eq!(shop["limits"]["activeSeries"], 1000);
    let shop = shop["id"].as_str().expect("id").to_string();
    let bad = q(&local, "mutation($c: String!) { createProject(company: $c, input: {name: \"x\", timeZone: \"Nowhere/Land\"}) { id } }", json!({"c": acme})).await;
    assert_eq!(bad["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{bad}");

    // An invitation with delivery disabled comes back with its link; Ann accepts it.
    let sent = q(
        &local,
        "mutation($c: String!, $p: String!) { createInvitation(company: $c, input: {email: \"ann@example.test\", role: VIEWER, \
         projects: [{projectId: $p, role: MEMBER}]}) { delivery link invitation { id state email } } }",
        json!({"c": acme, "p": shop}),
    )
    .await;
    let sent = &sent["data"]["createInvitation"];
    assert_eq!((sent["delivery"].as_str(), sent["invitation"]["state"].as_str()), (Some("DISABLED"), Some("PENDING")), "{sent}");
    let token = sent["link"].as_str().expect("link").split("token=").nth(1).expect("token").to_string();
    let ann = signed_in(&control, "ann@example.test").await;
    let joined = q(&ann, "mutation($t: String!) { acceptInvitation(token: $t) { id role } }", json!({"t": token})).await;
    assert_eq!(joined["data"]["acceptInvitation"], json!({"id": acme, "role": "VIEWER"}), "{joined}");
    let again = q(&ann, "mutation($t: String!) { acceptInvitation(token: $t) { id } }", json!({"t": token})).await;
    assert_eq!(again["errors"][0]["extensions"]["code"], "CONFLICT", "{again}");
    let projects = q(&ann, "{ projects { id role } }", json!({})).await;
    assert_eq!(projects["data"]["projects"], json!([{"id": shop, "role": "MEMBER"}]));
    let members = q(&local, "query($c: String!) { members(company: $c) { user { email } role projects { projectId role } } }", json!({"c": acme})).await;
    assert_eq!(members["data"]["members"][0]["user"]["email"], "ann@example.test", "{members}");
    assert_eq!(members["data"]["members"][0]["projects"], json!([{"projectId": shop, "role": "MEMBER"}]));

    // Ann may not manage keys; the owner makes a read key, which reads only its project.
    let denied = q(&ann, "mutation($p: String!) { createApiKey(project: $p, name: \"k\", scope: READ) { key } }", json!({"p": shop})).await;
    assert_eq!(denied["errors"][0]["extensions"]["code"], "FORBIDDEN", "{denied}");
    let key = q(&local, "mutation($p: String!) { createApiKey(project: $p, name: \"grafana\", scope: READ) { id key } }", json!({"p": shop})).await;
    let key_id = key["data"]["createApiKey"]["id"].as_str().expect("key id").to_string();
    let secret = key["data"]["createApiKey"]["key"].as_str().expect("key").to_string();
    let listed = q(&local, "query($p: String!) { apiKeys(project: $p) { id name scope revoked } }", json!({"p": shop})).await;
    assert_eq!(listed["data"]["apiKeys"], json!([{"id": key_id, "name": "grafana", "scope": "READ", "revoked": false}]));
    assert!(!listed.to_string().contains(&secret[17..]), "the secret is never listed");
    let reader = control.read_key_principal(&secret).await.expect("read key");
    assert_eq!(q(&reader, "query($p: String!) { metrics(project: $p) { name } }", json!({"p": shop})).await["data"]["metrics"], json!([]));
    let elsewhere = q(&reader, "{ metrics(project: \"default\") { name } }", json!({})).await;
    assert_eq!(elsewhere["errors"][0]["extensions"]["code"], "NOT_FOUND", "{elsewhere}");
    q(&local, "mutation($p: String!, $k: String!) { revokeApiKey(project: $p, id: $k) }", json!({"p": shop, "k": key_id})).await;
    assert!(control.read_key_principal(&secret).await.is_err(), "a revoked key stops at once");

    // Every change is in the audit log, newest first, for admins only.
    let log = q(&local, "query($c: String!) { auditLog(company: $c, limit: 3) { action actor detail } }", json!({"c": acme})).await;
    let actions: Vec<&str> = log["data"]["auditLog"].as_array().expect("log").iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, vec!["api_key.revoke", "api_key.create", "invitation.accept"], "{log}");
    let hidden = q(&ann, "query($c: String!) { auditLog(company: $c) { action } }", json!({"c": acme})).await;
    assert_eq!(hidden["errors"][0]["extensions"]["code"], "FORBIDDEN");

    // A provider secret is stored sealed and listed by its last characters only.
    let stored = q(&local, "mutation($p: String!) { setProviderSecret(project: $p, name: \"openai\", provider: \"openai\", secret: \"sk-live-abcdefgh1234\") { name provider hint } }", json!({"p": shop})).await;
    assert_eq!(stored["data"]["setProviderSecret"], json!({"name": "openai", "provider": "openai", "hint": "1234"}), "{stored}");
    let listed = q(&local, "query($p: String!) { providerSecrets(project: $p) { name hint } }", json!({"p": shop})).await;
    assert!(!listed.to_string().contains("abcdefgh"), "{listed}");
    assert_eq!(control.provider_secret_for_use(&shop, "openai").await.expect("in clear for use"), "sk-live-abcdefgh1234");
    let refused = q(&ann, "query($p: String!) { providerSecrets(project: $p) { name } }", json!({"p": shop})).await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "FORBIDDEN", "members do not see secrets: {refused}");

    // Settings change; the project goes with its access.
    let renamed = q(&local, "mutation($p: String!) { updateProject(project: $p, input: {name: \"Shop\", slug: \"shop\"}) { name slug timeZone } }", json!({"p": shop})).await;
    assert_eq!(renamed["data"]["updateProject"], json!({"name": "Shop", "slug": "shop", "timeZone": "Europe/Paris"}));
    q(&local, "mutation($p: String!) { deleteProject(project: $p) }", json!({"p": shop})).await;
    assert_eq!(q(&ann, "{ projects { id } }", json!({})).await["data"]["projects"], json!([]));
}

/// What a caller gets for a field aimed at the other tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    NotFound,
    Forbidden,
    Unauthenticated,
}

/// How one field is called against Globex, and what a caller that is not Globex's may
/// get: `tenant` is the answer for tenant-scoped fields; `None` marks a field that is not
/// tenant-scoped (it answers about the caller only).
struct Entry {
    field: &'static str,
    document: &'static str,
    company_scoped: bool,
    tenant_scoped: bool,
}

const fn project(field: &'static str, document: &'static str) -> Entry {
    Entry { field, document, company_scoped: false, tenant_scoped: true }
}

const fn company(field: &'static str, document: &'static str) -> Entry {
    Entry { field, document, company_scoped: true, tenant_scoped: true }
}

const fn own(field: &'static str, document: &'static str) -> Entry {
    Entry { field, document, company_scoped: false, tenant_scoped: false }
}

/// Every field of the schema. `$g` Globex's project, `$gc` its company, `$d` a dashboard,
/// `$i` a pending invitation, `$k` an API key, `$u` a member, `$t` an invitation token
/// (sent to someone else), `$r` an alert rule, `$s` a silence, `$ch` a notification channel.
const ENTRIES: &[Entry] = &[
    project("metrics", "query($g: String!) { metrics(project: $g) { name } }"),
    project("labelNames", "query($g: String!) { labelNames(project: $g) { name } }"),
    project("labelValues", "query($g: String!) { labelValues(project: $g, label: \"service\") { value } }"),
    project("series", "query($g: String!) { series(project: $g) { total } }"),
    project("metricQuery", "query($g: String!) { metricQuery(project: $g, query: {metric: \"m\", aggregation: AVG}) { tier } }"),
    project("traces", "query($g: String!) { traces(project: $g) { traceId } }"),
    project("traceServices", "query($g: String!) { traceServices(project: $g) { name operations { name } } }"),
    project("trace", "query($g: String!) { trace(project: $g, traceId: \"0af7651916cd43dd8448eb211c80319c\") { spanId } }"),
    project("logs", "query($g: String!) { logs(project: $g) { nextCursor } }"),
    project("dashboards", "query($g: String!) { dashboards(project: $g) { id title } }"),
    project("dashboard", "query($g: String!, $d: String!) { dashboard(project: $g, id: $d) { title } }"),
    project("exportDashboard", "query($g: String!, $d: String!) { exportDashboard(project: $g, id: $d) }"),
    project("alertRules", "query($g: String!) { alertRules(project: $g) { id name spec } }"),
    project("alertRulePreview", "query($g: String!) { alertRulePreview(project: $g, spec: {name: \"x\", metric: \"m\", aggregation: \"avg\", window: \"1m\", condition: {op: \"gt\", threshold: 1}}) { step } }"),
    project("alertRule", "query($g: String!, $r: String!) { alertRule(project: $g, id: $r) { name spec } }"),
    project("alertEvents", "query($g: String!) { alertEvents(project: $g) { id ruleName labels toState } }"),
    project("activeAlerts", "query($g: String!) { activeAlerts(project: $g) { id ruleName labels toState } }"),
    project("silences", "query($g: String!) { silences(project: $g, includeEnded: true) { id comment matchers { value } } }"),
    project("notificationChannels", "query($g: String!) { notificationChannels(project: $g) { id name spec } }"),
    project("createAlertRule", "mutation($g: String!) { createAlertRule(project: $g, spec: {name: \"x\", metric: \"m\", aggregation: \"avg\", window: \"1m\", condition: {op: \"gt\", threshold: 1}}) { id } }"),
    project("updateAlertRule", "mutation($g: String!, $r: String!) { updateAlertRule(project: $g, id: $r, version: 1, spec: {name: \"x\", metric: \"m\", aggregation: \"avg\", window: \"1m\", condition: {op: \"gt\", threshold: 1}}) { id } }"),
    project("deleteAlertRule", "mutation($g: String!, $r: String!) { deleteAlertRule(project: $g, id: $r) }"),
    project("createSilence", "mutation($g: String!) { createSilence(project: $g, spec: {matchers: [{label: \"a\", op: \"eq\", value: \"b\"}], endsAtMs: 99999999999999}) { id } }"),
    project("expireSilence", "mutation($g: String!, $s: String!) { expireSilence(project: $g, id: $s) { id } }"),
    project("createNotificationChannel", "mutation($g: String!) { createNotificationChannel(project: $g, spec: {name: \"x\", target: {kind: \"email\", to: [\"a@example.test\"]}}) { signingSecret } }"),
    project("deleteNotificationChannel", "mutation($g: String!, $ch: String!) { deleteNotificationChannel(project: $g, id: $ch) }"),
    project("testNotificationChannel", "mutation($g: String!, $ch: String!) { testNotificationChannel(project: $g, id: $ch) { delivered detail } }"),
    project("retentionPolicy", "query($g: String!) { retentionPolicy(project: $g) { traces spec tombstones { signal } } }"),
    project("setRetentionPolicy", "mutation($g: String!) { setRetentionPolicy(project: $g, spec: {traces: \"2d\"}) { traces } }"),
    project("resetRetentionPolicy", "mutation($g: String!) { resetRetentionPolicy(project: $g) { traces } }"),
    company("webhookAllowList", "query($gc: String!) { webhookAllowList(company: $gc) }"),
    company("setWebhookAllowList", "mutation($gc: String!) { setWebhookAllowList(company: $gc, entries: [\"10.0.0.1\"]) }"),
    own("me", "{ me { user { email } companies { id name } } }"),
    company("company", "query($gc: String!) { company(id: $gc) { name } }"),
    own("projects", "{ projects { id name } }"),
    project("project", "query($g: String!) { project(id: $g) { name } }"),
    company("members", "query($gc: String!) { members(company: $gc) { user { email } } }"),
    company("invitations", "query($gc: String!) { invitations(company: $gc) { email } }"),
    project("apiKeys", "query($g: String!) { apiKeys(project: $g) { id name } }"),
    company("auditLog", "query($gc: String!) { auditLog(company: $gc) { action detail } }"),
    project("createDashboard", "mutation($g: String!) { createDashboard(project: $g, spec: {title: \"x\"}) { id } }"),
    project("updateDashboard", "mutation($g: String!, $d: String!) { updateDashboard(project: $g, id: $d, version: 1, spec: {title: \"x\"}) { id } }"),
    project("deleteDashboard", "mutation($g: String!, $d: String!) { deleteDashboard(project: $g, id: $d) }"),
    project("importDashboard", "mutation($g: String!) { importDashboard(project: $g, document: \"{\\\"title\\\": \\\"x\\\"}\") { id } }"),
    own("createCompany", "mutation { createCompany(name: \"Mine\") { id name } }"),
    company("createProject", "mutation($gc: String!) { createProject(company: $gc, input: {name: \"x\"}) { id } }"),
    project("updateProject", "mutation($g: String!) { updateProject(project: $g, input: {name: \"x\"}) { id } }"),
    project("deleteProject", "mutation($g: String!) { deleteProject(project: $g) }"),
    company("setMemberRole", "mutation($gc: String!, $u: String!) { setMemberRole(company: $gc, user: $u, role: VIEWER) }"),
    company("removeMember", "mutation($gc: String!, $u: String!) { removeMember(company: $gc, user: $u) }"),
    project("setProjectAccess", "mutation($g: String!, $u: String!) { setProjectAccess(project: $g, user: $u, role: VIEWER) }"),
    company("createInvitation", "mutation($gc: String!) { createInvitation(company: $gc, input: {email: \"x@example.test\", role: VIEWER}) { link } }"),
    company("revokeInvitation", "mutation($gc: String!, $i: String!) { revokeInvitation(company: $gc, id: $i) }"),
    company("resendInvitation", "mutation($gc: String!, $i: String!) { resendInvitation(company: $gc, id: $i) { link } }"),
    Entry { field: "acceptInvitation", document: "mutation($t: String!) { acceptInvitation(token: $t) { id name } }", company_scoped: true, tenant_scoped: true },
    project("createApiKey", "mutation($g: String!) { createApiKey(project: $g, name: \"x\", scope: READ) { key } }"),
    project("revokeApiKey", "mutation($g: String!, $k: String!) { revokeApiKey(project: $g, id: $k) }"),
    project("providerSecrets", "query($g: String!) { providerSecrets(project: $g) { name provider hint } }"),
    project("setProviderSecret", "mutation($g: String!) { setProviderSecret(project: $g, name: \"openai\", provider: \"openai\", secret: \"sk-x\") { name } }"),
    project("deleteProviderSecret", "mutation($g: String!) { deleteProviderSecret(project: $g, name: \"globex-openai\") }"),
    project("liveSpans", "subscription($g: String!) { liveSpans(project: $g) { started } }"),
    project("liveLogs", "subscription($g: String!) { liveLogs(project: $g) { started } }"),
    project("liveAlertEvents", "subscription($g: String!) { liveAlertEvents(project: $g) { started } }"),
    project("liveMetric", "subscription($g: String!) { liveMetric(project: $g, query: {metric: \"m\", aggregation: AVG}, range: \"5m\") { kind } }"),
];

/// The fields of the root types, from the schema's SDL.
fn root_fields() -> Vec<String> {
    let sdl = cloudgrid_bff::sdl();
    let mut fields = Vec::new();
    for root in ["Query", "Mutation", "Subscription"] {
        let start = sdl.find(&format!("type {root} {{")).unwrap_or_else(|| panic!("no {root} in the schema"));
        let body = &sdl[start..start + sdl[start..].find("\n}").expect("end of type")];
        let mut in_description = false;
        for line in body.lines().skip(1) {
            let line = line.trim_start_matches('\t');
            if line.starts_with("\"\"\"") {
                in_description = !in_description;
                continue;
            }
            if !in_description && line.starts_with(|c: char| c.is_ascii_lowercase()) {
                fields.push(line.split(['(', ':']).next().unwrap_or_default().to_string());
            }
        }
    }
    fields
}

#[test]
fn every_field_of_the_schema_has_an_isolation_entry() {
    let mut fields = root_fields();
    let mut covered: Vec<String> = ENTRIES.iter().map(|e| e.field.to_string()).collect();
    fields.sort();
    covered.sort();
    assert_eq!(fields, covered, "every query, mutation and subscription field needs an entry in ENTRIES (and only those)");
}

async fn another_tenants_objects_are_refused_to_every_caller_and_never_shown(shape: Shape) {
    let (schema, control, _data) = schema(shape).await;
    // Globex, the other tenant, with a project, a dashboard, a key, a member and invitations.
    let boss = signed_in(&control, "boss@globex.test").await;
    let globex = control.create_company(&boss, "Globex").await.expect("company").id;
    let g = control.create_project(&boss, &globex, &named("Skunkworks")).await.expect("project").id;
    let spec = DashboardSpec { title: "Secret plans".into(), variables: vec![], widgets: vec![] };
    let d = control.create_dashboard(&boss, &g, &spec).await.expect("dashboard").id;
    let k = control.create_key(&boss, &g, "globex-ingest", KeyScope::Ingest).await.expect("key").key_id;
    control.set_provider_secret(&boss, &g, "globex-openai", "openai", "sk-globex-topsecret-QZJX").await.expect("secret");
    let pager = ChannelSpec { name: "Globex pager".into(), target: ChannelTarget::Webhook { url: "https://pager.globex.example/hook".into() } };
    let ch = control.create_channel(&boss, &g, &pager).await.expect("channel").channel.id;
    let rule: RuleSpec = serde_json::from_value(json!({
        "name": "Globex reactor temperature", "metric": "reactor.temperature", "aggregation": "max", "window": "5m",
        "condition": {"op": "gt", "threshold": 900}, "channels": [ch]
    }))
    .expect("rule");
    let r = control.create_alert_rule(&boss, &g, &rule).await.expect("rule").id;
    let hush = SilenceSpec {
        matchers: vec![Matcher { label: "site".into(), op: MatchOp::Eq, value: "globex-plant".into() }],
        starts_at_ms: None,
        ends_at_ms: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64 + 30 * 86_400_000,
        comment: "Globex maintenance".into(),
    };
    let s = control.create_silence(&boss, &g, &hush).await.expect("silence").id;
    let keeps: cloudgrid_operators::retention::PolicyDoc = serde_json::from_value(json!({"traces": "1234d"})).expect("policy");
    control.set_retention_policy(&boss, &g, &keeps, None).await.expect("retention policy");
    let invite = |email: &str, role| InvitationSpec { email: email.into(), role, projects: vec![] };
    let spy = signed_in(&control, "spy@globex.test").await;
    let link = control.create_invitation(&boss, &globex, &invite("spy@globex.test", Role::Member)).await.expect("invite").link.expect("link");
    control.accept_invitation(&spy, link.split("token=").nth(1).expect("token")).await.expect("join");
    let Principal::User { id: u } = spy.clone() else { unreachable!() };
    // A revoked member: once Globex's, removed since.
    let former = signed_in(&control, "former@globex.test").await;
    let link = control.create_invitation(&boss, &globex, &invite("former@globex.test", Role::Admin)).await.expect("invite").link.expect("link");
    control.accept_invitation(&former, link.split("token=").nth(1).expect("token")).await.expect("join");
    let Principal::User { id: former_id } = former.clone() else { unreachable!() };
    control.remove_member(&boss, &globex, &former_id).await.expect("remove");
    // A pending invitee, and an invitation sent to someone else whose token we hold.
    let invitee = signed_in(&control, "invitee@example.test").await;
    control.create_invitation(&boss, &globex, &invite("invitee@example.test", Role::Viewer)).await.expect("invite");
    let sent = control.create_invitation(&boss, &globex, &invite("victim@globex.test", Role::Admin)).await.expect("invite");
    let (i, t) = (sent.invitation.id.clone(), sent.link.expect("link").split("token=").nth(1).expect("token").to_string());

    // Acme, the caller's tenant, with every role and a read key.
    let local = user(cloudgrid_control::LOCAL_USER_ID);
    let acme_admin = signed_in(&control, "admin@acme.test").await;
    let acme_member = signed_in(&control, "member@acme.test").await;
    let acme_viewer = signed_in(&control, "viewer@acme.test").await;
    for (who, role) in [(&acme_admin, Role::Admin), (&acme_member, Role::Member), (&acme_viewer, Role::Viewer)] {
        let Principal::User { id } = who else { unreachable!() };
        let email = control.user(id).await.expect("user").expect("user").email;
        let link = control.create_invitation(&local, "default", &invite(&email, role)).await.expect("invite").link.expect("link");
        control.accept_invitation(who, link.split("token=").nth(1).expect("token")).await.expect("join");
    }
    let read_key = control.create_key(&local, "default", "reader", KeyScope::Read).await.expect("key").key;
    let reader = control.read_key_principal(&read_key).await.expect("reader");

    let callers = [
        ("owner", local),
        ("admin", acme_admin),
        ("member", acme_member),
        ("viewer", acme_viewer),
        ("revoked member", former),
        ("pending invitee", invitee),
        ("read key", reader.clone()),
        ("anonymous", Principal::Anonymous),
    ];
    let vars = json!({"g": g, "gc": globex, "d": d, "i": i, "k": k, "u": u, "t": t, "r": r, "s": s, "ch": ch});
    // What must never show: Globex's names, titles and people.
    let secrets = [
        "Globex",
        "Skunkworks",
        "Secret plans",
        "globex-ingest",
        "globex-openai",
        "topsecret",
        // The last four characters a listing shows: not hex, so no random id contains them.
        "QZJX",
        "spy@globex.test",
        "boss@globex.test",
        "victim@globex.test",
        "globex.example",
        "globex-plant",
        "reactor",
        // Globex's retention of traces.
        "1234d",
    ];
    for entry in ENTRIES {
        for (name, who) in &callers {
            let answer = run(&schema, who, entry.document, &vars).await;
            let code = answer["errors"][0]["extensions"]["code"].as_str();
            let got = match code {
                None if answer["errors"].is_null() => Outcome::Ok,
                None => panic!("{} as {name}: the document is wrong: {answer}", entry.field),
                Some("NOT_FOUND") => Outcome::NotFound,
                Some("FORBIDDEN") => Outcome::Forbidden,
                Some("UNAUTHENTICATED") => Outcome::Unauthenticated,
                Some(other) => panic!("{} as {name}: unexpected code {other}: {answer}", entry.field),
            };
            let expected = match (*name, entry.tenant_scoped) {
                ("anonymous", _) if entry.field == "me" || entry.field == "projects" => Outcome::Ok,
                ("anonymous", _) => Outcome::Unauthenticated,
                (_, false) if *name == "read key" && entry.field == "createCompany" => Outcome::Forbidden,
                (_, false) => Outcome::Ok,
                ("read key", _) if entry.company_scoped => Outcome::Forbidden,
                (_, _) if entry.field == "acceptInvitation" => Outcome::Forbidden,
                _ => Outcome::NotFound,
            };
            assert_eq!(got, expected, "{} as {name}: {answer}", entry.field);
            if got != Outcome::Ok {
                assert!(answer["data"].is_null() || answer["data"].as_object().is_some_and(|d| d.values().all(J::is_null)), "{} as {name}: {answer}", entry.field);
            }
            let text = answer.to_string();
            for secret in secrets {
                assert!(!text.contains(secret), "{} as {name} showed `{secret}`: {text}", entry.field);
            }
        }
    }
    // And Globex is as it was.
    assert_eq!(control.dashboard(&boss, &g, &d).await.expect("dashboard").version, 1);
    assert_eq!(control.alert_rule(&boss, &g, &r).await.expect("rule").version, 1);
    assert!(control.silences(&boss, &g, false).await.expect("silences").iter().any(|x| x.id == s), "the silence still stands");
    assert_eq!(control.channels(&boss, &g).await.expect("channels").len(), 1);
    let kept = control.retention_policy(&boss, &g).await.expect("retention");
    assert_eq!((kept.version, kept.policy.traces), (1, 1234 * 86_400), "Globex's retention is as it set it");
    assert_eq!(control.keys(&boss, &g).await.expect("keys").iter().filter(|k| !k.revoked).count(), 1);
    let members: Vec<String> = control.members(&boss, &globex).await.expect("members").into_iter().map(|m| m.user.email).collect();
    assert_eq!(members, vec!["boss@globex.test", "spy@globex.test"]);
    assert!(control.invitations(&boss, &globex).await.expect("invitations").iter().any(|x| x.id == i && x.state == cloudgrid_control::invitations::InvitationState::Pending));
    assert_eq!(control.projects_for(&boss).await.expect("projects").len(), 1);
    assert_eq!(control.provider_secret_for_use(&g, "globex-openai").await.expect("secret"), "sk-globex-topsecret-QZJX");
}

/// Over HTTP: a read key reads its project and nothing else, and every other key is
/// refused before GraphQL runs.
async fn api_keys_presented_to_the_bff_read_only_their_own_project(shape: Shape) {
    let bff = Bff::start(Options::shape(shape)).await;
    let made = bff.query("mutation { createProject(company: \"default\", input: {name: \"Other\"}) { id } }", json!({})).await;
    let other = made["data"]["createProject"]["id"].as_str().expect("project").to_string();
    let key = |scope: &str| {
        let q = format!("mutation {{ createApiKey(project: \"default\", name: \"k\", scope: {scope}) {{ id key }} }}");
        let bff = &bff;
        async move { bff.query(&q, json!({})).await["data"]["createApiKey"].clone() }
    };
    let read = key("READ").await;
    let (status, body) = bff.query_with_key(read["key"].as_str().expect("key"), "{ metrics(project: \"default\") { name } projects { id role } }", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["projects"], json!([{"id": "default", "role": "VIEWER"}]), "{body}");
    let (_, body) = bff.query_with_key(read["key"].as_str().expect("key"), "query($p: String!) { metrics(project: $p) { name } }", json!({"p": other})).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND", "{body}");
    let (_, body) = bff.query_with_key(read["key"].as_str().expect("key"), "mutation { createDashboard(project: \"default\", spec: {title: \"x\"}) { id } }", json!({})).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "a read key changes nothing: {body}");
    let ingest = key("INGEST").await;
    assert_eq!(bff.query_with_key(ingest["key"].as_str().expect("key"), "{ projects { id } }", json!({})).await.0, 403, "an ingest key cannot read");
    let wrong = format!("cgk_{}_{}", "0".repeat(12), "0".repeat(64));
    assert_eq!(bff.query_with_key(&wrong, "{ projects { id } }", json!({})).await.0, 401);
    assert_eq!(bff.query_with_key("", "{ projects { id } }", json!({})).await.0, 401);
    let q = format!("mutation {{ revokeApiKey(project: \"default\", id: \"{}\") }}", read["id"].as_str().expect("id"));
    bff.query(&q, json!({})).await;
    assert_eq!(bff.query_with_key(read["key"].as_str().expect("key"), "{ projects { id } }", json!({})).await.0, 401, "revoked: refused at once");
}

crate::both_shapes!(
    a_removed_members_live_views_end,
    tenancy_flows_work_through_graphql,
    another_tenants_objects_are_refused_to_every_caller_and_never_shown,
    api_keys_presented_to_the_bff_read_only_their_own_project
);

/// storage-read's own boundary, called directly: it reads only for an end user who may
/// read the project, whatever the BFF checked before.
#[tokio::test]
async fn storage_read_checks_the_end_user_each_call_names() {
    use cloudgrid_proto::service_auth::ServiceToken;
    use cloudgrid_read::ReadApi;
    use cloudgrid_read::grpc::GrpcRead;
    use cloudgrid_read::metrics::QueryError;
    use cloudgrid_read::traces::TraceQuery;
    let (read, control, _data) = services().await;
    let (_, url) = over_grpc(read, control.clone()).await;
    let storage_read = GrpcRead::new(&url, &ServiceToken::new(Some(crate::support::TOKEN.into()))).expect("client");
    let local = user(cloudgrid_control::LOCAL_USER_ID);
    let stranger = signed_in(&control, "boss@globex.test").await;
    let globex = control.create_company(&stranger, "Globex").await.expect("company").id;
    let theirs = control.create_project(&stranger, &globex, &named("Theirs")).await.expect("project").id;
    let their_key = control.create_key(&stranger, &theirs, "reader", KeyScope::Read).await.expect("key").key;
    let their_reader = control.read_key_principal(&their_key).await.expect("reader");

    assert!(storage_read.as_caller(&local).metrics("default").await.is_ok(), "the owner reads");
    assert!(storage_read.as_caller(&their_reader).metrics(&theirs).await.is_ok(), "a read key reads its project");
    for (who, name) in [(&stranger, "another tenant's user"), (&their_reader, "another project's read key")] {
        let refused = storage_read.as_caller(who).metrics("default").await;
        assert!(matches!(refused, Err(QueryError::NotFound(_))), "{name}: {refused:?}");
        let live = storage_read.as_caller(who).live_spans("default", TraceQuery::default()).await;
        assert!(matches!(live, Err(QueryError::NotFound(_))), "{name} live: {:?}", live.err());
        let alerts = storage_read.as_caller(who).live_alerts("default", Default::default()).await;
        assert!(matches!(alerts, Err(QueryError::NotFound(_))), "{name} live alerts: {:?}", alerts.err());
    }
    // A call that names nobody is refused too.
    assert!(matches!(storage_read.metrics("default").await, Err(QueryError::Forbidden(_))));
    assert!(matches!(storage_read.as_caller(&Principal::Anonymous).search_traces("default", &TraceQuery::default()).await, Err(QueryError::Forbidden(_))));
}

/// A live view lasts only as long as its caller's access: a member removed from the
/// company gets NOT_FOUND on its open subscription, which then ends.
async fn a_removed_members_live_views_end(shape: Shape) {
    let (read, control, _data) = services().await;
    let backends = match shape {
        Shape::InProcess => Backends { read: Arc::new(read), control: Arc::new(control.clone()) },
        Shape::Grpc => over_grpc(read, control.clone()).await.0,
    };
    let limits = Limits { reauthorize_every: std::time::Duration::from_millis(50), ..Limits::default() };
    let schema = cloudgrid_bff::build(backends, &limits);
    let local = user(cloudgrid_control::LOCAL_USER_ID);
    let ann = signed_in(&control, "ann@example.test").await;
    let invitation = InvitationSpec { email: "ann@example.test".into(), role: Role::Admin, projects: vec![] };
    let link = control.create_invitation(&local, "default", &invitation).await.expect("invite").link.expect("link");
    control.accept_invitation(&ann, link.split("token=").nth(1).expect("token")).await.expect("join");
    let subscription = "subscription { liveLogs(project: \"default\") { started } }";
    let mut live = schema.execute_stream(Request::new(subscription).data(ann.clone()));
    let first = serde_json::to_value(live.next().await.expect("first event")).expect("json");
    assert_eq!(first["data"]["liveLogs"]["started"], true, "{first}");
    // The owner's own view is unaffected by what happens to Ann.
    let mut owners = schema.execute_stream(Request::new(subscription).data(local.clone()));
    assert!(owners.next().await.is_some());
    let Principal::User { id } = &ann else { unreachable!() };
    control.remove_member(&local, "default", id).await.expect("remove");
    let ended = tokio::time::timeout(std::time::Duration::from_secs(10), live.next()).await.expect("the view ends").expect("an error first");
    let ended = serde_json::to_value(ended).expect("json");
    assert_eq!(ended["errors"][0]["extensions"]["code"], "NOT_FOUND", "{ended}");
    assert!(tokio::time::timeout(std::time::Duration::from_secs(10), live.next()).await.expect("closed").is_none(), "then it ends");
    assert!(tokio::time::timeout(std::time::Duration::from_millis(200), owners.next()).await.is_err(), "the owner's view goes on");
}

/// With a token per service, each internal contract takes calls only from the service
/// it names: the BFF's credential cannot verify ingest keys, the collector's cannot read
/// telemetry or touch the control plane's objects.
#[tokio::test]
async fn each_internal_contract_refuses_another_services_credential() {
    use cloudgrid_control::ControlApi;
    use cloudgrid_control::grpc::{ControlService, GrpcControl};
    use cloudgrid_proto::auth::{GrpcKeyVerifier, KeyVerificationService, KeyVerifier};
    use cloudgrid_proto::cloudgrid::control::v1::key_verification_server::KeyVerificationServer;
    use cloudgrid_proto::service_auth::ServiceToken;
    use cloudgrid_read::ReadApi;
    use cloudgrid_read::grpc::{GrpcRead, ReadService};
    let (bff, collector) = ("bff-token-bff-token-bff-token-bff-token", "collector-token-collector-token-xx");
    let (read, control, _data) = services().await;
    let server = ServiceToken::new(Some("server-own-token-server-own-token-xx".into()))
        .with_peers(&format!("bff={bff},collector={collector}"))
        .expect("peers");
    let keys = KeyVerificationServer::with_interceptor(KeyVerificationService(Arc::new(control.clone())), server.require(&["collector"]));
    let control: Arc<dyn ControlApi> = Arc::new(control);
    let routes = tonic::service::Routes::new(keys).add_service(ReadService::server(Arc::new(read), control.clone(), &server));
    let routes = ControlService::add_to(routes, control, &server).into_axum_router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, routes).await });
    let token = |t: &str| ServiceToken::new(Some(t.into()));
    let local = user(cloudgrid_control::LOCAL_USER_ID);

    // Each service's own calls go through.
    assert!(GrpcControl::new(&url, &token(bff)).expect("client").projects_for(&local).await.is_ok());
    assert!(GrpcRead::new(&url, &token(bff)).expect("client").as_caller(&local).metrics("default").await.is_ok());
    assert!(GrpcKeyVerifier::new(&url, &token(collector)).expect("client").verify_ingest_key("cgk_x").await.is_ok());
    // Another service's credential is refused, saying whose it was.
    let e = GrpcControl::new(&url, &token(collector)).expect("client").projects_for(&local).await.expect_err("refused");
    assert!(e.to_string().contains("collector"), "{e}");
    let e = GrpcRead::new(&url, &token(collector)).expect("client").as_caller(&local).metrics("default").await.expect_err("refused");
    assert!(e.to_string().contains("collector"), "{e}");
    let e = GrpcKeyVerifier::new(&url, &token(bff)).expect("client").verify_ingest_key("cgk_x").await.expect_err("refused");
    assert!(e.to_string().contains("bff"), "{e}");
}

