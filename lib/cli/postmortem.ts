import { createDeps } from '../deps.js';
import { getEnv } from '../env.js';
import { renderPostmortem } from '../incidents/postmortem.js';
import { incidentById } from '../incidents/read.js';

export const POSTMORTEM_USAGE = `Usage:
  opsbook postmortem <incident id>
      Print the post-mortem draft of an incident as Markdown (the same text as
      GET /api/incidents/<id>/postmortem), e.g.
        npx opsbook postmortem 42 > incidents/2026-12-02-db-locks.md
      Reads the database of DATABASE_URL directly. The ids: GET /api/incidents.`;

/** `opsbook postmortem <id>`: the draft on stdout, so a redirect writes the file. Returns the exit code. */
export async function postmortemCommand(id: string | undefined, out: (l: string) => void, err: (l: string) => void): Promise<number> {
  if (id === undefined || !/^[1-9][0-9]{0,15}$/.test(id) || !Number.isSafeInteger(Number(id))) {
    err(`${id === undefined ? 'Which incident?' : `"${id.slice(0, 40)}" is not an incident id:`} give its number, e.g. opsbook postmortem 42 (GET /api/incidents lists them).`);
    return 2;
  }
  const deps = await createDeps(getEnv());
  try {
    // An unknown id is an OpsbookError (NOT_FOUND): main prints its message and exits 1.
    const incident = await incidentById(deps.db, Number(id));
    out(renderPostmortem(incident).replace(/\n$/, ''));
    return 0;
  } finally {
    await Promise.allSettled([deps.db.close(), deps.redis.close(), deps.errors.flush()]);
  }
}
