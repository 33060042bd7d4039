import { fail, ok } from './outcome.js';
import type { CheckFamily } from './types.js';

/**
 * `env.required`: every variable in `checks.requiredEnv` is set in this environment. Only names are
 * read out, never values. Empty or blank counts as unset, as in `parseEnv` (a blank line in a .env file
 * or an empty Vercel variable). With nothing required there is no check, like any family with nothing
 * configured: an always-green row would only add noise.
 */
export const family: CheckFamily = {
  family: 'env',
  checks(config) {
    const required = [...new Set(config.checks.requiredEnv)];
    if (required.length === 0) return [];
    return [
      {
        id: 'env.required',
        title: 'Required environment variables',
        family: 'env',
        // A missing variable usually breaks a feature outright; there is no per-item severity to read.
        severity: 'P2',
        needs: [],
        async run() {
          const missing = required.filter((name) => (process.env[name] ?? '').trim() === '');
          if (missing.length === 0) return ok(`all ${required.length} required variables are set`, { value: 0, unit: 'missing' });
          return fail(`${missing.length} of ${required.length} required variables missing: ${missing.join(', ')}`, {
            value: missing.length,
            unit: 'missing',
            details: missing.map((name) => ({ name, set: false })),
            hint: {
              text: `Set ${missing.join(', ')} for this environment (Vercel: Project → Settings → Environment Variables, then redeploy; locally: .env).`,
            },
          });
        },
      },
    ];
  },
};
