// Test helper process: one client fetching a content version into a given cache folder (to run two at once on one cache).

import { readFileSync } from 'node:fs';
import { ApiClient } from '../../src/client/api-client.js';
import { fetchContentVersion } from '../../src/client/content-download.js';

const [server, caFile, token, reference, cacheDir, workDir] = process.argv.slice(2);
if (!server || !caFile || !token || !reference || !cacheDir || !workDir) throw new Error('usage: fetch-child.js SERVER CA TOKEN REFERENCE CACHE WORK');
try {
  const api = await ApiClient.connect(server, { caPem: readFileSync(caFile, 'utf8') });
  const said = new Set<string>();
  const got = await fetchContentVersion(api, token, reference, {
    cacheDir, workDir,
    // Progress labels that are not plain file names (a wait) go to standard error, once each.
    onProgress: (p) => { if (p.file.includes(':') && !said.has(p.file)) { said.add(p.file); process.stderr.write(`${p.file}\n`); } },
  });
  process.stdout.write(`${JSON.stringify({ files: got.files.map((f) => ({ sha256: f.sha256, localPath: f.localPath })) })}\n`);
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exitCode = 1;
}
