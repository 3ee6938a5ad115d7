//! The metric explorer: which metrics a project has, their labels and label values with
//! cardinality (for a metric or a selector), and the series a selector picks.

use std::collections::BTreeMap;
use std::sync::Arc;

use cloudgrid_operators::catalog::Matcher;
use cloudgrid_operators::records::{MetricKind, Temporality};
use cloudgrid_sinks::SinkError;

use crate::catalogs::Catalogs;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricSummary {
    pub name: String,
    pub kind: MetricKind,
    pub temporality: Temporality,
    pub unit: String,
    pub description: String,
    pub series: u64,
}

/// A page of the series a selector picks: how many there are, and the first ones with
/// their labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesPage {
    pub total: u64,
    pub series: Vec<(u64, BTreeMap<String, String>)>,
}

#[derive(Debug, Clone)]
pub struct Explorer {
    catalogs: Arc<Catalogs>,
}

impl Explorer {
    pub fn new(catalogs: Arc<Catalogs>) -> Self {
        Self { catalogs }
    }

    /// Every metric of the project, by name.
    pub async fn metrics(&self, project: &str) -> Result<Vec<MetricSummary>, SinkError> {
        let catalog = self.catalogs.get(project).await?;
        Ok(catalog
            .metrics()
            .into_iter()
            .map(|(m, series)| MetricSummary {
                name: m.name.clone(),
                kind: m.kind,
                temporality: m.temporality,
                unit: m.unit.clone(),
                description: m.description.clone(),
                series,
            })
            .collect())
    }

    /// Label names (besides the metric name) with how many values each has.
    pub async fn label_names(&self, project: &str, metric: Option<&str>) -> Result<Vec<(String, u64)>, SinkError> {
        Ok(self.catalogs.get(project).await?.label_names(metric))
    }

    /// Values of `label` with how many series carry each, among the series `metric` and
    /// `matchers` select.
    pub async fn label_values(
        &self,
        project: &str,
        label: &str,
        metric: Option<&str>,
        matchers: &[Matcher],
    ) -> Result<Vec<(String, u64)>, SinkError> {
        Ok(self.catalogs.get(project).await?.label_values_matching(label, metric, matchers))
    }

    /// The series `metric` and `matchers` select: how many, and the first `limit` (by
    /// id) with their labels.
    pub async fn series(
        &self,
        project: &str,
        metric: Option<&str>,
        matchers: &[Matcher],
        limit: usize,
    ) -> Result<SeriesPage, SinkError> {
        let ids = self.catalogs.get(project).await?.select_matching(metric, matchers);
        let page: Vec<u64> = ids.iter().take(limit).copied().collect();
        let labels = self.catalogs.series_labels(project, &page).await?;
        Ok(SeriesPage {
            total: ids.len() as u64,
            series: page.into_iter().map(|id| (id, labels.get(&id).map(|l| l.as_ref().clone()).unwrap_or_default())).collect(),
        })
    }
}
