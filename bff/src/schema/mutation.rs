//! Mutations: dashboards.

use async_graphql::{Context, Json, Object, Result};
use cloudgrid_control::dashboards::DashboardSpec;
use serde_json::Value as J;

use super::query::{Dashboard, dashboard};
use super::{backends, from_control, invalid, who};

#[derive(Default)]
pub struct DashboardMutation;

fn spec(doc: J) -> Result<DashboardSpec> {
    serde_json::from_value(doc).map_err(|e| invalid(format!("not a dashboard document: {e}")))
}

#[Object]
impl DashboardMutation {
    /// Creates a dashboard from its document: `{title, variables, widgets}`.
    async fn create_dashboard(&self, ctx: &Context<'_>, project: String, spec: Json<J>) -> Result<Dashboard> {
        let spec = self::spec(spec.0)?;
        backends(ctx).control.create_dashboard(&who(ctx), &project, &spec).await.map(dashboard).map_err(from_control)
    }

    /// Replaces a dashboard's document. `version` is the one the change was made
    /// against; if someone saved since, the answer is a `CONFLICT` error.
    async fn update_dashboard(
        &self,
        ctx: &Context<'_>,
        project: String,
        id: String,
        version: u64,
        spec: Json<J>,
    ) -> Result<Dashboard> {
        let spec = self::spec(spec.0)?;
        backends(ctx).control.update_dashboard(&who(ctx), &project, &id, version, &spec).await.map(dashboard).map_err(from_control)
    }

    /// Deletes a dashboard; answers its id.
    async fn delete_dashboard(&self, ctx: &Context<'_>, project: String, id: String) -> Result<String> {
        backends(ctx).control.delete_dashboard(&who(ctx), &project, &id).await.map_err(from_control)?;
        Ok(id)
    }

    /// Creates a dashboard from an exported document (JSON text).
    async fn import_dashboard(&self, ctx: &Context<'_>, project: String, document: String) -> Result<Dashboard> {
        backends(ctx).control.import_dashboard(&who(ctx), &project, &document).await.map(dashboard).map_err(from_control)
    }
}
