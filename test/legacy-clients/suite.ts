/**
 * Setup shared by the legacy-clients test files: the real clients (installed on first
 * use), our gateway in-process with its legacy bridge on a free port (real gRPC over
 * mTLS on 127.0.0.1:0 underneath), our own `openclaw-cli` for the operator's side, and
 * fresh homes for each real client.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CliRunner, cliFor } from '../cli/cli-harness';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { useTmpDirs } from '../helpers/tmp';
import { OpenclawNodeProcess, type OpenclawNodeOptions } from './openclaw-node-process';
import { RealCli } from './real-cli';
import { ensureRealClients, type RealClients } from './real-clients';

/** Every scope a token-only client can be given. */
export const ALL_OPERATOR_SCOPES = ['operator.read', 'operator.write', 'operator.admin', 'operator.pairing', 'operator.approvals'];

/** First use downloads ~300 MB from the npm registry (about 40 s here); a slow link gets more. */
const INSTALL_TIMEOUT_MS = 12 * 60_000;

export interface LegacyClientsSuite {
  readonly clients: RealClients;
  readonly t: TestGateway;
  /** The bridge, as the real clients are given it: ws://127.0.0.1:PORT (wss:// with `bridgeTls`) */
  readonly url: string;
  /** The gateway's shared legacy token. */
  readonly token: string;
  /** Our openclaw-cli with the gateway's local operator certificate (over gRPC). */
  readonly ours: CliRunner;
  /** A fresh, empty temp folder. */
  tmpDir(): string;
  /** The real CLI with a fresh HOME. */
  realCli(): RealCli;
  /** The real openclaw-node in a child process with a fresh HOME and identity file (closed after the file). */
  openclawNode(o?: Partial<OpenclawNodeOptions>): OpenclawNodeProcess;
  /** Gives token-only legacy clients every operator scope (bridge.tokenOnlyScopes), as an operator would. */
  widenTokenOnlyScopes(): Promise<void>;
}

/** Registers beforeAll/afterAll for a test file and returns its suite (usable inside tests). */
export function useLegacyClientsSuite(o: { bridgeTls?: boolean } = {}): LegacyClientsSuite {
  // A test runs the real CLI a few times (about a second each, more on a busy machine).
  jest.setTimeout(120_000);
  const tmpDir = useTmpDirs('legacy-clients-');
  const state: { clients?: RealClients; t?: TestGateway; url?: string; token?: string; ours?: CliRunner } = {};
  let installError: Error | undefined;
  const nodes: OpenclawNodeProcess[] = [];
  const need = <K extends keyof typeof state>(k: K): NonNullable<(typeof state)[K]> => {
    // Without the clients every later step fails for the same reason: say that one.
    if (installError) throw installError;
    if (!state[k]) throw new Error(`legacy-clients suite: ${k} is not ready (did beforeAll fail?)`);
    return state[k]!;
  };

  beforeAll(async () => {
    try {
      state.clients = await ensureRealClients();
    } catch (err) {
      installError = err as Error;
      throw err;
    }
  }, INSTALL_TIMEOUT_MS);

  beforeAll(async () => {
    const t = await startTestGateway({ bridge: true, bridgeTls: o.bridgeTls });
    state.t = t;
    if (!t.gw.bridgeUrl) throw new Error('the test gateway started without its bridge');
    state.url = t.gw.bridgeUrl.replace(/\/$/, '');
    state.token = readFileSync(t.gw.legacyTokenFile!, 'utf8').trim();
    state.ours = cliFor(t, tmpDir());
  });

  afterAll(async () => {
    await Promise.all(nodes.splice(0).map((n) => n.close()));
    await state.t?.close();
  });

  return {
    get clients() {
      return need('clients');
    },
    get t() {
      return need('t');
    },
    get url() {
      return need('url');
    },
    get token() {
      return need('token');
    },
    get ours() {
      return need('ours');
    },
    tmpDir,
    realCli: () => new RealCli(need('clients'), tmpDir()),
    openclawNode: (o = {}) => {
      const home = o.home ?? tmpDir();
      const node = OpenclawNodeProcess.start(need('clients'), { url: need('url'), identityPath: join(home, 'device-identity.json'), home, ...o });
      nodes.push(node);
      return node;
    },
    widenTokenOnlyScopes: async () => {
      const patched = await need('ours').json<{ config: { bridge: { tokenOnlyScopes: string[] } } }>('gateway-config', 'patch', JSON.stringify({ bridge: { tokenOnlyScopes: ALL_OPERATOR_SCOPES } }));
      expect(patched.config.bridge.tokenOnlyScopes).toEqual(ALL_OPERATOR_SCOPES);
    },
  };
}
