import * as z from 'zod';

/** An instant, as ISO 8601 with its offset (`2026-12-02T09:00:00Z`) or a UTC day (`2026-12-02`). */
const instant = z
  .union([z.iso.datetime({ offset: true }), z.iso.date()])
  .describe('ISO 8601 time with offset (2026-12-02T09:00:00Z) or a UTC day (2026-12-02)');

/** The page cursor: `<opened_at in ms>.<id>` of the last incident of the previous page. */
export const CURSOR = /^(\d{1,16})\.(\d{1,19})$/;

/**
 * `GET /api/incidents?state=open|resolved&since=…&until=…&limit=50&cursor=…` — newest first. The time
 * range selects incidents that were open at some moment in it: opened before `until`, and not resolved
 * before `since`.
 */
export const incidentListQuery = z.strictObject({
  state: z.enum(['open', 'resolved']).optional().describe('open: not resolved yet; resolved: recovered'),
  since: instant.optional(),
  until: instant.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50).describe('Incidents per page (1–200)'),
  cursor: z.string().regex(CURSOR, 'the "next" value of the previous page').optional().describe('The previous page\'s "next"'),
});
export type IncidentListQuery = z.output<typeof incidentListQuery>;

/** `GET /api/incidents/<id>` and `/api/incidents/<id>/postmortem` (the id arrives as a query parameter on Vercel). */
export const incidentByIdQuery = z.strictObject({
  id: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER),
});
