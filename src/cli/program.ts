/**
 * openclaw-cli's command tree. Definitions are cheap commander calls; each action loads
 * its command module (and with it grpc-js and the generated code it needs) only when it
 * runs, so `openclaw-cli cron list` never loads pairing, sessions or node-forge.
 */
import { Command, CommanderError } from 'commander';
import type { CliContext, CliRuntime, GlobalFlags } from './cli-context';
// Two small leaf modules (no grpc-js, no node-forge), so help texts show the real defaults.
import { DEFAULT_KEY_TYPE, KEY_TYPES } from '../identity/keys';
import { INVITE_OPERATOR_SCOPES } from './invite';

/** A command's body, run once parsing succeeded. */
type Body = (ctx: CliContext) => Promise<void> | void;

/** Options of `cron add` / `cron update`. */
type CronOpts = import('./cron-commands').CronJobOptions & { enable?: boolean };

const HELP_FOOTER = `
Connection settings (first found wins):
  gateway  --gateway, OPENCLAW_GATEWAY_GRPC, <state dir>/cli.json "gateway", identity.json "gateway" in the certs dir, 127.0.0.1:18790
  certs    --certs, OPENCLAW_CERTS_DIR, <state dir>/cli.json "certs", <state dir>/identities/cli (made by the gateway's first start)
  state    --state-dir, OPENCLAW_STATE_DIR, ~/.openclaw
  "openclaw-cli config" shows what was resolved and from where.

Output: tables for people; --json for scripts (the RPC response as protobuf JSON; streams print one object per line).
Exit codes: 0 ok, 1 failed, 2 bad usage or input, 3 gateway unreachable, 4 certificate refused,
            5 not allowed (missing scope), 6 not found, 130 interrupted.
`;

function cronScheduleOptions(cmd: Command): Command {
  return cmd
    .option('--name <name>', 'job name')
    .option('--cron <expr>', 'cron expression, e.g. "0 7 * * *"')
    .option('--tz <zone>', 'IANA time zone of the cron expression (default: the gateway\'s)')
    .option('--every <duration>', 'fixed interval: 30s, 5m, 1h, 2d')
    .option('--at <iso-time>', 'run once at this time, e.g. 2030-01-01T07:00:00Z')
    .option('--message <text>', 'agent turn: the message the agent gets')
    .option('--session <id>', 'agent turn: session id or key (default: a new session per run)')
    .option('--agent <id>', 'agent turn: agent id (default: the default agent)')
    .option('--system-event <text>', 'emit a system event instead of an agent turn');
}

/**
 * Lets a command's arguments start with "-" (`devices approve -Xyz…`): a word of one
 * dash and at least two more characters that is not one of the command's options, and
 * not the value of the option before it, is an argument rather than an unknown option.
 * Unknown `--long` options stay errors, and `--` ends options as usual.
 */
function acceptDashArguments(cmd: Command): void {
  const parse = cmd.parseOptions.bind(cmd);
  const known = (arg: string) => cmd.options.find((o) => o.short === arg || o.long === arg);
  cmd.parseOptions = (args: string[]) => {
    const held = new Map<string, string>();
    const prepared = args.map((arg, i) => {
      const before = i > 0 ? known(args[i - 1]) : undefined;
      if (!/^-[^-].+/.test(arg) || known(arg) || before?.required || before?.optional) return arg;
      // A stand-in that commander cannot take for an option; swapped back below.
      const stand = `\u0000arg${i}`;
      held.set(stand, arg);
      return stand;
    });
    const back = (list: string[]) => list.map((a) => held.get(a) ?? a);
    const out = parse(prepared);
    return { operands: back(out.operands), unknown: back(out.unknown) };
  };
}

/**
 * Builds the program. `setBody` receives the chosen command's body; nothing runs
 * during parsing, so global flags given after the subcommand are known too.
 */
export function buildProgram(setBody: (body: Body) => void, io: Pick<CliRuntime, 'stdout' | 'stderr'>): Command {
  const program = new Command('openclaw-cli')
    .description('Operate an OpenClaw gateway over gRPC with mTLS (client certificates instead of pairing tokens)')
    .option('--gateway <host:port>', 'gateway gRPC address')
    .option('--certs <dir>', 'certificate folder (key.pem, cert.pem, ca.pem, identity.json)')
    .option('--state-dir <dir>', 'state directory holding cli.json and identities/ (default ~/.openclaw)')
    .option('--json', 'machine-readable output')
    .showSuggestionAfterError(true)
    .addHelpText('after', HELP_FOOTER);
  // Set before any subcommand exists: commander copies these settings at creation.
  program.exitOverride();
  program.configureOutput({
    writeOut: (s) => io.stdout.write(s),
    writeErr: (s) => io.stderr.write(s),
    // One line on stderr, prefixed like every other error of the CLI.
    outputError: (str, write) => write(`openclaw-cli: ${str.trim().replace(/\s*\n\s*/g, ' ')}\n`),
  });

  const lazy = <M>(load: () => Promise<M>, run: (m: M, ctx: CliContext) => Promise<void> | void) =>
    setBody(async (ctx) => run(await load(), ctx));

  const status = () => import('./status-commands');
  program.command('health').description('check that the gateway is up and accepts this certificate').action(() => lazy(status, (m, ctx) => m.health(ctx)));
  program.command('status').description('gateway status and the device you are').action(() => lazy(status, (m, ctx) => m.status(ctx)));
  program.command('presence').description('devices connected now').action(() => lazy(status, (m, ctx) => m.presence(ctx)));
  program.command('whoami').description('the device record of this certificate').action(() => lazy(status, (m, ctx) => m.whoami(ctx)));

  const cronModule = () => import('./cron-commands');
  const cron = program.command('cron').description('scheduled jobs');
  cron.command('list').description('list jobs').action(() => lazy(cronModule, (m, ctx) => m.cronList(ctx)));
  cron.command('get').description('show one job').argument('<job>', 'job id').action((id: string) => lazy(cronModule, (m, ctx) => m.cronGet(ctx, id)));
  cronScheduleOptions(cron.command('add').description('add a job (one schedule: --cron/--every/--at; one payload: --message/--system-event)'))
    .option('--disabled', 'create it disabled')
    .action((o: CronOpts) => lazy(cronModule, (m, ctx) => m.cronAdd(ctx, o)));
  cronScheduleOptions(cron.command('update').description('change the given fields of a job').argument('<job>', 'job id'))
    .option('--enable', 'enable the job')
    .option('--disabled', 'disable the job')
    .action((id: string, o: CronOpts) => lazy(cronModule, (m, ctx) => m.cronUpdate(ctx, id, o)));
  cron.command('enable').description('enable a job').argument('<job>', 'job id').action((id: string) => lazy(cronModule, (m, ctx) => m.cronSetEnabled(ctx, id, true)));
  cron.command('disable').description('disable a job').argument('<job>', 'job id').action((id: string) => lazy(cronModule, (m, ctx) => m.cronSetEnabled(ctx, id, false)));
  cron.command('rm').alias('remove').description('delete a job').argument('<job>', 'job id').action((id: string) => lazy(cronModule, (m, ctx) => m.cronRemove(ctx, id)));
  cron.command('run').description('run a job now').argument('<job>', 'job id').action((id: string) => lazy(cronModule, (m, ctx) => m.cronRun(ctx, id)));
  cron
    .command('runs')
    .description('recent runs of a job, newest first')
    .argument('<job>', 'job id')
    .option('--limit <n>', 'how many runs')
    .action((id: string, o: { limit?: string }) => lazy(cronModule, (m, ctx) => m.cronRuns(ctx, id, o)));
  cron.command('status').description('scheduler status').action(() => lazy(cronModule, (m, ctx) => m.cronStatus(ctx)));

  const sessionModule = () => import('./session-commands');
  const sessions = program.command('sessions').description('chat sessions');
  sessions.command('list').description('list sessions').action(() => lazy(sessionModule, (m, ctx) => m.sessionsList(ctx)));
  sessions
    .command('create')
    .description('create a session')
    .option('--label <label>', 'session label')
    .option('--agent <id>', 'agent (default: the default agent)')
    .action((o: { label?: string; agent?: string }) => lazy(sessionModule, (m, ctx) => m.sessionsCreate(ctx, o)));
  sessions.command('describe').description('show one session').argument('<session>', 'session id').action((id: string) => lazy(sessionModule, (m, ctx) => m.sessionsDescribe(ctx, id)));
  sessions
    .command('history')
    .description('messages of a session, oldest first')
    .argument('<session>', 'session id')
    .option('--limit <n>', 'only the last n messages')
    .action((id: string, o: { limit?: string }) => lazy(sessionModule, (m, ctx) => m.sessionsHistory(ctx, id, o)));
  sessions.command('delete').description('delete a session and its history').argument('<session>', 'session id').action((id: string) => lazy(sessionModule, (m, ctx) => m.sessionsDelete(ctx, id)));

  const chat = program.command('chat').description('talk to an agent in a session');
  chat
    .command('send')
    .description('send a message and stream the reply as it arrives (Ctrl-C aborts the turn)')
    .argument('<session>', 'session id')
    .argument('<text...>', 'message text')
    .action((id: string, text: string[]) => lazy(sessionModule, (m, ctx) => m.chatSend(ctx, id, text.join(' '))));
  chat
    .command('abort')
    .description('abort the running turn of a session')
    .argument('<session>', 'session id')
    .option('--run <id>', 'only this run')
    .action((id: string, o: { run?: string }) => lazy(sessionModule, (m, ctx) => m.chatAbort(ctx, id, o)));

  const deviceModule = () => import('./device-commands');
  const devices = program.command('devices').description('paired devices and pairing requests');
  devices
    .command('list')
    .description('pending pairing requests (with verification codes) and devices')
    .option('--all', 'include revoked devices')
    .action((o: { all?: boolean }) => lazy(deviceModule, (m, ctx) => m.devicesList(ctx, o)));
  devices
    .command('approve')
    .description('approve a pairing request (by request id or verification code)')
    .argument('<request>', 'request id or verification code')
    .option('--scopes <list>', 'grant only these of the requested scopes (comma-separated)')
    .action((id: string, o: { scopes?: string }) => lazy(deviceModule, (m, ctx) => m.devicesApprove(ctx, id, o)));
  devices
    .command('reject')
    .description('reject a pairing request')
    .argument('<request>', 'request id or verification code')
    .option('--reason <text>', 'told to the device')
    .action((id: string, o: { reason?: string }) => lazy(deviceModule, (m, ctx) => m.devicesReject(ctx, id, o)));
  devices
    .command('revoke')
    .description('revoke a device: its certificate and open streams are cut off at once')
    .argument('<device>', 'device id, unique id prefix or name')
    .option('--reason <text>', 'recorded with the revocation')
    .action((id: string, o: { reason?: string }) => lazy(deviceModule, (m, ctx) => m.devicesRevoke(ctx, id, o)));
  devices
    .command('rename')
    .description('rename a device')
    .argument('<device>', 'device id, unique id prefix or name')
    .argument('<name>', 'new name')
    .action((id: string, name: string) => lazy(deviceModule, (m, ctx) => m.devicesRename(ctx, id, name)));
  devices
    .command('invite')
    .description('invite a device: one string (and a QR code on a terminal) that pairs it at once with "openclaw-cli pair --invite"')
    .requiredOption('--name <name>', 'name the new device gets')
    .option('--role <role>', 'operator | node | backend (default operator)')
    .option('--scopes <list>', `comma-separated scopes (default: ${INVITE_OPERATOR_SCOPES.join(',')} for an operator, the role's defaults for other roles)`)
    .option('--ttl <duration>', 'how long the invite is valid, 1m to 30d (default 10m)')
    .option('--uses <n>', 'how many devices may use it (default 1)')
    .option('--address <host:port>', "gateway address the device should use (repeatable, tried in order; default: this CLI's gateway; port defaults to its port)", (v: string, prev: string[] = []) => [...prev, v])
    .action((o: import('./device-commands').InviteOptions) => lazy(deviceModule, (m, ctx) => m.devicesInvite(ctx, o)));

  const tokens = program.command('tokens').description('bootstrap tokens: pair a device without waiting for approval');
  tokens
    .command('create')
    .description('create a token (shown once)')
    .option('--name <label>', 'name given to devices that pair with it')
    .option('--role <role>', 'operator | node | backend (default operator)')
    .option('--scopes <list>', 'comma-separated scopes (default: the role\'s)')
    .option('--ttl <duration>', 'lifetime, e.g. 15m, 1h (default 1h)')
    .option('--uses <n>', 'how many devices may use it (default 1)')
    .action((o: { name?: string; role?: string; scopes?: string; ttl?: string; uses?: string }) => lazy(deviceModule, (m, ctx) => m.tokensCreate(ctx, o)));
  tokens.command('list').description('list tokens (never their secrets)').action(() => lazy(deviceModule, (m, ctx) => m.tokensList(ctx)));
  tokens.command('revoke').description('revoke a token').argument('<id>', 'token id').action((id: string) => lazy(deviceModule, (m, ctx) => m.tokensRevoke(ctx, id)));

  const streamModule = () => import('./stream-commands');
  program
    .command('events')
    .description('follow gateway events, one line each (the first line is the subscription)')
    .option('--types <list>', 'only these event types (comma-separated), e.g. cron,device.pair.requested')
    .option('--count <n>', 'stop after n events (not counting the subscription line)')
    .option('--resume <subscription>', 'resume an earlier subscription')
    .option('--after <seq>', 'with --resume: replay events after this sequence number')
    .action((o: { types?: string; count?: string; resume?: string; after?: string }) => lazy(streamModule, (m, ctx) => m.events(ctx, o)));
  program
    .command('logs')
    .description('the gateway log')
    .option('--lines <n>', 'how many recent lines (default 50)')
    .option('-f, --follow', 'keep printing new lines')
    .action((o: { lines?: string; follow?: boolean }) => lazy(streamModule, (m, ctx) => m.logs(ctx, o)));

  program
    .command('call')
    .description('call any unary or server-streaming RPC with a JSON request; without arguments, list them')
    .argument('[method]', 'Service/Method, e.g. CronService/ListJobs or openclaw.gateway.v1.GatewayService/GetStatus')
    .argument('[json]', 'request as protobuf JSON (default {})')
    .option('--count <n>', 'streams: stop after n responses')
    .action((method: string | undefined, json: string | undefined, o: { count?: string }) => lazy(() => import('./call-command'), (m, ctx) => m.call(ctx, method, json, o)));

  const gatewayConfig = program.command('gateway-config').description("the gateway's runtime configuration (not the CLI's: see \"config\")");
  const gcModule = () => import('./gateway-config-commands');
  gatewayConfig
    .command('get')
    .description('show the configuration, or one value by dotted path')
    .argument('[path]', 'e.g. agents')
    .action((path: string | undefined) => lazy(gcModule, (m, ctx) => m.gatewayConfigGet(ctx, path)));
  gatewayConfig
    .command('patch')
    .description('apply a JSON merge patch (null deletes a key)')
    .argument('<json>', 'e.g. \'{"logging":{"level":"debug"}}\'')
    .option('--base-hash <hash>', 'fail if the configuration changed since this hash')
    .action((json: string, o: { baseHash?: string }) => lazy(gcModule, (m, ctx) => m.gatewayConfigPatch(ctx, json, o)));

  program
    .command('config')
    .description('show the connection settings: gateway, certs dir, state dir, and where each came from')
    .action(() => lazy(() => import('./config-command'), (m, ctx) => m.showConfig(ctx)));

  program
    .command('pair')
    .description('pair this machine: send a CSR, wait for an operator (or use a bootstrap token or an invite), write the certs dir')
    .option('--ca-fingerprint <sha256>', 'SHA-256 fingerprint of the gateway CA (from the gateway banner or "certs-tools ca-fingerprint")')
    .option(
      '--invite <string>',
      'invite from "openclaw-cli devices invite": gateway address(es), CA fingerprint and token in one (instead of --ca-fingerprint and --token); ' +
        'its addresses are tried in order, and only an explicit --gateway replaces them. "-" reads it from standard input (keeps the secret out of shell history)',
    )
    .requiredOption('--out <dir>', 'folder to write key.pem, cert.pem, ca.pem and identity.json into')
    .option('--name <name>', 'device name (default: the invite\'s name, else this host name)')
    .option('--role <role>', 'operator | node | backend (default operator; with a token or invite: what it allows)')
    .option('--scopes <list>', 'comma-separated scopes to ask for (default: the role\'s; with a token or invite: what it allows)')
    .option('--token <token>', 'bootstrap token: approved at once')
    .option('--key-type <type>', `key to make: ${KEY_TYPES.join(' | ')}`, DEFAULT_KEY_TYPE)
    .option('--timeout <duration>', 'how long to wait for approval', '300s')
    .option('--force', 'replace a certificate already in --out')
    .action((o: import('./pair-command').PairOptions) => lazy(() => import('./pair-command'), (m, ctx) => m.pair(ctx, o)));

  program
    .command('renew')
    .description('renew the certificate in the certs dir now (commands also do it by themselves when due)')
    .action(() => lazy(() => import('./renew-command'), (m, ctx) => m.renew(ctx)));

  // Ids may start with "-" (request ids of earlier releases did): commands that take arguments accept them.
  for (const group of [program, ...program.commands]) for (const cmd of group.commands) if (cmd.registeredArguments.length > 0) acceptDashArguments(cmd);

  // A group without (or with an unknown) subcommand is a one-line usage error, not a help dump.
  for (const group of program.commands.filter((c) => c.commands.length > 0)) {
    group.allowExcessArguments(true).action((_opts: unknown, cmd: Command) => {
      const names = cmd.commands.map((c) => c.name()).join(', ');
      const [first] = cmd.args;
      cmd.error(
        first
          ? `error: unknown command '${cmd.name()} ${first}' (${cmd.name()} has: ${names}; see openclaw-cli ${cmd.name()} --help)`
          : `error: '${cmd.name()}' needs a subcommand: ${names} (see openclaw-cli ${cmd.name()} --help)`,
        { exitCode: 2, code: 'openclaw.subcommandRequired' },
      );
    });
  }

  return program;
}

/**
 * Runs the CLI on `argv` (process.argv form) and returns the exit code. Errors end as
 * one "openclaw-cli: error: ..." line on stderr.
 */
export async function runCli(argv: string[], runtime: CliRuntime): Promise<number> {
  let body: Body | undefined;
  const program = buildProgram((b) => (body = b), runtime);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    throw err;
  }
  if (!body) return 0;
  const { CliContext } = await import('./cli-context');
  const { explainError, EXIT } = await import('./cli-error');
  let ctx: CliContext | undefined;
  try {
    ctx = new CliContext(program.opts<GlobalFlags>(), runtime);
    await body(ctx);
    for (const w of ctx.warnings) runtime.stderr.write(`openclaw-cli: warning: ${w}\n`);
    return EXIT.ok;
  } catch (err) {
    const certs = ctx?.loadedCerts;
    let deviceId: string | undefined;
    try {
      deviceId = certs ? (await import('../identity/device-id')).deviceIdFromCertificate(certs.certPem) : undefined;
    } catch {
      deviceId = undefined;
    }
    const { message, exitCode } = explainError(err, { certs, deviceId });
    runtime.stderr.write(`openclaw-cli: error: ${message}\n`);
    return exitCode;
  } finally {
    ctx?.close();
  }
}
