// `npm run bench`: runs every benchmark in bench/ (files named *.bench.js after the build), one after another.

import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join } from 'node:path';

const dir = fileURLToPath(new URL('.', import.meta.url));
const only = process.argv[2];
const benches = readdirSync(dir).filter((f) => f.endsWith('.bench.js') && (!only || f.includes(only))).sort();
if (benches.length === 0) console.log('No benchmarks found.');
for (const file of benches) {
  console.log(`\n=== ${file} ===`);
  const mod = (await import(pathToFileURL(join(dir, file)).href)) as { run?: () => Promise<void> };
  if (typeof mod.run === 'function') await mod.run();
}
