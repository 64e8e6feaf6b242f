// Profiling aid (not a benchmark of its own): one client fetch of a content version from a running service, for `node --cpu-prof`. Usage: node dist/bench/profile-client.js URL CAFILE TOKEN ID DIR

import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ApiClient } from '../src/client/api-client.js';
import { fetchContentVersion } from '../src/client/content-download.js';

const [url, caFile, token, id, dir] = process.argv.slice(2) as [string, string, string, string, string];
const api = await ApiClient.connect(url, { caPem: readFileSync(caFile, 'utf8') });
rmSync(dir, { recursive: true, force: true });
const started = performance.now();
const cpu = process.cpuUsage();
await fetchContentVersion(api, token, id, { cacheDir: join(dir, 'cache'), workDir: join(dir, 'work') });
const used = process.cpuUsage(cpu);
console.log(`${((performance.now() - started) / 1000).toFixed(2)} s wall, ${((used.user + used.system) / 1e6).toFixed(2)} s CPU (user ${(used.user / 1e6).toFixed(2)}, system ${(used.system / 1e6).toFixed(2)})`);
