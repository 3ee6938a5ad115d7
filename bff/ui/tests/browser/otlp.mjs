// Sending test data the way any OpenTelemetry exporter does: OTLP/HTTP JSON.

/** The instrumentation scope the test's metrics come from. */
export const SCOPE = 'cloudgrid-ui-browser-test';

/** Unix ms as OTLP's `timeUnixNano` string. */
export function nanos(ms) {
  return `${BigInt(Math.round(ms)) * 1_000_000n}`;
}

/**
 * A gauge with several series.
 * @param {{ name: string, unit?: string, description?: string, service?: string,
 *           series: { attributes: Record<string, string>, points: { timeMs: number, value: number }[] }[] }} gauge
 */
export function gaugePayload({ name, unit = '', description = '', service = 'ui-test', series }) {
  return {
    resourceMetrics: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
        scopeMetrics: [
          {
            scope: { name: SCOPE },
            metrics: [
              {
                name,
                unit,
                description,
                gauge: {
                  dataPoints: series.flatMap((s) =>
                    s.points.map((p) => ({
                      timeUnixNano: nanos(p.timeMs),
                      asDouble: p.value,
                      attributes: Object.entries(s.attributes).map(([key, v]) => ({ key, value: { stringValue: v } })),
                    })),
                  ),
                },
              },
            ],
          },
        ],
      },
    ],
  };
}

export async function sendMetrics(server, payload) {
  const res = await fetch(`${server.otlpUrl}/v1/metrics`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${server.ingestKey}` },
    body: JSON.stringify(payload),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`OTLP export refused: ${res.status} ${text}`);
  const answer = text ? JSON.parse(text) : {};
  if (answer.partialSuccess?.rejectedDataPoints) throw new Error(`OTLP export partly rejected: ${text}`);
}

/** A GraphQL query straight to the BFF (to wait until data is queryable). */
export async function graphql(server, query, variables = {}) {
  const res = await fetch(`${server.baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  const answer = await res.json();
  if (answer.errors?.length) throw new Error(answer.errors.map((e) => e.message).join('; '));
  return answer.data;
}
