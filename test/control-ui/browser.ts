/**
 * The system's Chromium driven by playwright-core (the driver only: the browser is the
 * distribution's package, never one `playwright install` downloads), and a tap on what a
 * page does: uncaught errors, console errors, failed HTTP loads, and every request and
 * answer on its WebSockets.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

/** How to get the browser when it is missing (one line; CI installs it). */
export const INSTALL_CHROMIUM = 'install it with "apt-get install chromium" (Debian/Ubuntu), or set CHROMIUM_PATH to a Chromium or Chrome binary';

/** The Chromium binary: CHROMIUM_PATH, else `chromium` or `chromium-browser` on PATH. Throws one clear line when there is none. */
export function chromiumPath(env: NodeJS.ProcessEnv = process.env): string {
  const candidates = env.CHROMIUM_PATH ? [env.CHROMIUM_PATH] : (env.PATH ?? '').split(delimiter).flatMap((d) => (d ? [join(d, 'chromium'), join(d, 'chromium-browser')] : []));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  throw new Error(`the Control UI browser test needs Chromium, which is not installed (${env.CHROMIUM_PATH ? `CHROMIUM_PATH=${env.CHROMIUM_PATH} is not executable` : 'no chromium on PATH'}): ${INSTALL_CHROMIUM}`);
}

/**
 * Headless Chromium as a container runs it (no sandbox: CI runs as root; no GPU; /tmp
 * instead of a small /dev/shm). `mapToLoopback` names host names resolved to 127.0.0.1
 * (a page served under a DNS name, without touching the system's resolver).
 */
export function launchChromium(opts: { mapToLoopback?: string[]; trustSpki?: string[] } = {}): Promise<Browser> {
  const args = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
  if (opts.mapToLoopback?.length) args.push(`--host-resolver-rules=${opts.mapToLoopback.map((h) => `MAP ${h} 127.0.0.1`).join(', ')}`);
  // Certificates trusted by their public key (base64 SHA-256 of the SPKI), as a browser that installed our CA would trust them; nothing else is.
  if (opts.trustSpki?.length) args.push(`--ignore-certificate-errors-spki-list=${opts.trustSpki.join(',')}`);
  return chromium.launch({ executablePath: chromiumPath(), headless: true, args });
}

/** One WebSocket request of the page and its answer. */
export interface TappedCall {
  id: string;
  method: string;
  params: any;
  /** Undefined while unanswered. */
  ok?: boolean;
  payload?: any;
  error?: { code?: string; message?: string; details?: any };
}

/** What a page did, collected from its first load on. */
export class PageTap {
  readonly pageErrors: string[] = [];
  readonly consoleErrors: { text: string; url: string }[] = [];
  readonly failedLoads: { url: string; status: number }[] = [];
  readonly calls: TappedCall[] = [];
  readonly events: string[] = [];
  /** hello-ok payloads, in order. */
  readonly hellos: any[] = [];
  sockets = 0;
  /** HTTP loads of the page not finished yet (lazy page chunks, images). */
  httpInFlight = 0;

  constructor(page: Page) {
    page.on('request', () => this.httpInFlight++);
    page.on('requestfinished', () => this.httpInFlight--);
    page.on('requestfailed', () => this.httpInFlight--);
    page.on('pageerror', (e) => this.pageErrors.push(`${e.name}: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') this.consoleErrors.push({ text: m.text(), url: m.location().url });
    });
    page.on('response', (r) => {
      if (r.status() >= 400) this.failedLoads.push({ url: r.url(), status: r.status() });
    });
    page.on('websocket', (ws) => {
      this.sockets++;
      ws.on('framesent', (f) => {
        const o = parse(f.payload);
        if (o?.type === 'req') this.calls.push({ id: o.id, method: o.method, params: o.params });
      });
      ws.on('framereceived', (f) => {
        const o = parse(f.payload);
        if (o?.type === 'event') this.events.push(o.event);
        if (o?.type !== 'res') return;
        const call = this.calls.find((c) => c.id === o.id && c.ok === undefined);
        if (!call) return;
        call.ok = o.ok;
        call.payload = o.payload;
        call.error = o.error;
        if (o.ok && o.payload?.type === 'hello-ok') this.hellos.push(o.payload);
      });
    });
  }

  /** Answered requests that failed, as `method: CODE message`. */
  failures(): string[] {
    return this.calls.filter((c) => c.ok === false).map((c) => `${c.method}: ${c.error?.code} ${c.error?.message}`);
  }

  /** Methods the page sent that got no answer (yet). */
  unanswered(): string[] {
    return this.calls.filter((c) => c.ok === undefined).map((c) => c.method);
  }
}

function parse(payload: string | Buffer): any {
  try {
    return JSON.parse(payload.toString());
  } catch {
    return undefined;
  }
}
