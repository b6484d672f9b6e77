/**
 * Child-process helper: a legacy OpenClaw protocol v4 client (the old CLI's way in)
 * that connects to a bridge with the shared token only, calls one method and prints
 * one JSON line: { hello: <connect response>, res: <method response> }. Exits 0 when
 * both succeeded, 1 otherwise. Run inside a network namespace by the e2e tests.
 *
 * Usage: node legacy-probe.js <ws-url> <token-file> <method> [params-json]
 */
import { readFileSync } from 'node:fs';
import { connectParams, LegacyClient } from '../bridge/legacy-client';

async function main(): Promise<number> {
  const [url, tokenFile, method, paramsJson] = process.argv.slice(2);
  if (!url || !tokenFile || !method) {
    process.stderr.write('usage: legacy-probe <ws-url> <token-file> <method> [params-json]\n');
    return 2;
  }
  const token = readFileSync(tokenFile, 'utf8').trim();
  const client = await LegacyClient.open(url);
  try {
    await client.challenge();
    const hello = await client.request('connect', connectParams({ auth: { token } }));
    const res = hello.ok ? await client.request(method, paramsJson ? JSON.parse(paramsJson) : {}) : undefined;
    process.stdout.write(JSON.stringify({ hello, res }) + '\n');
    return hello.ok && res?.ok ? 0 : 1;
  } finally {
    await client.close();
  }
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    process.stderr.write(`legacy-probe: ${(err as Error).message}\n`);
    process.exitCode = 1;
  },
);
