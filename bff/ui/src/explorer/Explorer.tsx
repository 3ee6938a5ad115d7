// The metric explorer: search a metric on the left, shape the query above the chart.
// Everything the person picks goes into the URL (see state/url.ts); the chart follows
// the URL, so a copied link, Back and Forward all show the same view again.

import { useEffect, useMemo, useState } from 'preact/hooks';
import { LABEL_NAMES, METRICS, type LabelNamesData, type MetricsData } from '../api/operations';
import type { Metric, Project } from '../api/types';
import { useServices } from '../app/context';
import type { Theme } from '../app/theme';
import { useAsync } from '../app/useAsync';
import { unitSuffix } from '../chart/units';
import type { SetAppState } from '../state/useAppState';
import type { AppState } from '../state/url';
import { withLive } from '../state/live';
import { ErrorNotice } from '../ui/ErrorNotice';
import { SendDataHelp } from '../ui/SendDataHelp';
import { MetricList } from './MetricList';
import { buildMetricQuery, describeQuery, EMPTY_QUERY, type ExplorerQuery } from './query';
import { SaveToDashboard } from '../dashboards/SaveToDashboard';
import { QueryEditor } from './QueryEditor';
import { ResultView } from './ResultView';
import { Badge } from '../ui/Badge';

/** How often a project without metrics is checked again. */
const EMPTY_POLL_MS = 5_000;

interface Props {
  state: AppState;
  setState: SetAppState;
  project: Project;
  theme: Theme;
}

export function Explorer({ state, setState, project, theme }: Props) {
  const { api } = useServices();
  const query = state.query;

  const metrics = useAsync(
    (signal) => api.request<MetricsData>(METRICS, { project: project.id }, { signal }).then((d) => d.metrics),
    [project.id],
  );
  const empty = metrics.data !== undefined && metrics.data.length === 0;
  useEffect(() => {
    if (!empty) return;
    const timer = window.setInterval(metrics.reload, EMPTY_POLL_MS);
    return () => window.clearInterval(timer);
  }, [empty, metrics.reload]);

  const metric = metrics.data?.find((m) => m.name === query.metric) ?? null;
  const labelNames = useAsync(
    (signal) =>
      query.metric
        ? api.request<LabelNamesData>(LABEL_NAMES, { project: project.id, metric: query.metric }, { signal }).then((d) => d.labelNames)
        : null,
    [project.id, query.metric],
  );

  const [runNonce, setRunNonce] = useState(0);
  const queryKey = JSON.stringify(query);
  // The query without its range: the range is resolved when it runs.
  const input = useMemo(() => (metric ? buildMetricQuery(query, metric.kind, null) : null), [metric, queryKey]);

  const setQuery = (patch: Partial<ExplorerQuery>) => setState((s) => ({ ...s, query: { ...s.query, ...patch } }));
  const selectMetric = (m: Metric) =>
    // A new metric has other labels: filters and grouping start over; the step stays.
    setState((s) => ({ ...s, query: { ...EMPTY_QUERY, metric: m.name, step: s.query.step } }));
  const onZoom = (from: number, to: number) => setState((s) => ({ ...s, range: { kind: 'absolute', from, to }, live: false }));
  const onLive = (on: boolean) => setState((s) => withLive(s, on));
  const onRefresh = (refresh: string | null) => setState((s) => ({ ...s, refresh }), { replace: true });

  if (!metrics.data) {
    return metrics.error ? (
      <div class="page-pad">
        <ErrorNotice error={metrics.error} onRetry={metrics.reload} title="Could not list the project's metrics" />
      </div>
    ) : (
      <div class="page-pad muted" data-testid="metrics-loading">
        <span class="spinner" aria-hidden="true" /> Loading metrics…
      </div>
    );
  }
  if (empty) return <SendDataHelp signal="metrics" project={project} checking={metrics.loading} />;

  return (
    <div class="explorer">
      <aside class="explorer-side">
        <MetricList metrics={metrics.data} selected={query.metric} onSelect={selectMetric} />
      </aside>
      <div class="explorer-main">
        {metrics.error && <ErrorNotice error={metrics.error} onRetry={metrics.reload} title="Could not refresh the metric list" />}
        {!query.metric && (
          <div class="hint" data-testid="pick-metric">
            <h2>Pick a metric</h2>
            <p class="muted">
              Search the {metrics.data.length} metric{metrics.data.length === 1 ? '' : 's'} of {project.name} on the left, then narrow the series
              with label filters and choose how to aggregate them.
            </p>
          </div>
        )}
        {query.metric && !metric && (
          <div class="notice" data-testid="unknown-metric">
            <strong>{query.metric}</strong> is not a metric of {project.name} (it may have no series left in this project). Pick one on the left.
          </div>
        )}
        {metric && input && (
          <>
            <header class="metric-header">
              <h2 data-testid="metric-title">{metric.name}</h2>
              <Badge class={`kind kind-${metric.kind}`}>{metric.kind.replace('_', ' ')}</Badge>
              {metric.temporality !== 'unspecified' && <span class="muted">{metric.temporality}</span>}
              {unitSuffix(metric.unit) && <span class="unit">{unitSuffix(metric.unit)}</span>}
              <span class="muted">{metric.series} series</span>
              {metric.description && <p class="metric-description">{metric.description}</p>}
            </header>
            {labelNames.error && <ErrorNotice error={labelNames.error} onRetry={labelNames.reload} title="Could not list the labels" />}
            <QueryEditor
              project={project.id}
              metric={metric}
              query={query}
              labelNames={labelNames.data ?? []}
              live={state.live}
              refresh={state.refresh}
              onChange={setQuery}
              onRun={() => setRunNonce((n) => n + 1)}
              onLive={onLive}
              onRefresh={onRefresh}
              actions={<SaveToDashboard project={project} query={query} range={state.range} setState={setState} />}
            />
            <ResultView
              project={project.id}
              metric={metric}
              input={input}
              description={describeQuery(query, metric.kind)}
              range={state.range}
              live={state.live}
              refresh={state.refresh}
              theme={theme}
              runNonce={runNonce}
              onZoom={onZoom}
            />
          </>
        )}
      </div>
    </div>
  );
}
