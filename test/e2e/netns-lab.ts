/**
 * A small network of Linux network namespaces for end-to-end tests: one namespace per
 * "container" (gateway, CLI, worker, ...), joined by a bridge inside the first one's
 * namespace. The addresses exist only inside these namespaces, so nothing is sent
 * anywhere else, and no process shares a loopback or a socket address with another:
 * the same situation as containers on a compose network, where the seed bug's
 * locality guess failed.
 *
 * Needs root and iproute2. Processes run with `ip netns exec`, which also gives each
 * one a private mount namespace: that is where a certificate folder is bind-mounted
 * read-only over itself, as `:ro` does for a compose volume, without affecting anyone else.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { writeFileSync } from 'node:fs';

/** A namespace of the lab, by the name the test gives it (e.g. "gateway", "cli"). */
export type Host = string;

/** What a finished command printed and how it ended. */
export interface Ran {
  argv: string[];
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A long-running process in a namespace. */
export interface Running {
  child: ChildProcess;
  /** stdout and stderr so far. */
  output(): string;
  /** Resolves with the first match of `re` in the output; rejects if the process exits first or after `timeoutMs`. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Settles when the process has exited. */
  exited: Promise<Ran>;
  /** SIGTERM, then SIGKILL after a grace period; resolves when it is gone. */
  stop(): Promise<void>;
}

/** Options for a process in the lab. */
export interface RunOpts {
  env?: NodeJS.ProcessEnv;
  /** Folders bind-mounted read-only over themselves for this process only. */
  readOnly?: string[];
  timeoutMs?: number;
}

function ipSync(args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function ip(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('ip', args, { encoding: 'utf8' }, (err, stdout, stderr) => (err ? reject(new Error(`ip ${args.join(' ')} failed: ${stderr || err.message}`)) : resolve(stdout))),
  );
}

/**
 * Fails with a message that says what is missing when this machine cannot run the lab
 * (not root, no iproute2, no network namespace support). CI runs as root: a skip would
 * hide the one test of the seed scenario across real network boundaries.
 */
export function assertLabSupported(): void {
  const problems: string[] = [];
  if (typeof process.getuid === 'function' && process.getuid() !== 0) problems.push(`runs as uid ${process.getuid()}, not root`);
  try {
    ipSync(['-V']);
  } catch {
    problems.push('the "ip" command (iproute2) is not installed');
  }
  if (problems.length === 0) {
    const probe = `ocprobe-${randomBytes(3).toString('hex')}`;
    try {
      ipSync(['netns', 'add', probe]);
    } catch (err) {
      problems.push(`"ip netns add" failed: ${(err as { stderr?: string }).stderr?.trim() || (err as Error).message}`);
    } finally {
      try {
        ipSync(['netns', 'del', probe]);
      } catch {
        /* was never created */
      }
    }
  }
  if (problems.length > 0) {
    throw new Error(
      `The network-namespace end-to-end test cannot run here: ${problems.join('; ')}. ` +
        'It needs root and iproute2 ("ip netns"); CI runs the test suite as root. Run it as root (e.g. sudo npm test).',
    );
  }
}

/**
 * Namespaces on one private /24, and the processes started in them. The first host is
 * the hub: it holds the bridge (address .1); the others get .2, .3, ... in order.
 */
export class NetnsLab {
  /** Namespace name of each host: `<prefix>-<id>`, unique per lab. */
  readonly ns: Record<Host, string> = {};
  /** The address of each host on the lab's bridge. */
  readonly addr: Record<Host, string> = {};
  private readonly hosts: Host[];
  private readonly children = new Set<Running>();
  private created: string[] = [];
  private hostsFile?: string;
  private readonly exitGuard = () => this.deleteNamespacesSync();

  private constructor(prefixes: Record<Host, string>) {
    const id = randomBytes(3).toString('hex');
    const net = `10.231.${randomInt(1, 255)}`;
    this.hosts = Object.keys(prefixes);
    this.hosts.forEach((host, i) => {
      this.ns[host] = `${prefixes[host]}-${id}`;
      this.addr[host] = `${net}.${i + 1}`;
    });
  }

  /**
   * Creates one namespace per host (`{ gateway: 'ocgw', cli: 'occli' }` makes ocgw-<id>
   * and occli-<id>), links them, and brings every interface up; on any failure removes
   * what it made and rethrows.
   */
  static async create(prefixes: Record<Host, string>): Promise<NetnsLab> {
    assertLabSupported();
    if (Object.keys(prefixes).length < 2 || Object.keys(prefixes).length > 200) throw new Error('a lab has 2 to 200 hosts');
    const lab = new NetnsLab(prefixes);
    process.once('exit', lab.exitGuard);
    try {
      await lab.build();
    } catch (err) {
      await lab.destroy();
      throw err;
    }
    return lab;
  }

  private async build(): Promise<void> {
    const [hub, ...others] = this.hosts;
    for (const host of this.hosts) {
      await ip(['netns', 'add', this.ns[host]]);
      this.created.push(this.ns[host]);
      await ip(['-n', this.ns[host], 'link', 'set', 'lo', 'up']);
    }
    // A bridge in the hub's namespace, like a compose network's; one veth per other host.
    const h = this.ns[hub];
    await ip(['-n', h, 'link', 'add', 'br0', 'type', 'bridge']);
    await ip(['-n', h, 'addr', 'add', `${this.addr[hub]}/24`, 'dev', 'br0']);
    await ip(['-n', h, 'link', 'set', 'br0', 'up']);
    for (const [i, host] of others.entries()) {
      const port = `veth${i}`;
      await ip(['-n', h, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.ns[host]]);
      await ip(['-n', h, 'link', 'set', port, 'master', 'br0']);
      await ip(['-n', h, 'link', 'set', port, 'up']);
      await ip(['-n', this.ns[host], 'addr', 'add', `${this.addr[host]}/24`, 'dev', 'eth0']);
      await ip(['-n', this.ns[host], 'link', 'set', 'eth0', 'up']);
    }
  }

  /**
   * Name resolution inside the lab, like a compose network's DNS: every process started
   * afterwards sees these names in its /etc/hosts (a file bind-mounted over /etc/hosts
   * in that process's own mount namespace; the machine's file is untouched).
   */
  setHosts(file: string, names: Record<string, string>): void {
    const lines = ['127.0.0.1 localhost', '::1 localhost', ...Object.entries(names).map(([name, addr]) => `${addr} ${name}`)];
    writeFileSync(file, lines.join('\n') + '\n');
    this.hostsFile = file;
  }

  /** The argv that runs `argv` in a namespace, with read-only bind mounts and the lab's hosts file if any. */
  private wrap(host: Host, argv: string[], readOnly: string[] = []): string[] {
    if (readOnly.length === 0 && !this.hostsFile) return ['netns', 'exec', this.ns[host], ...argv];
    const script = [
      'h=$1; n=$2; shift 2',
      'if [ -n "$h" ]; then mount --bind "$h" /etc/hosts || exit 97; fi',
      'while [ "$n" -gt 0 ]; do mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" || exit 97; shift; n=$((n-1)); done',
      'exec "$@"',
    ].join('\n');
    return ['netns', 'exec', this.ns[host], '/bin/sh', '-c', script, 'sh', this.hostsFile ?? '', String(readOnly.length), ...readOnly, ...argv];
  }

  /** Starts a long-running process in a namespace. */
  start(host: Host, argv: string[], opts: RunOpts = {}): Running {
    const full = this.wrap(host, argv, opts.readOnly);
    const child = spawn('ip', full, { env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let out = '';
    let done = false;
    const waiters = new Set<() => void>();
    const notify = () => {
      for (const w of [...waiters]) w();
    };
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      out += d;
      notify();
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      out += d;
      notify();
    });
    const exited = new Promise<Ran>((resolve) => {
      child.on('error', (err) => {
        stderr += String(err);
        done = true;
        notify();
        resolve({ argv, code: null, stdout, stderr });
      });
      child.on('close', (code) => {
        done = true;
        notify();
        resolve({ argv, code, stdout, stderr });
      });
    });
    const running: Running = {
      child,
      output: () => out,
      exited,
      waitFor: (re, timeoutMs = 20_000) =>
        new Promise((resolve, reject) => {
          const check = () => {
            const m = out.match(re);
            if (m) {
              finish();
              resolve(m);
            } else if (done) {
              finish();
              reject(new Error(`${argv.join(' ')} exited before ${re} appeared; output:\n${out}`));
            }
          };
          const timer = setTimeout(() => {
            finish();
            reject(new Error(`timed out after ${timeoutMs} ms waiting for ${re} from ${argv.join(' ')}; output:\n${out}`));
          }, timeoutMs);
          const finish = () => {
            clearTimeout(timer);
            waiters.delete(check);
          };
          waiters.add(check);
          check();
        }),
      stop: async () => {
        if (!done) {
          child.kill('SIGTERM');
          const grace = setTimeout(() => child.kill('SIGKILL'), 3000);
          await exited;
          clearTimeout(grace);
        }
        this.children.delete(running);
      },
    };
    this.children.add(running);
    void exited.then(() => this.children.delete(running));
    return running;
  }

  /** Runs a command in a namespace to completion (killed after `timeoutMs`, default 20 s). */
  async run(host: Host, argv: string[], opts: RunOpts = {}): Promise<Ran> {
    const r = this.start(host, argv, opts);
    const timeoutMs = opts.timeoutMs ?? 20_000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        r.child.kill('SIGKILL');
        reject(new Error(`${argv.join(' ')} did not finish within ${timeoutMs} ms in ${this.ns[host]}; output:\n${r.output()}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([r.exited, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops every process still running and deletes the namespaces. Safe to call twice. */
  async destroy(): Promise<void> {
    await Promise.all([...this.children].map((c) => c.stop()));
    for (const name of this.created.splice(0)) {
      try {
        await ip(['netns', 'del', name]);
      } catch {
        /* already gone */
      }
    }
    process.off('exit', this.exitGuard);
  }

  /** Last resort when the test process exits without destroy(): namespaces are not left behind. */
  private deleteNamespacesSync(): void {
    for (const c of this.children) c.child.kill('SIGKILL');
    for (const name of this.created.splice(0)) {
      try {
        ipSync(['netns', 'del', name]);
      } catch {
        /* already gone */
      }
    }
  }

  /** Names of the namespaces that currently exist on this machine (to check the cleanup). */
  static existingNamespaces(): string[] {
    return ipSync(['netns', 'list'])
      .split('\n')
      .map((l) => l.trim().split(/\s+/)[0])
      .filter(Boolean);
  }
}
