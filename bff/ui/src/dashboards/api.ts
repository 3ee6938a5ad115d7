// The GraphQL documents of the dashboards page and the shapes of their answers. The
// shared ones (metrics, label values, metric queries) are in api/operations.ts.

export interface DashboardEntry {
  id: string;
  title: string;
  version: number;
}

export interface StoredDashboard {
  id: string;
  version: number;
  title: string;
  /** The document (see model.ts `parseSpec`). */
  spec: unknown;
}

const DASHBOARD_FIELDS = 'id version title spec';

export const DASHBOARDS = /* GraphQL */ `
  query Dashboards($project: String!) {
    dashboards(project: $project) { id title version }
  }
`;
export interface DashboardsData {
  dashboards: DashboardEntry[];
}

export const DASHBOARD = /* GraphQL */ `
  query Dashboard($project: String!, $id: String!) {
    dashboard(project: $project, id: $id) { ${DASHBOARD_FIELDS} }
  }
`;
export interface DashboardData {
  dashboard: StoredDashboard;
}

export const CREATE_DASHBOARD = /* GraphQL */ `
  mutation CreateDashboard($project: String!, $spec: JSON!) {
    createDashboard(project: $project, spec: $spec) { ${DASHBOARD_FIELDS} }
  }
`;
export interface CreateDashboardData {
  createDashboard: StoredDashboard;
}

export const UPDATE_DASHBOARD = /* GraphQL */ `
  mutation UpdateDashboard($project: String!, $id: String!, $version: Int!, $spec: JSON!) {
    updateDashboard(project: $project, id: $id, version: $version, spec: $spec) { ${DASHBOARD_FIELDS} }
  }
`;
export interface UpdateDashboardData {
  updateDashboard: StoredDashboard;
}

export const DELETE_DASHBOARD = /* GraphQL */ `
  mutation DeleteDashboard($project: String!, $id: String!) {
    deleteDashboard(project: $project, id: $id)
  }
`;

export const EXPORT_DASHBOARD = /* GraphQL */ `
  query ExportDashboard($project: String!, $id: String!) {
    exportDashboard(project: $project, id: $id)
  }
`;
export interface ExportDashboardData {
  exportDashboard: string;
}

export const IMPORT_DASHBOARD = /* GraphQL */ `
  mutation ImportDashboard($project: String!, $document: String!) {
    importDashboard(project: $project, document: $document) { ${DASHBOARD_FIELDS} }
  }
`;
export interface ImportDashboardData {
  importDashboard: StoredDashboard;
}

// The alert documents (active alerts, their live transitions, the rules) are the alerts
// page's: see ../alerts/api.ts.
