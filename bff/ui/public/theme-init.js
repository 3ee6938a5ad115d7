// Sets the theme remembered by the UI (see src/app/theme.ts) before the page paints,
// so a dark-mode user never sees a light flash. Keep the key in sync with theme.ts.
(function () {
  var t = null;
  try {
    t = localStorage.getItem('cloudgrid.theme');
    if (t !== 'dark' && t !== 'light') t = null;
  } catch (e) {
    /* storage may be disabled; the system preference applies */
  }
  // Without a choice, the system's preference: the stylesheet has one light palette,
  // chosen by this attribute alone.
  if (!t) t = window.matchMedia && window.matchMedia('(prefers-color-scheme: light)').matches ? 'light' : 'dark';
  document.documentElement.setAttribute('data-theme', t);
})();
