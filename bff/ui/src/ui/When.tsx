// An instant shown in the browser's zone with how long ago (or until) as its tooltip, or
// the other way round; a dash when there is none.

import { formatDateTime } from '../time/format';
import { relativeTime, type RelativeStyle } from '../time/relative';

export function When({ ms, now, relative = false, style }: { ms: number | null; now: number; relative?: boolean; style?: RelativeStyle }) {
  if (ms === null) return <span class="muted">—</span>;
  const abs = formatDateTime(ms, { seconds: false });
  const rel = relativeTime(ms, now, style);
  return (
    <time dateTime={new Date(ms).toISOString()} title={relative ? abs : rel}>
      {relative ? rel : abs}
    </time>
  );
}
