// The FLOOR of a forced pass, written without any of the project's code: the same token
// POSTs at the same concurrency, and per provider 3 atomic write-fsync-rename of a
// record-sized JSON file (lease, state, public record). Nothing else: no config, no
// validation, no lock, no directory fsync. What the project does beyond this is overhead.
//
// The POSTs go out with `node:http` (Node's global agent, keep-alive), the cheapest client
// of the platform and the one the project's transport uses; with `client: "fetch"` they go
// out with the global fetch, the floor of the figures measured before the project left
// fetch (issue 13), kept so that those figures can be compared.
//
//   node floor.mjs <job.json>
// job: { tokenUrl, providers: [{ name, clientId, clientSecret }], concurrency, directory,
//        stateBytes, publicBytes, client?: "node" | "fetch" }
// Exits 1 if any POST fails; prints nothing (never a token or credential).
import { mkdirSync, readFileSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';

const job = JSON.parse(readFileSync(process.argv[2], 'utf8'));

function padded(bytes, fields) {
  const base = JSON.stringify(fields);
  const filler = Math.max(0, bytes - base.length - 12);
  return JSON.stringify({ ...fields, padding: 'x'.repeat(filler) });
}

async function writeAtomic(file, content) {
  const temp = `${file}.tmp`;
  const handle = await open(temp, 'w', 0o600);
  try {
    await handle.writeFile(content, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, file);
}

const HEADERS = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };

async function viaFetch(body) {
  const response = await fetch(job.tokenUrl, { method: 'POST', headers: HEADERS, body });
  if (!response.ok) throw new Error(`token endpoint answered HTTP ${response.status}`);
  return response.json();
}

function viaNode(body) {
  const payload = Buffer.from(body.toString());
  const headers = { ...HEADERS, 'content-length': String(payload.byteLength) };
  return new Promise((resolve, reject) => {
    const call = request(job.tokenUrl, { method: 'POST', headers }, (incoming) => {
      const chunks = [];
      incoming.on('data', (chunk) => chunks.push(chunk));
      incoming.on('error', reject);
      incoming.on('end', () => {
        if (incoming.statusCode !== 200) reject(new Error(`token endpoint answered HTTP ${incoming.statusCode}`));
        else resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      });
    });
    call.on('error', reject);
    call.end(payload);
  });
}

const post = job.client === 'fetch' ? viaFetch : viaNode;

async function one(provider) {
  const body = new URLSearchParams({
    grant_type: 'client_credentials',
    client_id: provider.clientId,
    client_secret: provider.clientSecret,
  });
  const token = await post(body);
  const issued = new Date().toISOString();
  const state = join(job.directory, 'state', `${provider.name}.json`);
  await writeAtomic(state, padded(job.stateBytes, { lease: { holder: 'floor', until: issued } }));
  await writeAtomic(state, padded(job.stateBytes, { refresh_token: null, issued_at: issued }));
  const record = { access_token: token.access_token, token_type: token.token_type, issued_at: issued };
  await writeAtomic(join(job.directory, 'tokens', `${provider.name}.json`), padded(job.publicBytes, record));
}

mkdirSync(join(job.directory, 'state'), { recursive: true, mode: 0o700 });
mkdirSync(join(job.directory, 'tokens'), { recursive: true, mode: 0o700 });
let next = 0;
async function worker() {
  while (next < job.providers.length) {
    const provider = job.providers[next++];
    await one(provider);
  }
}
await Promise.all(Array.from({ length: Math.min(job.concurrency, job.providers.length) }, worker));
