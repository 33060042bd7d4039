import { getConfig } from '../../lib/config/index.js';
import { handleCron } from '../../lib/cron.js';
import { getDeps } from '../../lib/deps.js';
import { json, route } from '../../lib/http.js';

/** GET /api/cron/<job> — what Vercel cron calls, with `Authorization: Bearer <CRON_SECRET>`. */
export const GET = route(async (request, requestId) => {
  const url = new URL(request.url);
  // Vercel passes a dynamic segment as a query parameter; the path is the fallback.
  const job = url.searchParams.get('job') ?? decodeURIComponent(url.pathname.split('/').pop() ?? '');
  const result = await handleCron(request, await getDeps(), await getConfig(), job, new Date());
  return json(result, { requestId });
});
