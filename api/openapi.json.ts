import { json, route } from '../lib/http.js';
import { openApiDocument } from '../lib/openapi.js';

/** GET /api/openapi.json — public: it documents the routes and holds no data. Built from lib/admin/registry.ts. */
export const GET = route(async (_request, requestId) => json(openApiDocument(), { requestId }));
