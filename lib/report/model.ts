import type { CheckStatus, Hint, Severity } from '../checks/types.js';

/** One automated item's result in a report: a check or a task. */
export interface ReportItem {
  /** Stable key within the checklist: `check:<id>` or `task:<n>:<name>`. */
  key: string;
  kind: 'check' | 'task';
  id: string;
  title: string;
  /** Report area (section), e.g. "Postgres", "Redis", "Queues", "Endpoints", "Heartbeats", "Maintenance". */
  area: string;
  status: CheckStatus;
  severity?: Severity;
  summary: string;
  /** The headline number, kept with the stored result: baselines compare with it. */
  value?: number;
  /** The value's unit ("%", "bytes", "ms"), when the check names one. */
  unit?: string;
  details?: Array<Record<string, unknown>>;
  more?: number;
  hint?: Hint;
  /** Days this item has been failing, when it was failing before this run too. */
  failingDays?: number;
  /** The check standing for what this one needs, when that is down (the root cause). */
  suppressedBy?: string;
}

export interface ManualItem {
  text: string;
  owner?: string;
  link?: string;
  lastDone?: string;
}

/** A dated value for trend bars. */
export interface TrendPoint {
  date: string;
  value: number;
}

/** One metric's daily values for trend bars. */
export interface MetricTrend {
  id: string;
  title: string;
  unit?: string;
  points: TrendPoint[];
}

/**
 * Everything a report shows, computed by the checklist run; rendering is a pure function of this, so
 * the HTML, the text part and the subject always agree.
 */
export interface ReportModel {
  service: string;
  checklist: { id: string; title: string; schedule: string };
  period: string;
  runId: number;
  generatedAt: string;
  /** Runs without storing or sending (CLI --dry-run). */
  dryRun?: boolean;
  counts: Record<CheckStatus, number> & { manual: number };
  transitions: {
    newFailures: ReportItem[];
    recovered: ReportItem[];
    stillFailing: ReportItem[];
  };
  items: ReportItem[];
  trends: {
    /** Database size in bytes, oldest first (up to 30 days). */
    databaseSize?: TrendPoint[];
    /** Slow queries that are new since the previous snapshot. */
    newSlowQueries?: number;
    /** Failed jobs, summed over queues, oldest first. */
    queueFailures?: TrendPoint[];
    /**
     * Pushed heartbeat metrics (`heartbeat.<name>.<metric>`) and SQL metrics (`sql.<id>`): the value
     * each checklist run stored, the latest of each day, oldest first (up to 30 days).
     */
    metrics?: MetricTrend[];
    /** Each heartbeat's last success age. */
    heartbeats?: Array<{ name: string; state: string; lastSuccessAgeSeconds?: number }>;
  };
  manual: ManualItem[];
  links: Record<string, string>;
  /** A maintenance window or other note shown at the top. */
  notes?: string[];
}

export interface RenderedReport {
  subject: string;
  html: string;
  text: string;
}
