//! Alert rule previews: what a rule (saved or being written) would have done over a
//! past range, from the finest tier's buckets as alert evaluation sees them (see
//! [`cloudgrid_operators::alert::preview`]).

use std::time::Duration;

use cloudgrid_operators::alert::RuleSpec;
use cloudgrid_operators::alert::eval::Cell;
use cloudgrid_operators::alert::preview::{Preview, lookback_steps, preview};

use crate::StorageRead;
use crate::metrics::QueryError;

/// The longest range a preview covers.
pub const MAX_PREVIEW_RANGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// Most points (groups × steps) one preview answers.
pub const MAX_PREVIEW_POINTS: usize = 200_000;

impl StorageRead {
    /// Rule `spec` of `project` over `[from, to]` (unix ns): each group's value and state
    /// per evaluation step (the finest rollup tier's width), from an inactive start.
    pub async fn preview_alert(&self, project: &str, spec: &RuleSpec, from: u64, to: u64) -> Result<Preview, QueryError> {
        let rule = spec.check().map_err(|e| QueryError::Invalid(e.to_string()))?;
        if from >= to {
            return Err(QueryError::Invalid("`from` must be before `to`".into()));
        }
        if to - from > MAX_PREVIEW_RANGE.as_nanos() as u64 {
            return Err(QueryError::Invalid("a preview covers at most 7d; choose a shorter range".into()));
        }
        let step = self.alert_step;
        let step_ns = step.as_nanos() as u64;
        let start = (from / step_ns).saturating_sub(lookback_steps(&rule, step)) * step_ns;
        // Through the end of the step `to` falls in (evaluation counts a step being filled).
        let until = to.div_ceil(step_ns).saturating_mul(step_ns);
        let data = self.store.alert_backfill(project, &spec.metric, start, until).await?;
        let cells: Vec<(u64, u64, Cell)> = data
            .numbers
            .iter()
            .map(|(s, b, agg)| (*s, *b, Cell::of_agg(agg)))
            .chain(data.histograms.iter().map(|(s, b, agg)| (*s, *b, Cell::of_hist_agg(agg))))
            .collect();
        // Feeding the evaluator step by step is CPU work: off the async workers.
        let p = tokio::task::spawn_blocking(move || preview(&rule, step, &data.series, &cells, from, to))
            .await
            .map_err(|e| QueryError::Unavailable(format!("the preview stopped: {e}")))?;
        bounded(p)
    }
}

/// The preview, unless it holds more points than one answer may.
fn bounded(p: Preview) -> Result<Preview, QueryError> {
    let points: usize = p.groups.iter().map(|g| g.points.len()).sum();
    if points > MAX_PREVIEW_POINTS {
        return Err(QueryError::Invalid(format!(
            "the preview would hold {points} points ({} groups), more than {MAX_PREVIEW_POINTS}; choose a shorter range or group by fewer labels",
            p.groups.len() + p.more_groups
        )));
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use cloudgrid_operators::alert::eval::AlertState;
    use cloudgrid_operators::alert::preview::{PreviewGroup, PreviewPoint};

    use super::*;

    fn preview_of(groups: usize, points: usize) -> Preview {
        let point = PreviewPoint { at_unix_nano: 0, value: Some(1.0), state: AlertState::Inactive };
        let group = PreviewGroup { labels: Default::default(), points: vec![point; points] };
        Preview { step_ns: 60_000_000_000, groups: vec![group; groups], more_groups: 0 }
    }

    #[test]
    fn an_answer_holds_a_bounded_number_of_points() {
        assert!(bounded(preview_of(2, MAX_PREVIEW_POINTS / 2)).is_ok());
        match bounded(preview_of(2, MAX_PREVIEW_POINTS / 2 + 1)) {
            Err(QueryError::Invalid(m)) => assert!(m.starts_with("the preview would hold 200002 points (2 groups)"), "{m}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
}
