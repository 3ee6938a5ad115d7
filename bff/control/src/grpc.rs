//! The control plane's `Workspace` gRPC contract (projects and dashboards, for the BFF):
//! [`WorkspaceService`] serves any [`ControlApi`], [`GrpcControl`] is a [`ControlApi`]
//! that calls it.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cloudgrid_proto::cloudgrid::control::v1 as pb;
use cloudgrid_proto::service_auth::{Attach, Require, ServiceToken};
use pb::workspace_client::WorkspaceClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::api::ControlApi;
use crate::dashboards::{Dashboard, DashboardSpec};
use crate::{ControlError, Project};

fn status(e: ControlError) -> Status {
    match e {
        ControlError::NotFound(m) => Status::not_found(m),
        ControlError::Invalid(m) => Status::invalid_argument(m),
        ControlError::Conflict(m) => Status::failed_precondition(m),
        other => {
            tracing::warn!(error = %other, "control plane could not answer");
            Status::unavailable("the control plane could not answer; try again")
        }
    }
}

fn control_error(s: Status) -> ControlError {
    if s.code() == tonic::Code::Unauthenticated {
        tracing::error!(error = s.message(), "the control plane refused this service's calls: check CLOUDGRID_SERVICE_TOKEN");
    }
    let m = s.message().to_string();
    match s.code() {
        tonic::Code::NotFound => ControlError::NotFound(m),
        tonic::Code::InvalidArgument => ControlError::Invalid(m),
        tonic::Code::FailedPrecondition => ControlError::Conflict(m),
        _ => ControlError::Storage(format!("control plane: {m}")),
    }
}

fn spec_from_json(json: &str) -> Result<DashboardSpec, Status> {
    serde_json::from_str(json).map_err(|e| Status::invalid_argument(format!("not a dashboard document: {e}")))
}

fn dashboard_to_pb(d: Dashboard) -> pb::Dashboard {
    pb::Dashboard { id: d.id, project_id: d.project_id, version: d.version, spec_json: serde_json::to_string(&d.spec).unwrap_or_default() }
}

fn dashboard_from_pb(d: pb::Dashboard) -> Result<Dashboard, ControlError> {
    let spec = serde_json::from_str(&d.spec_json).map_err(|e| ControlError::Storage(format!("control plane sent a bad dashboard: {e}")))?;
    Ok(Dashboard { id: d.id, project_id: d.project_id, version: d.version, spec })
}

fn project_to_pb(p: Project) -> pb::Project {
    pb::Project { id: p.id, name: p.name, company_id: p.company_id }
}

fn project_from_pb(p: pb::Project) -> Project {
    Project {
        slug: p.id.clone(),
        id: p.id,
        name: p.name,
        company_id: p.company_id,
        time_zone: "UTC".into(),
        limits: Default::default(),
    }
}

/// Serves a [`ControlApi`] over gRPC.
pub struct WorkspaceService {
    api: Arc<dyn ControlApi>,
}

impl WorkspaceService {
    /// The tonic service, refusing calls without `token` (when one is set).
    pub fn server(api: Arc<dyn ControlApi>, token: &ServiceToken) -> InterceptedService<pb::workspace_server::WorkspaceServer<WorkspaceService>, Require> {
        pb::workspace_server::WorkspaceServer::with_interceptor(WorkspaceService { api }, token.require())
    }
}

type Reply<T> = Result<Response<T>, Status>;

#[async_trait]
impl pb::workspace_server::Workspace for WorkspaceService {
    async fn get_project(&self, r: Request<pb::GetProjectRequest>) -> Reply<pb::GetProjectReply> {
        let p = self.api.project(&r.into_inner().id).await.map_err(status)?;
        Ok(Response::new(pb::GetProjectReply { project: p.map(project_to_pb) }))
    }

    async fn list_projects(&self, _: Request<pb::ListProjectsRequest>) -> Reply<pb::ListProjectsReply> {
        let all = self.api.projects().await.map_err(status)?;
        Ok(Response::new(pb::ListProjectsReply { projects: all.into_iter().map(project_to_pb).collect() }))
    }

    async fn list_dashboards(&self, r: Request<pb::ListDashboardsRequest>) -> Reply<pb::ListDashboardsReply> {
        let all = self.api.dashboards(&r.into_inner().project).await.map_err(status)?;
        Ok(Response::new(pb::ListDashboardsReply {
            dashboards: all.into_iter().map(|(id, title, version)| pb::DashboardEntry { id, title, version }).collect(),
        }))
    }

    async fn get_dashboard(&self, r: Request<pb::DashboardRequest>) -> Reply<pb::Dashboard> {
        let r = r.into_inner();
        Ok(Response::new(dashboard_to_pb(self.api.dashboard(&r.project, &r.id).await.map_err(status)?)))
    }

    async fn create_dashboard(&self, r: Request<pb::CreateDashboardRequest>) -> Reply<pb::Dashboard> {
        let r = r.into_inner();
        let spec = spec_from_json(&r.spec_json)?;
        Ok(Response::new(dashboard_to_pb(self.api.create_dashboard(&r.project, &spec).await.map_err(status)?)))
    }

    async fn update_dashboard(&self, r: Request<pb::UpdateDashboardRequest>) -> Reply<pb::Dashboard> {
        let r = r.into_inner();
        let spec = spec_from_json(&r.spec_json)?;
        Ok(Response::new(dashboard_to_pb(self.api.update_dashboard(&r.project, &r.id, r.version, &spec).await.map_err(status)?)))
    }

    async fn delete_dashboard(&self, r: Request<pb::DashboardRequest>) -> Reply<pb::DeleteDashboardReply> {
        let r = r.into_inner();
        self.api.delete_dashboard(&r.project, &r.id).await.map_err(status)?;
        Ok(Response::new(pb::DeleteDashboardReply {}))
    }

    async fn export_dashboard(&self, r: Request<pb::DashboardRequest>) -> Reply<pb::ExportDashboardReply> {
        let r = r.into_inner();
        Ok(Response::new(pb::ExportDashboardReply { document: self.api.export_dashboard(&r.project, &r.id).await.map_err(status)? }))
    }

    async fn import_dashboard(&self, r: Request<pb::ImportDashboardRequest>) -> Reply<pb::Dashboard> {
        let r = r.into_inner();
        Ok(Response::new(dashboard_to_pb(self.api.import_dashboard(&r.project, &r.document).await.map_err(status)?)))
    }
}

type Client = WorkspaceClient<InterceptedService<Channel, Attach>>;

/// A [`ControlApi`] answered by a control-plane service over gRPC.
#[derive(Clone)]
pub struct GrpcControl {
    client: Client,
}

impl GrpcControl {
    /// Connects lazily (the control plane may start after the caller); calls carry
    /// `token`.
    pub fn new(url: &str, token: &ServiceToken) -> Result<Self, ControlError> {
        let endpoint = tonic::transport::Endpoint::from_shared(url.to_string())
            .map_err(|e| ControlError::Invalid(format!("control-plane URL {url:?}: {e}")))?
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(10));
        Ok(Self { client: WorkspaceClient::with_interceptor(endpoint.connect_lazy(), token.attach()) })
    }

    fn client(&self) -> Client {
        self.client.clone()
    }
}

fn spec_json(spec: &DashboardSpec) -> Result<String, ControlError> {
    serde_json::to_string(spec).map_err(|e| ControlError::Invalid(e.to_string()))
}

#[async_trait]
impl ControlApi for GrpcControl {
    async fn project(&self, id: &str) -> Result<Option<Project>, ControlError> {
        let reply = self.client().get_project(pb::GetProjectRequest { id: id.into() }).await.map_err(control_error)?;
        Ok(reply.into_inner().project.map(project_from_pb))
    }

    async fn projects(&self) -> Result<Vec<Project>, ControlError> {
        let reply = self.client().list_projects(pb::ListProjectsRequest {}).await.map_err(control_error)?;
        Ok(reply.into_inner().projects.into_iter().map(project_from_pb).collect())
    }

    async fn dashboards(&self, project: &str) -> Result<Vec<(String, String, u64)>, ControlError> {
        let reply = self.client().list_dashboards(pb::ListDashboardsRequest { project: project.into() }).await.map_err(control_error)?;
        Ok(reply.into_inner().dashboards.into_iter().map(|d| (d.id, d.title, d.version)).collect())
    }

    async fn dashboard(&self, project: &str, id: &str) -> Result<Dashboard, ControlError> {
        let reply = self.client().get_dashboard(pb::DashboardRequest { project: project.into(), id: id.into() }).await.map_err(control_error)?;
        dashboard_from_pb(reply.into_inner())
    }

    async fn create_dashboard(&self, project: &str, spec: &DashboardSpec) -> Result<Dashboard, ControlError> {
        let req = pb::CreateDashboardRequest { project: project.into(), spec_json: spec_json(spec)? };
        dashboard_from_pb(self.client().create_dashboard(req).await.map_err(control_error)?.into_inner())
    }

    async fn update_dashboard(&self, project: &str, id: &str, version: u64, spec: &DashboardSpec) -> Result<Dashboard, ControlError> {
        let req = pb::UpdateDashboardRequest { project: project.into(), id: id.into(), version, spec_json: spec_json(spec)? };
        dashboard_from_pb(self.client().update_dashboard(req).await.map_err(control_error)?.into_inner())
    }

    async fn delete_dashboard(&self, project: &str, id: &str) -> Result<(), ControlError> {
        self.client().delete_dashboard(pb::DashboardRequest { project: project.into(), id: id.into() }).await.map_err(control_error)?;
        Ok(())
    }

    async fn export_dashboard(&self, project: &str, id: &str) -> Result<String, ControlError> {
        let reply = self.client().export_dashboard(pb::DashboardRequest { project: project.into(), id: id.into() }).await.map_err(control_error)?;
        Ok(reply.into_inner().document)
    }

    async fn import_dashboard(&self, project: &str, document: &str) -> Result<Dashboard, ControlError> {
        let req = pb::ImportDashboardRequest { project: project.into(), document: document.into() };
        dashboard_from_pb(self.client().import_dashboard(req).await.map_err(control_error)?.into_inner())
    }
}
