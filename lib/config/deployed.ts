// The config the deployed functions serve (lib/config/index.ts imports it). Written at build time by
// bin/deployed-config.mjs (vercel.json "buildCommand") for the file OPSBOOK_CONFIG names; committed as
// written without it. A literal import, so Vercel bundles that file into the functions.
export { default } from '../../opsbook.config.js';
/** That file, from the project root: the name Opsbook's messages give the config. */
export const deployedConfigFile = 'opsbook.config.ts';
