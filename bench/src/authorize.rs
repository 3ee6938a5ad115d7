//! What authorization adds to every telemetry request: the control plane's check that
//! the caller may read the project, in the same process (`cloudgrid all`) and across
//! its gRPC contract on loopback (services mode: the BFF asks the control plane), on
//! embedded SurrealKV holding `companies` companies with `projects` projects each. Two
//! callers: a company owner (reaches every project of the company by its company role)
//! and a viewer given one project (needs its project grant too). No server needed.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use cloudgrid_control::access::{Principal, Role};
use cloudgrid_control::grpc::{ControlService, GrpcControl};
use cloudgrid_control::invitations::InvitationSpec;
use cloudgrid_control::tenancy::ProjectSettings;
use cloudgrid_control::{ControlApi, ControlPlane};
use cloudgrid_proto::service_auth::ServiceToken;
use cloudgrid_sinks::surreal::{Store, SurrealConfig};

#[derive(Debug, Clone, serde::Serialize)]
pub struct AuthorizeReport {
    pub companies: u64,
    pub projects: u64,
    pub calls: usize,
    pub in_process_owner_p50_us: f64,
    pub in_process_owner_p99_us: f64,
    pub in_process_viewer_p50_us: f64,
    pub in_process_viewer_p99_us: f64,
    pub grpc_owner_p50_us: f64,
    pub grpc_owner_p99_us: f64,
    pub grpc_viewer_p50_us: f64,
    pub grpc_viewer_p99_us: f64,
}

pub async fn run(companies: u64, projects_per_company: u64, calls: usize) -> Result<AuthorizeReport> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(&SurrealConfig::new(format!("surrealkv://{}", dir.path().display()))).await?;
    let control = ControlPlane::new(store);
    // Many tenants, so the checks run against tables of a realistic size.
    let mut last = None;
    for c in 0..companies {
        let owner = Principal::user(control.user_by_email(&format!("owner{c}@example.com"), "owner").await?.id);
        let company = control.create_company(&owner, &format!("Company {c}")).await?;
        let mut project = None;
        for p in 0..projects_per_company {
            let settings = ProjectSettings { name: Some(format!("Project {p}")), ..ProjectSettings::default() };
            project = Some(control.create_project(&owner, &company.id, &settings).await?);
        }
        last = Some((owner, company, project.context("at least one project per company")?));
    }
    let (owner, company, project) = last.context("at least one company")?;
    // A viewer of the last company, given its last project.
    let viewer = Principal::user(control.user_by_email("viewer@example.com", "viewer").await?.id);
    let spec = InvitationSpec { email: "viewer@example.com".into(), role: Role::Viewer, projects: vec![(project.id.clone(), Role::Viewer)] };
    let sent = control.create_invitation(&owner, &company.id, &spec).await?;
    let link = sent.link.context("invitation links are handed back without SMTP")?;
    control.accept_invitation(&viewer, link.split("token=").nth(1).context("token")?).await?;

    let local: Arc<dyn ControlApi> = Arc::new(control);
    let token = ServiceToken::new(Some("bench-service-token-bench-service-token".into()));
    let routes = ControlService::add_to(tonic::service::Routes::default(), local.clone(), &token).into_axum_router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, routes).await });
    let remote: Arc<dyn ControlApi> = Arc::new(GrpcControl::new(&url, &token).map_err(anyhow::Error::msg)?);

    let mut report = AuthorizeReport {
        companies,
        projects: companies * projects_per_company,
        calls,
        in_process_owner_p50_us: 0.0,
        in_process_owner_p99_us: 0.0,
        in_process_viewer_p50_us: 0.0,
        in_process_viewer_p99_us: 0.0,
        grpc_owner_p50_us: 0.0,
        grpc_owner_p99_us: 0.0,
        grpc_viewer_p50_us: 0.0,
        grpc_viewer_p99_us: 0.0,
    };
    (report.in_process_owner_p50_us, report.in_process_owner_p99_us) = timed(&local, &owner, &project.id, calls).await?;
    (report.in_process_viewer_p50_us, report.in_process_viewer_p99_us) = timed(&local, &viewer, &project.id, calls).await?;
    (report.grpc_owner_p50_us, report.grpc_owner_p99_us) = timed(&remote, &owner, &project.id, calls).await?;
    (report.grpc_viewer_p50_us, report.grpc_viewer_p99_us) = timed(&remote, &viewer, &project.id, calls).await?;
    Ok(report)
}

/// p50 and p99 of `calls` checks, microseconds, after a warm-up.
async fn timed(api: &Arc<dyn ControlApi>, who: &Principal, project: &str, calls: usize) -> Result<(f64, f64)> {
    for _ in 0..100 {
        api.authorize(who, project, Role::Viewer).await?;
    }
    let mut us = Vec::with_capacity(calls);
    for _ in 0..calls {
        let t = Instant::now();
        api.authorize(who, project, Role::Viewer).await?;
        us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    us.sort_by(f64::total_cmp);
    let at = |q: f64| us[((us.len() as f64 - 1.0) * q).round() as usize];
    Ok((at(0.50), at(0.99)))
}
