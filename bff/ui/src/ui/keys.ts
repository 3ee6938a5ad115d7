// Keyboard use of a clickable row (role="button" on a list row): Enter or Space on the
// row itself activates it; the same keys on a link or button inside it are theirs.

/** Whether a key press activates the row it was handled on (not a control nested in it). */
export function activatesRow(e: Pick<KeyboardEvent, 'key' | 'target' | 'currentTarget'>): boolean {
  if (e.target !== e.currentTarget) return false;
  return e.key === 'Enter' || e.key === ' ';
}
