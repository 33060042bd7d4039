import type { CheckFamily } from './types.js';

/** Placeholder: this family's checks are being written. */
export const family: CheckFamily = {
  family: 'http',
  checks: () => [],
};
