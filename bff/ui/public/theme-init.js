// Sets the theme remembered by the UI (see src/app/theme.ts) before the page paints,
// so a dark-mode user never sees a light flash. Keep the key in sync with theme.ts.
(function () {
  try {
    var t = localStorage.getItem('cloudgrid.theme');
    if (t === 'dark' || t === 'light') document.documentElement.setAttribute('data-theme', t);
  } catch (e) {
    /* storage may be disabled; the system preference applies */
  }
})();
