/**
 * Bundling a function the way it is shipped, and reading esbuild's metafile to say what a cold start
 * loads. Shared by the benchmarks that look at cold starts and bundle contents.
 */
import { resolve } from 'node:path';
import { build, type Metafile } from 'esbuild';

/**
 * esbuild's ESM output turns `require('fs')` from bundled CommonJS packages into a call that throws
 * ("Dynamic require of … is not supported"); give every chunk a real `require`, as Vercel's own ESM
 * bundling does. Node built-ins stay external (platform: node), everything from npm is bundled.
 */
const REQUIRE_SHIM = "import { createRequire as __benchCreateRequire } from 'node:module'; const require = __benchCreateRequire(import.meta.url);";

export interface BundleResult {
  /** Absolute path of the entry chunk. */
  entryFile: string;
  /** Output key of the entry chunk in the metafile (relative to absWorkingDir). */
  entryOutput: string;
  metafile: Metafile;
  /** Absolute path of the output directory. */
  outdir: string;
}

/**
 * Bundle one entry to `outdir` as ESM for Node 20, with code splitting: a dynamic `import()` stays a
 * separate chunk that Node loads only when that line runs, as an unbundled deployment would.
 */
export async function bundleFunction(opts: {
  entry: string;
  outdir: string;
  /** Where relative entry paths and the metafile's paths are rooted. */
  workingDir: string;
  /** Extra node_modules folders, for an entry that lives outside the repository. */
  nodePaths?: string[];
}): Promise<BundleResult> {
  const result = await build({
    entryPoints: { index: opts.entry },
    absWorkingDir: opts.workingDir,
    nodePaths: opts.nodePaths,
    outdir: opts.outdir,
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outExtension: { '.js': '.mjs' },
    banner: { js: REQUIRE_SHIM },
    metafile: true,
    // Not minified: neither Vercel's Node runtime nor `vercel build` minifies a function.
    minify: false,
    sourcemap: false,
    logLevel: 'silent',
  });
  if (result.errors.length > 0) throw new Error(`esbuild failed for ${opts.entry}: ${result.errors.map((e) => e.text).join('; ')}`);
  const entries = Object.entries(result.metafile.outputs).filter(([out]) => /(^|\/)index\.mjs$/.test(out));
  if (entries.length !== 1) throw new Error(`expected one entry chunk for ${opts.entry}, found ${entries.length}`);
  const [entryOutput] = entries[0]!;
  return { entryFile: resolve(opts.workingDir, entryOutput), entryOutput, metafile: result.metafile, outdir: opts.outdir };
}

/**
 * The chunks Node loads when `start` is imported: `start` and everything it reaches through static
 * `import` statements. Chunks behind a dynamic `import()` are not in it.
 */
export function eagerChunks(metafile: Metafile, start: string): string[] {
  const seen = new Set<string>();
  const queue = [start];
  while (queue.length > 0) {
    const out = queue.pop()!;
    if (seen.has(out)) continue;
    seen.add(out);
    for (const imp of metafile.outputs[out]?.imports ?? []) {
      if (imp.kind === 'import-statement' && !imp.external && metafile.outputs[imp.path]) queue.push(imp.path);
    }
  }
  return [...seen];
}

/** The output chunk whose entry point is `input` (a module reached through a dynamic import). */
export function chunkOf(metafile: Metafile, input: string): string | undefined {
  return Object.entries(metafile.outputs).find(([, o]) => o.entryPoint === input)?.[0];
}

export interface PackageBytes {
  /** npm package name, or "(app)" for the repository's own files. */
  pkg: string;
  bytes: number;
  files: number;
}

/** The npm package an input path belongs to (the innermost node_modules wins). */
export function packageOf(input: string): string {
  const m = /.*node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
  return m ? m[1]! : '(app)';
}

/** Bytes of output per input file, over a set of chunks. */
export function inputBytes(metafile: Metafile, chunks: readonly string[]): Map<string, number> {
  const bytes = new Map<string, number>();
  for (const chunk of chunks) {
    for (const [input, { bytesInOutput }] of Object.entries(metafile.outputs[chunk]?.inputs ?? {})) {
      bytes.set(input, (bytes.get(input) ?? 0) + bytesInOutput);
    }
  }
  return bytes;
}

/** Output bytes per npm package, largest first. */
export function packageBytes(metafile: Metafile, chunks: readonly string[]): PackageBytes[] {
  const byPkg = new Map<string, PackageBytes>();
  for (const [input, bytes] of inputBytes(metafile, chunks)) {
    if (bytes === 0) continue;
    const pkg = packageOf(input);
    const entry = byPkg.get(pkg) ?? { pkg, bytes: 0, files: 0 };
    entry.bytes += bytes;
    entry.files += 1;
    byPkg.set(pkg, entry);
  }
  return [...byPkg.values()].sort((a, b) => b.bytes - a.bytes);
}

/** Total size of a set of chunks, bytes. */
export function chunkBytes(metafile: Metafile, chunks: readonly string[]): number {
  return chunks.reduce((sum, c) => sum + (metafile.outputs[c]?.bytes ?? 0), 0);
}

export function kb(bytes: number): number {
  return Math.round(bytes / 102.4) / 10;
}

/** The shortest chain of static imports from `from` to `to` (input paths), or undefined if none. */
export function importChain(metafile: Metafile, from: string, to: string): string[] | undefined {
  const prev = new Map<string, string | null>([[from, null]]);
  const queue = [from];
  while (queue.length > 0) {
    const current = queue.shift()!;
    if (current === to) break;
    for (const imp of metafile.inputs[current]?.imports ?? []) {
      if (imp.kind !== 'import-statement' || imp.external || prev.has(imp.path)) continue;
      prev.set(imp.path, current);
      queue.push(imp.path);
    }
  }
  if (!prev.has(to)) return undefined;
  const chain: string[] = [];
  for (let at: string | null | undefined = to; at; at = prev.get(at)) chain.unshift(at);
  return chain;
}

/**
 * The files outside `pkg` that statically import a file of `pkg`, among `inputs`: who brings a package
 * into a graph.
 */
export function importersOf(metafile: Metafile, pkg: string, inputs: Iterable<string>): string[] {
  const found = new Set<string>();
  for (const input of inputs) {
    if (packageOf(input) === pkg) continue;
    for (const imp of metafile.inputs[input]?.imports ?? []) {
      if (imp.kind === 'import-statement' && !imp.external && packageOf(imp.path) === pkg) found.add(input);
    }
  }
  return [...found].sort();
}
