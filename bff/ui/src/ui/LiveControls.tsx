// The controls every data page has at the right of its query bar: the auto-refresh
// interval (off while the view is live) and the Live switch (a subscription that follows
// new data as it is stored). `state/live.ts` says what turning Live on does to the URL.

import { REFRESH_INTERVALS } from '../state/url';

/** "Refresh: off / every 10s…", disabled while the view is live. */
export function RefreshSelect({ value, live, onChange, what = 'Run the query again every…' }: { value: string | null; live: boolean; onChange(refresh: string | null): void; what?: string }) {
  return (
    <label class="field" title={live ? 'Auto-refresh is off while the view is live' : what}>
      <span class="row-label">Refresh</span>
      <select value={value ?? ''} disabled={live} onChange={(e) => onChange((e.target as HTMLSelectElement).value || null)} data-testid="refresh">
        <option value="">off</option>
        {REFRESH_INTERVALS.map((r) => (
          <option key={r} value={r}>
            every {r}
          </option>
        ))}
      </select>
    </label>
  );
}

/** The Live switch. */
export function LiveSwitch({ live, onChange }: { live: boolean; onChange(on: boolean): void }) {
  return (
    <label class={`switch${live ? ' on' : ''}`} title="Follow new data as it is stored (a live subscription)">
      <input type="checkbox" checked={live} onChange={() => onChange(!live)} data-testid="live-toggle" />
      <span class="switch-track" aria-hidden="true" />
      Live
    </label>
  );
}
