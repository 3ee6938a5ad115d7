//! Companies, projects, memberships, the access policy, API keys and the audit log,
//! against real storage (embedded SurrealDB in memory).

use cloudgrid_control::access::{Principal, Role};
use cloudgrid_control::audit::AuditFilter;
use cloudgrid_control::keys::KeyScope;
use cloudgrid_control::tenancy::{ProjectLimits, ProjectSettings};
use cloudgrid_control::{ControlError, ControlPlane};
use cloudgrid_proto::auth::{KeyCheck, KeyVerifier};
use cloudgrid_sinks::surreal::{Store, SurrealConfig};

pub async fn control() -> ControlPlane {
    ControlPlane::new(Store::open(&SurrealConfig::mem()).await.expect("store"))
}

pub fn named(name: &str) -> ProjectSettings {
    ProjectSettings { name: Some(name.into()), ..ProjectSettings::default() }
}

/// A user signed in as `email`.
pub async fn user(control: &ControlPlane, email: &str) -> Principal {
    Principal::user(control.user_by_email(email, email.split('@').next().unwrap_or(email)).await.expect("user").id)
}

fn id(who: &Principal) -> &str {
    match who {
        Principal::User { id } => id,
        other => panic!("not a user: {other:?}"),
    }
}

/// Two companies: Acme (owner, admin, member with project `a` as member, viewer with
/// nothing) with projects `a` and `b`, and Globex (its own owner) with project `g`.
pub struct World {
    pub control: ControlPlane,
    pub owner: Principal,
    pub admin: Principal,
    pub member: Principal,
    pub viewer: Principal,
    pub stranger: Principal,
    pub acme: String,
    pub globex: String,
    pub a: String,
    pub b: String,
    pub g: String,
}

pub async fn world() -> World {
    world_on(control().await).await
}

/// The same world on a control plane of the caller's.
pub async fn world_on(control: ControlPlane) -> World {
    let owner = user(&control, "owner@acme.test").await;
    let admin = user(&control, "admin@acme.test").await;
    let member = user(&control, "member@acme.test").await;
    let viewer = user(&control, "viewer@acme.test").await;
    let stranger = user(&control, "owner@globex.test").await;
    let acme = control.create_company(&owner, "Acme").await.expect("company").id;
    let globex = control.create_company(&stranger, "Globex").await.expect("company").id;
    let a = control.create_project(&owner, &acme, &named("Shop")).await.expect("project").id;
    let b = control.create_project(&owner, &acme, &named("Billing")).await.expect("project").id;
    let g = control.create_project(&stranger, &globex, &named("Shop")).await.expect("same name, other company").id;
    for (who, role) in [(&admin, Role::Admin), (&member, Role::Member), (&viewer, Role::Viewer)] {
        join(&control, &owner, &acme, who, role).await;
    }
    control.set_project_access(&admin, &a, id(&member), Some(Role::Member)).await.expect("grant");
    World { control, owner, admin, member, viewer, stranger, acme, globex, a, b, g }
}

/// Makes `who` a member of `company` with `role`, through an accepted invitation.
pub async fn join(control: &ControlPlane, by: &Principal, company: &str, who: &Principal, role: Role) {
    let email = control.user(id(who)).await.expect("read").expect("user").email;
    let spec = cloudgrid_control::invitations::InvitationSpec { email, role, projects: vec![] };
    let sent = control.create_invitation(by, company, &spec).await.expect("invite");
    let link = sent.link.expect("delivery is disabled: the link comes back");
    let token = link.split("token=").nth(1).expect("token");
    control.accept_invitation(who, token).await.expect("accept");
}

fn outcome<T>(r: Result<T, ControlError>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(ControlError::NotFound(_)) => "not found",
        Err(ControlError::Forbidden(_)) => "forbidden",
        Err(ControlError::Unauthenticated) => "unauthenticated",
        Err(e) => panic!("unexpected {e:?}"),
    }
}

#[tokio::test]
async fn each_role_reaches_what_it_was_given_and_another_tenant_is_not_found() {
    let w = world().await;
    let key = w.control.create_key(&w.admin, &w.a, "dash", KeyScope::Read).await.expect("read key");
    let reader = w.control.read_key_principal(&key.key).await.expect("read key principal");
    // (project, role needed, outcome) for each caller.
    type Check<'a> = (&'a str, Role, &'static str);
    let cases: [(&str, &Principal, [Check; 6]); 7] = [
        ("owner", &w.owner, [(&w.a, Role::Owner, "ok"), (&w.b, Role::Admin, "ok"), (&w.g, Role::Viewer, "not found"), (&w.a, Role::Viewer, "ok"), (&w.b, Role::Viewer, "ok"), ("nope", Role::Viewer, "not found")]),
        ("admin", &w.admin, [(&w.a, Role::Owner, "forbidden"), (&w.b, Role::Admin, "ok"), (&w.g, Role::Viewer, "not found"), (&w.a, Role::Admin, "ok"), (&w.b, Role::Viewer, "ok"), ("nope", Role::Viewer, "not found")]),
        ("member", &w.member, [(&w.a, Role::Member, "ok"), (&w.a, Role::Admin, "forbidden"), (&w.b, Role::Viewer, "not found"), (&w.g, Role::Viewer, "not found"), (&w.a, Role::Viewer, "ok"), ("nope", Role::Viewer, "not found")]),
        ("viewer", &w.viewer, [(&w.a, Role::Viewer, "not found"), (&w.b, Role::Viewer, "not found"), (&w.g, Role::Viewer, "not found"), (&w.a, Role::Member, "not found"), (&w.b, Role::Member, "not found"), ("nope", Role::Viewer, "not found")]),
        ("stranger", &w.stranger, [(&w.a, Role::Viewer, "not found"), (&w.b, Role::Viewer, "not found"), (&w.g, Role::Owner, "ok"), (&w.a, Role::Admin, "not found"), (&w.b, Role::Admin, "not found"), ("nope", Role::Viewer, "not found")]),
        ("read key", &reader, [(&w.a, Role::Viewer, "ok"), (&w.a, Role::Member, "forbidden"), (&w.b, Role::Viewer, "not found"), (&w.g, Role::Viewer, "not found"), (&w.a, Role::Viewer, "ok"), ("nope", Role::Viewer, "not found")]),
        ("anonymous", &Principal::Anonymous, [(&w.a, Role::Viewer, "unauthenticated"), (&w.b, Role::Viewer, "unauthenticated"), (&w.g, Role::Viewer, "unauthenticated"), (&w.a, Role::Viewer, "unauthenticated"), (&w.b, Role::Viewer, "unauthenticated"), ("nope", Role::Viewer, "unauthenticated")]),
    ];
    for (name, who, checks) in cases {
        for (project, need, expected) in checks {
            let got = outcome(w.control.authorize_project(who, project, need).await);
            assert_eq!(got, expected, "{name} needing {need} on {project}");
        }
    }
    // What each one lists is what it reaches.
    let listed = |ps: Vec<(cloudgrid_control::Project, Role)>| ps.into_iter().map(|(p, r)| (p.id, r)).collect::<Vec<_>>();
    let mut acme_all = vec![(w.a.clone(), Role::Owner), (w.b.clone(), Role::Owner)];
    acme_all.sort_by_key(|(p, _)| if *p == w.b { 0 } else { 1 }); // by name: Billing, Shop
    assert_eq!(listed(w.control.projects_for(&w.owner).await.expect("list")), acme_all);
    assert_eq!(listed(w.control.projects_for(&w.member).await.expect("list")), vec![(w.a.clone(), Role::Member)]);
    assert!(w.control.projects_for(&w.viewer).await.expect("list").is_empty());
    assert_eq!(listed(w.control.projects_for(&reader).await.expect("list")), vec![(w.a.clone(), Role::Viewer)]);
    assert_eq!(outcome(w.control.company(&w.stranger, &w.acme).await), "not found");
    assert_eq!(outcome(w.control.members(&w.stranger, &w.acme).await), "not found");
    assert_eq!(outcome(w.control.members(&w.viewer, &w.acme).await), "ok");
    assert_eq!(outcome(w.control.invitations(&w.member, &w.acme).await), "forbidden");
    assert_eq!(outcome(w.control.create_project(&w.member, &w.acme, &named("x")).await), "forbidden");
    assert_eq!(outcome(w.control.create_project(&w.admin, &w.globex, &named("x")).await), "not found");
    assert_eq!(outcome(w.control.create_company(&reader, "Keyed").await), "forbidden");
}

#[tokio::test]
async fn roles_change_within_the_rules_and_a_company_keeps_an_owner() {
    let w = world().await;
    let (c, member, viewer) = (&w.control, id(&w.member).to_string(), id(&w.viewer).to_string());
    // Admins manage members and viewers, not owners.
    c.set_company_role(&w.admin, &w.acme, &viewer, Role::Member).await.expect("promote");
    assert!(matches!(c.set_company_role(&w.admin, &w.acme, &viewer, Role::Owner).await, Err(ControlError::Forbidden(_))));
    assert!(matches!(c.set_company_role(&w.admin, &w.acme, id(&w.owner), Role::Viewer).await, Err(ControlError::Forbidden(_))));
    assert!(matches!(c.set_company_role(&w.member, &w.acme, &viewer, Role::Admin).await, Err(ControlError::Forbidden(_))));
    assert!(matches!(c.set_company_role(&w.stranger, &w.acme, &viewer, Role::Admin).await, Err(ControlError::NotFound(_))));
    assert!(matches!(c.set_company_role(&w.owner, &w.acme, id(&w.stranger), Role::Admin).await, Err(ControlError::NotFound(_))));
    // The only owner stays one, whoever asks.
    match c.set_company_role(&w.owner, &w.acme, id(&w.owner), Role::Admin).await {
        Err(ControlError::Conflict(m)) => assert!(m.contains("at least one owner"), "{m}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(matches!(c.remove_member(&w.owner, &w.acme, id(&w.owner)).await, Err(ControlError::Conflict(_))));
    // With a second owner, the first may step down.
    c.set_company_role(&w.owner, &w.acme, id(&w.admin), Role::Owner).await.expect("second owner");
    c.set_company_role(&w.owner, &w.acme, id(&w.owner), Role::Admin).await.expect("step down");
    // Removing a member takes its project access with it; anyone may leave.
    assert_eq!(c.authorize_project(&w.member, &w.a, Role::Member).await.expect("granted").role, Role::Member);
    c.remove_member(&w.owner, &w.acme, &member).await.expect("remove");
    assert!(matches!(c.authorize_project(&w.member, &w.a, Role::Viewer).await, Err(ControlError::NotFound(_))));
    let members = c.members(&w.owner, &w.acme).await.expect("members");
    assert!(members.iter().all(|m| m.user.id != member && m.projects.iter().all(|(p, _)| p != &w.a) || m.user.id == id(&w.owner)));
    c.remove_member(&w.viewer, &w.acme, &viewer).await.expect("leave");
    assert!(matches!(c.company(&w.viewer, &w.acme).await, Err(ControlError::NotFound(_))));
    // Project grants only for company members, and never as owner.
    assert!(matches!(c.set_project_access(&w.owner, &w.a, &viewer, Some(Role::Viewer)).await, Err(ControlError::NotFound(_))));
    assert!(matches!(c.set_project_access(&w.owner, &w.a, id(&w.admin), Some(Role::Owner)).await, Err(ControlError::Invalid(_))));
    let roles: Vec<(String, Role)> = c.members(&w.admin, &w.acme).await.expect("members").into_iter().map(|m| (m.user.email, m.role)).collect();
    assert_eq!(roles, vec![("admin@acme.test".to_string(), Role::Owner), ("owner@acme.test".to_string(), Role::Admin)]);
}

#[tokio::test]
async fn project_settings_are_checked_and_a_deleted_project_takes_its_keys_grants_and_dashboards() {
    let w = world().await;
    let c = &w.control;
    let settings = ProjectSettings {
        name: Some("Payments (EU)".into()),
        time_zone: Some("Europe/Paris".into()),
        limits: Some(ProjectLimits { active_series: Some(50_000) }),
        ..ProjectSettings::default()
    };
    let p = c.create_project(&w.admin, &w.acme, &settings).await.expect("create");
    assert_eq!((p.slug.as_str(), p.time_zone.as_str(), p.limits.active_series), ("payments-eu", "Europe/Paris", Some(50_000)));
    match c.create_project(&w.admin, &w.acme, &settings).await {
        Err(ControlError::Conflict(m)) => assert!(m.contains("payments-eu"), "{m}"),
        other => panic!("a second project with the slug: {other:?}"),
    }
    c.create_project(&w.stranger, &w.globex, &settings).await.expect("slugs are per company");
    for bad in [
        ProjectSettings { time_zone: Some("Mars/Olympus".into()), ..named("x") },
        ProjectSettings { slug: Some("Not A Slug".into()), ..named("x") },
        named("Evil\r\nBcc: eve@example.com"),
        named(" "),
    ] {
        assert!(matches!(c.create_project(&w.admin, &w.acme, &bad).await, Err(ControlError::Invalid(_))), "{bad:?}");
    }
    let renamed = c
        .update_project(&w.admin, &p.id, &ProjectSettings { name: Some("Payments".into()), slug: Some("payments".into()), ..Default::default() })
        .await
        .expect("update");
    assert_eq!((renamed.name.as_str(), renamed.slug.as_str(), renamed.time_zone.as_str()), ("Payments", "payments", "Europe/Paris"));
    assert!(matches!(c.update_project(&w.member, &w.a, &named("mine")).await, Err(ControlError::Forbidden(_))));
    assert!(matches!(c.update_project(&w.stranger, &p.id, &named("theirs")).await, Err(ControlError::NotFound(_))));

    let key = c.create_key(&w.admin, &p.id, "ingest", KeyScope::Ingest).await.expect("key");
    c.set_project_access(&w.admin, &p.id, id(&w.viewer), Some(Role::Viewer)).await.expect("grant");
    c.create_dashboard(&w.admin, &p.id, &cloudgrid_control::dashboards::DashboardSpec { title: "d".into(), variables: vec![], widgets: vec![] })
        .await
        .expect("dashboard");
    assert!(matches!(c.delete_project(&w.member, &w.a).await, Err(ControlError::Forbidden(_))));
    c.delete_project(&w.admin, &p.id).await.expect("delete");
    assert!(matches!(c.authorize_project(&w.owner, &p.id, Role::Viewer).await, Err(ControlError::NotFound(_))));
    assert_eq!(c.verify_ingest_key(&key.key).await.expect("verify"), KeyCheck::Unknown, "its keys went with it");
    assert!(matches!(c.dashboards(&w.owner, &p.id).await, Err(ControlError::NotFound(_))));
    assert_eq!(c.orphans().await.expect("orphans"), 0, "no dashboard, key or grant left");
    assert!(c.members(&w.owner, &w.acme).await.expect("members").iter().all(|m| m.projects.iter().all(|(q, _)| q != &p.id)));
    assert!(matches!(c.create_key(&w.admin, &p.id, "late", KeyScope::Ingest).await, Err(ControlError::NotFound(_))));
}

#[tokio::test]
async fn keys_are_listed_without_secrets_and_each_scope_does_only_its_own() {
    let w = world().await;
    let c = &w.control;
    let ingest = c.create_key(&w.admin, &w.a, "collector", KeyScope::Ingest).await.expect("ingest key");
    let read = c.create_key(&w.admin, &w.a, "grafana", KeyScope::Read).await.expect("read key");
    assert!(matches!(c.create_key(&w.member, &w.a, "mine", KeyScope::Read).await, Err(ControlError::Forbidden(_))));
    assert!(matches!(c.create_key(&w.stranger, &w.a, "theirs", KeyScope::Read).await, Err(ControlError::NotFound(_))));
    // Ingest keys ingest and cannot read; read keys read and cannot ingest.
    assert_eq!(c.verify_ingest_key(&ingest.key).await.expect("verify"), KeyCheck::Valid { project_id: w.a.clone(), max_active_series: None });
    // A project's own series limit travels with its keys' verdicts.
    let limited = ProjectSettings { limits: Some(ProjectLimits { active_series: Some(250) }), ..ProjectSettings::default() };
    c.update_project(&w.admin, &w.a, &limited).await.expect("limit");
    assert_eq!(c.verify_ingest_key(&ingest.key).await.expect("verify"), KeyCheck::Valid { project_id: w.a.clone(), max_active_series: Some(250) });
    assert!(matches!(c.read_key_principal(&ingest.key).await, Err(ControlError::Forbidden(_))));
    assert_eq!(c.verify_ingest_key(&read.key).await.expect("verify"), KeyCheck::WrongScope);
    let reader = c.read_key_principal(&read.key).await.expect("reads");
    assert!(matches!(c.create_key(&reader, &w.a, "more", KeyScope::Ingest).await, Err(ControlError::Forbidden(_))));
    let keys = c.keys(&w.admin, &w.a).await.expect("list");
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().all(|k| k.last_used_at.is_some() && !k.revoked), "{keys:?}");
    let names: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
    assert!(names.contains(&"collector") && names.contains(&"grafana"));
    assert!(keys.iter().all(|k| !format!("{k:?}").contains(&ingest.key[17..]) && !format!("{k:?}").contains(&read.key[17..])));
    // A key revoked in project a cannot be revoked (or found) through project b.
    assert!(matches!(c.revoke_key(&w.admin, &w.b, &read.key_id).await, Err(ControlError::NotFound(_))));
    c.revoke_key(&w.admin, &w.a, &read.key_id).await.expect("revoke");
    assert!(matches!(c.read_key_principal(&read.key).await, Err(ControlError::Unauthenticated)));
    let listed = c.keys(&w.admin, &w.a).await.expect("list");
    let revoked = listed.iter().find(|k| k.id == read.key_id).expect("the revoked key is still listed");
    assert!(revoked.revoked && revoked.revoked_at.is_some(), "{revoked:?}");
    assert!(listed.iter().any(|k| k.id == ingest.key_id && k.revoked_at.is_none()));
}

#[tokio::test]
async fn a_project_holds_a_bounded_number_of_keys_in_use_and_revoking_one_makes_room() {
    let w = world().await;
    let c = &w.control;
    let mut made = Vec::new();
    for i in 0..cloudgrid_control::keys::MAX_KEYS_PER_PROJECT {
        made.push(c.create_key(&w.admin, &w.a, &format!("k{i}"), KeyScope::Ingest).await.expect("key"));
    }
    match c.create_key(&w.admin, &w.a, "one too many", KeyScope::Ingest).await {
        Err(ControlError::Conflict(m)) => assert!(m.contains("keys in use; revoke one first"), "{m}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    c.revoke_key(&w.admin, &w.a, &made[0].key_id).await.expect("revoke");
    c.create_key(&w.admin, &w.a, "in its place", KeyScope::Ingest).await.expect("room after a revocation");
}

#[tokio::test]
async fn the_audit_log_names_who_did_what_and_only_admins_of_the_company_read_it() {
    let w = world().await;
    let c = &w.control;
    c.create_key(&w.admin, &w.a, "collector", KeyScope::Ingest).await.expect("key");
    let all = c.audit_log(&w.owner, &w.acme, &AuditFilter { limit: 100, ..Default::default() }).await.expect("log");
    let actions: Vec<&str> = all.iter().map(|e| e.action.as_str()).collect();
    // Newest first: the key, the grant, three accepted invitations and their creation, two projects, the company.
    assert_eq!(actions[0], "api_key.create");
    assert_eq!(actions[1], "project.access");
    assert_eq!(*actions.last().expect("entries"), "company.create");
    assert_eq!(actions.iter().filter(|a| **a == "invitation.accept").count(), 3);
    assert_eq!(actions.iter().filter(|a| **a == "project.create").count(), 2);
    assert!(all.iter().all(|e| e.company_id == w.acme), "nothing of Globex");
    assert_eq!(all[0].actor, format!("user:{}", id(&w.admin)));
    assert_eq!(all[0].project_id.as_deref(), Some(w.a.as_str()));
    assert!(!all[0].detail.contains("cgk_"), "no secret in the log: {}", all[0].detail);
    let invites = c.audit_log(&w.admin, &w.acme, &AuditFilter { action: Some("invitation.".into()), limit: 100, ..Default::default() }).await.expect("log");
    assert_eq!(invites.len(), 6);
    let page = c.audit_log(&w.owner, &w.acme, &AuditFilter { limit: 4, ..Default::default() }).await.expect("page");
    let next = c.audit_log(&w.owner, &w.acme, &AuditFilter { limit: 100, before: Some(page[3].id.clone()), ..Default::default() }).await.expect("next");
    assert_eq!(page.len() + next.len(), all.len());
    assert_eq!(next[0], all[4]);
    assert!(matches!(c.audit_log(&w.member, &w.acme, &AuditFilter::default()).await, Err(ControlError::Forbidden(_))));
    assert!(matches!(c.audit_log(&w.stranger, &w.acme, &AuditFilter::default()).await, Err(ControlError::NotFound(_))));
    let globex = c.audit_log(&w.stranger, &w.globex, &AuditFilter { limit: 100, ..Default::default() }).await.expect("log");
    assert_eq!(globex.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), vec!["project.create", "company.create"]);
}

#[tokio::test]
async fn provider_secrets_are_sealed_listed_without_their_value_and_survive_a_key_rotation() {
    use cloudgrid_control::secrets::{SecretKey, SecretKeys};
    use cloudgrid_control::Settings;
    let store = Store::open(&SurrealConfig::mem()).await.expect("store");
    let keys = |current: &str, old: &[&str]| SecretKeys {
        current: Some(SecretKey::parse(current).expect("key")),
        old: old.iter().map(|k| SecretKey::parse(k).expect("key")).collect(),
    };
    let with = |k: SecretKeys| ControlPlane::with_settings(store.clone(), Settings { secret_keys: k, ..Settings::default() });
    let (first, second) = (SecretKey::generate(), SecretKey::generate());
    let c = with(keys(&first, &[]));
    let owner = user(&c, "owner@acme.test").await;
    let acme = c.create_company(&owner, "Acme").await.expect("company").id;
    let p = c.create_project(&owner, &acme, &named("Shop")).await.expect("project").id;
    let stored = c.set_provider_secret(&owner, &p, "openai", "openai", "sk-live-0123456789abcd").await.expect("store");
    assert_eq!((stored.hint.as_str(), stored.provider.as_str()), ("abcd", "openai"));
    c.set_provider_secret(&owner, &p, "short", "other", "tiny").await.expect("store");
    let listed = c.provider_secrets(&owner, &p).await.expect("list");
    assert_eq!(listed.iter().map(|s| (s.name.as_str(), s.hint.as_str())).collect::<Vec<_>>(), vec![("openai", "abcd"), ("short", "")]);
    assert!(!format!("{listed:?}").contains("0123456789"));
    // Nothing in storage holds the secret in clear.
    let raw: Vec<surrealdb::types::Value> =
        store.handle().query("SELECT * FROM provider_secret").await.expect("read").take(0).expect("rows");
    let raw: Vec<String> = raw.iter().map(|r| format!("{r:?}")).collect();
    assert_eq!(raw.len(), 2);
    assert!(raw.iter().all(|r| !r.contains("0123456789")), "{raw:?}");
    assert!(matches!(c.set_provider_secret(&owner, &p, "bad name", "openai", "x").await, Err(ControlError::Invalid(_))));
    assert!(matches!(c.set_provider_secret(&owner, &p, "empty", "openai", "").await, Err(ControlError::Invalid(_))));

    // Without a configured key nothing is stored (deployed mode without the setting).
    let keyless = with(SecretKeys::default());
    match keyless.set_provider_secret(&owner, &p, "other", "openai", "sk-2").await {
        Err(ControlError::Invalid(m)) => assert!(m.contains("CLOUDGRID_PROVIDER_SECRET_ENCRYPTION_KEY"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }

    // Rotation: the new key with the old one re-seals everything; then the old key can go.
    let rotating = with(keys(&second, &[&first]));
    assert_eq!(rotating.reseal_provider_secrets().await.expect("reseal"), 2);
    assert_eq!(rotating.reseal_provider_secrets().await.expect("again"), 0, "nothing left under the old key");
    let rotated = with(keys(&second, &[]));
    assert_eq!(rotated.provider_secret_for_use(&p, "openai").await.expect("open"), "sk-live-0123456789abcd");
    assert!(c.provider_secret_for_use(&p, "openai").await.is_err(), "the old key alone no longer opens it");

    c.delete_provider_secret(&owner, &p, "short").await.expect("delete");
    assert!(matches!(c.delete_provider_secret(&owner, &p, "short").await, Err(ControlError::NotFound(_))));
    c.delete_project(&owner, &p).await.expect("delete project");
    assert_eq!(c.orphans().await.expect("orphans"), 0, "the project's secrets went with it");
}

