import * as z from 'zod';

/** `GET /api/reports/latest?checklist=daily[&format=text]` */
export const latestReportQuery = z.strictObject({
  checklist: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'a checklist id'),
  format: z.enum(['html', 'text']).default('html'),
});

/** `GET /api/reports/<id>[?format=text]` (the id arrives as a query parameter on Vercel). */
export const reportByIdQuery = z.strictObject({
  id: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  format: z.enum(['html', 'text']).default('html'),
});
