// A dashboard's export: the document the server writes (`exportDashboard`), to copy or
// download as a file, for `importDashboard` in this project or another.

import { useServices } from '../app/context';
import { useAsync } from '../app/useAsync';
import { CopyButton } from '../ui/CopyButton';
import { ErrorNotice } from '../ui/ErrorNotice';
import { EXPORT_DASHBOARD, type ExportDashboardData } from './api';
import { Modal } from '../ui/Modal';

/** A file name for a dashboard's export: `checkout-latency.dashboard.json`. */
export function exportFileName(title: string): string {
  const slug = title
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 60);
  return `${slug || 'dashboard'}.dashboard.json`;
}

export function ExportDialog({ project, id, title, onClose }: { project: string; id: string; title: string; onClose(): void }) {
  const { api } = useServices();
  const doc = useAsync((signal) => api.request<ExportDashboardData>(EXPORT_DASHBOARD, { project, id }, { signal }).then((d) => d.exportDashboard), [project, id]);

  const download = () => {
    if (doc.data === undefined) return;
    const url = URL.createObjectURL(new Blob([doc.data], { type: 'application/json' }));
    const a = document.createElement('a');
    a.href = url;
    a.download = exportFileName(title);
    document.body.appendChild(a);
    a.click();
    a.remove();
    window.setTimeout(() => URL.revokeObjectURL(url), 1_000);
  };

  return (
    <Modal
      title={`Export “${title}”`}
      onClose={onClose}
      wide
      testid="export-dialog"
      footer={
        <>
          <span class="muted small">Import it on the Dashboards page of any project.</span>
          <span class="spacer" />
          {doc.data !== undefined && <CopyButton text={doc.data} label="Copy JSON" />}
          <button type="button" class="button primary" onClick={download} disabled={doc.data === undefined} data-testid="export-download">
            Download
          </button>
        </>
      }
    >
      {doc.error && <ErrorNotice error={doc.error} onRetry={doc.reload} title="Could not export the dashboard" />}
      {doc.data === undefined && !doc.error && (
        <p class="muted">
          <span class="spinner" aria-hidden="true" /> Exporting…
        </p>
      )}
      {doc.data !== undefined && <textarea class="dash-json" readOnly value={doc.data} rows={18} spellcheck={false} data-testid="export-json" aria-label="Exported JSON" />}
    </Modal>
  );
}
