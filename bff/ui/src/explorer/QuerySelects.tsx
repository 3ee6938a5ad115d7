// The selects of a metric query that the explorer's query bar and a dashboard widget's
// editor both offer, alike: the window per point ("per 1m", or auto) and how series are
// combined ("each series", or "sum across series"…). Their labels and layout stay the
// callers'.

import { ACROSS_AGGREGATIONS, type AcrossAggregation } from '../api/types';
import { STEPS } from './query';

export function StepSelect({ value, onChange, testid }: { value: string | null; onChange(step: string | null): void; testid: string }) {
  return (
    <select value={value ?? ''} onChange={(e) => onChange((e.target as HTMLSelectElement).value || null)} data-testid={testid}>
      <option value="">auto</option>
      {STEPS.map((s) => (
        <option key={s} value={s}>
          {s}
        </option>
      ))}
    </select>
  );
}

export function AcrossSelect({ value, onChange, testid }: { value: AcrossAggregation | null; onChange(across: AcrossAggregation | null): void; testid: string }) {
  return (
    <select value={value ?? ''} onChange={(e) => onChange(((e.target as HTMLSelectElement).value || null) as AcrossAggregation | null)} data-testid={testid}>
      <option value="">each series</option>
      {ACROSS_AGGREGATIONS.map((a) => (
        <option key={a} value={a}>
          {a.toLowerCase()} across series
        </option>
      ))}
    </select>
  );
}
