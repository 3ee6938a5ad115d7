//! What the BFF asks the control plane: [`ControlApi`], answered in-process by
//! [`ControlPlane`] or across the internal gRPC contract by
//! [`crate::grpc::GrpcControl`].

use async_trait::async_trait;

use crate::dashboards::{Dashboard, DashboardSpec};
use crate::{ControlError, ControlPlane, Project};

#[async_trait]
pub trait ControlApi: Send + Sync + 'static {
    async fn project(&self, id: &str) -> Result<Option<Project>, ControlError>;
    async fn projects(&self) -> Result<Vec<Project>, ControlError>;
    /// (id, title, version) of every dashboard of the project, by title.
    async fn dashboards(&self, project: &str) -> Result<Vec<(String, String, u64)>, ControlError>;
    async fn dashboard(&self, project: &str, id: &str) -> Result<Dashboard, ControlError>;
    async fn create_dashboard(&self, project: &str, spec: &DashboardSpec) -> Result<Dashboard, ControlError>;
    async fn update_dashboard(&self, project: &str, id: &str, version: u64, spec: &DashboardSpec) -> Result<Dashboard, ControlError>;
    async fn delete_dashboard(&self, project: &str, id: &str) -> Result<(), ControlError>;
    async fn export_dashboard(&self, project: &str, id: &str) -> Result<String, ControlError>;
    async fn import_dashboard(&self, project: &str, document: &str) -> Result<Dashboard, ControlError>;
}

#[async_trait]
impl ControlApi for ControlPlane {
    async fn project(&self, id: &str) -> Result<Option<Project>, ControlError> {
        ControlPlane::project(self, id).await
    }
    async fn projects(&self) -> Result<Vec<Project>, ControlError> {
        ControlPlane::projects(self).await
    }
    async fn dashboards(&self, project: &str) -> Result<Vec<(String, String, u64)>, ControlError> {
        ControlPlane::dashboards(self, project).await
    }
    async fn dashboard(&self, project: &str, id: &str) -> Result<Dashboard, ControlError> {
        ControlPlane::dashboard(self, project, id).await
    }
    async fn create_dashboard(&self, project: &str, spec: &DashboardSpec) -> Result<Dashboard, ControlError> {
        ControlPlane::create_dashboard(self, project, spec).await
    }
    async fn update_dashboard(&self, project: &str, id: &str, version: u64, spec: &DashboardSpec) -> Result<Dashboard, ControlError> {
        ControlPlane::update_dashboard(self, project, id, version, spec).await
    }
    async fn delete_dashboard(&self, project: &str, id: &str) -> Result<(), ControlError> {
        ControlPlane::delete_dashboard(self, project, id).await
    }
    async fn export_dashboard(&self, project: &str, id: &str) -> Result<String, ControlError> {
        ControlPlane::export_dashboard(self, project, id).await
    }
    async fn import_dashboard(&self, project: &str, document: &str) -> Result<Dashboard, ControlError> {
        ControlPlane::import_dashboard(self, project, document).await
    }
}
