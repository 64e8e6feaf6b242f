// Benchmark helper process: a bare fastify HTTPS route returning a fixed JSON body, the baseline for protected reads.

import { readFileSync } from 'node:fs';
import Fastify from 'fastify';

const [certFile, keyFile, bodyFile] = process.argv.slice(2);
if (!certFile || !keyFile || !bodyFile) throw new Error('usage: bare-server.js CERT KEY BODY.json');
const body = JSON.parse(readFileSync(bodyFile, 'utf8')) as unknown;
const app = Fastify({ https: { cert: readFileSync(certFile), key: readFileSync(keyFile) } });
app.get('/v1/task-sequences', async () => body);
await app.listen({ port: 0, host: '127.0.0.1' });
process.send?.({ port: (app.server.address() as { port: number }).port });
process.on('message', (m) => { if (m === 'stop') void app.close().then(() => process.disconnect?.()); });
