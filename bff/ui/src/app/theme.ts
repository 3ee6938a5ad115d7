// Dark and light themes: CSS variables switched by `data-theme` on <html>. Without a
// choice the system's preference applies; a choice is
// remembered in localStorage. public/theme-init.js applies it before the first paint.

import { useEffect, useState } from 'preact/hooks';

export type Theme = 'dark' | 'light';
export const THEME_KEY = 'cloudgrid.theme';

function systemTheme(): Theme {
  return window.matchMedia?.('(prefers-color-scheme: light)').matches ? 'light' : 'dark';
}

function storedTheme(): Theme | null {
  try {
    const t = localStorage.getItem(THEME_KEY);
    return t === 'dark' || t === 'light' ? t : null;
  } catch {
    return null;
  }
}

export function currentTheme(): Theme {
  return storedTheme() ?? systemTheme();
}

export function useTheme(): [Theme, () => void] {
  const [theme, setTheme] = useState<Theme>(currentTheme);
  useEffect(() => {
    document.documentElement.setAttribute('data-theme', theme);
  }, [theme]);
  const toggle = () => {
    const next: Theme = theme === 'dark' ? 'light' : 'dark';
    // Set at once, not in the effect: the chart rebuilds during this render and reads
    // its colours from the CSS variables the attribute selects.
    document.documentElement.setAttribute('data-theme', next);
    try {
      localStorage.setItem(THEME_KEY, next);
    } catch {
      /* not remembered, still switched */
    }
    setTheme(next);
  };
  return [theme, toggle];
}
