import { describe, expect, it } from 'vitest';
import type { Metric, Project } from '../../src/api/types';
import { chooseProject, groupProjects } from '../../src/app/projects';
import { envSnippet, otlpEndpoint, pythonSnippet } from '../../src/ui/otlp';
import { searchMetrics } from '../../src/explorer/MetricList';

const metric = (name: string, description = ''): Metric => ({ name, description, kind: 'gauge', temporality: 'unspecified', unit: '', series: 1 });
const project = (id: string, companyId: string, name = id): Project => ({ id, companyId, name, slug: id, timeZone: 'UTC', role: 'OWNER' });

describe('metric search', () => {
  const all = [metric('http.server.duration'), metric('process.cpu', 'CPU used by the http server'), metric('db.http_pool.size'), metric('http.client.duration')];

  it('puts names starting with the text first, then names containing it, then descriptions', () => {
    expect(searchMetrics(all, 'http').map((m) => m.name)).toEqual(['http.client.duration', 'http.server.duration', 'db.http_pool.size', 'process.cpu']);
  });

  it('ignores case and surrounding space, and lists everything for no text', () => {
    expect(searchMetrics(all, '  HTTP.S ').map((m) => m.name)).toEqual(['http.server.duration']);
    expect(searchMetrics(all, '')).toBe(all);
    expect(searchMetrics(all, 'nothing')).toEqual([]);
  });
});

describe('projects', () => {
  const projects = [project('default', 'default', 'Default project'), project('p2', 'default', 'Shop'), project('p3', 'acme', 'Acme prod')];

  it('shows the URL’s project when the caller reaches it (by id or slug)', () => {
    expect(chooseProject('p2', projects)).toBe('p2');
    expect(chooseProject('p3', projects)).toBe('p3');
  });

  it('falls back to default, else the first project, else none', () => {
    expect(chooseProject(null, projects)).toBe('default');
    expect(chooseProject('gone', projects)).toBe('default');
    expect(chooseProject(null, [project('x', 'c')])).toBe('x');
    expect(chooseProject('x', [])).toBeNull();
  });

  it('groups projects under their company’s name', () => {
    const companies = [
      { id: 'default', name: 'Default company', role: 'OWNER' as const },
      { id: 'acme', name: 'Acme', role: 'VIEWER' as const },
    ];
    expect(groupProjects(projects, companies).map((g) => [g.company, g.projects.map((p) => p.id)])).toEqual([
      ['Default company', ['default', 'p2']],
      ['Acme', ['p3']],
    ]);
  });
});

describe('the empty state', () => {
  it('gives Python programs that export spans and log records', () => {
    const traces = pythonSnippet('traces', 'http://h:4318');
    expect(traces).toContain('from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter');
    expect(traces).toContain('exporter = OTLPSpanExporter(endpoint="http://h:4318/v1/traces",\n                            headers=');
    const logs = pythonSnippet('logs', 'http://h:4318');
    expect(logs).toContain('OTLPLogExporter(endpoint="http://h:4318/v1/logs"');
    expect(logs).toContain('logging.getLogger("shop").warning');
    expect(logs.trimEnd().endsWith('provider.shutdown()')).toBe(true);
  });

  it('points at the OTLP endpoint on this host', () => {
    expect(otlpEndpoint('127.0.0.1')).toBe('http://127.0.0.1:4318');
    expect(otlpEndpoint('grid.example.com')).toBe('http://grid.example.com:4318');
    expect(otlpEndpoint('::1')).toBe('http://[::1]:4318');
    // The deployment's own answer wins over the guess.
    expect(otlpEndpoint('grid.example.com', 'https://otlp.example.com')).toBe('https://otlp.example.com');
    expect(otlpEndpoint('grid.example.com', null)).toBe('http://grid.example.com:4318');
  });

  it('gives a Python program that exports metrics with the ingest key', () => {
    const py = pythonSnippet('metrics', 'http://grid.example.com:4318');
    expect(py).toContain('OTLPMetricExporter(endpoint="http://grid.example.com:4318/v1/metrics"');
    expect(py).toContain('{"authorization": "Bearer " + key}');
    expect(py).toContain('provider.shutdown()');
    expect(py.split('\n')[0]).toBe('# pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http');
    expect(envSnippet('http://h:4318')).toBe('OTEL_EXPORTER_OTLP_ENDPOINT=http://h:4318 OTEL_EXPORTER_OTLP_HEADERS="authorization=Bearer <ingest key>"');
  });
});
