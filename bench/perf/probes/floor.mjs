// The FLOOR of a forced pass, written without any of the project's code: the same token
// POSTs at the same concurrency, and per provider 3 atomic write-fsync-rename of a
// record-sized JSON file (lease, state, public record). Nothing else: no config, no
// validation, no lock, no directory fsync. What the project does beyond this is overhead.
//
//   node floor.mjs <job.json>
// job: { tokenUrl, providers: [{ name, clientId, clientSecret }], concurrency, directory,
//        stateBytes, publicBytes }
// Exits 1 if any POST fails; prints nothing (never a token or credential).
import { mkdirSync, readFileSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
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

async function one(provider) {
  const body = new URLSearchParams({
    grant_type: 'client_credentials',
    client_id: provider.clientId,
    client_secret: provider.clientSecret,
  });
  const response = await fetch(job.tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body,
  });
  if (!response.ok) throw new Error(`token endpoint answered HTTP ${response.status}`);
  const token = await response.json();
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
