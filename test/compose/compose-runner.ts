/**
 * Runs docker-compose.yml's services as plain processes on this machine: the argv and
 * environment a container of the service would get (image ENTRYPOINT/CMD/ENV from the
 * Dockerfile's runtime stage, the service's own entrypoint/command/environment), with
 * the programs mapped to the built files and each named volume to a folder.
 */
import { join } from 'node:path';
import {
  containerArgv,
  containerEnvOf,
  interpolate,
  loadCompose,
  loadDockerfile,
  packageBins,
  REPO_ROOT,
  VolumeFolders,
  type ComposeFile,
  type Stage,
} from './compose-file';
import { binShims, runProcess, type Finished } from './run-process';

/** The compose file and the image's runtime stage, read once. */
export interface ComposeModel {
  compose: ComposeFile;
  runtime: Stage;
}

/** Reads docker-compose.yml and the Dockerfile. */
export function composeModel(): ComposeModel {
  const df = loadDockerfile();
  return { compose: loadCompose(), runtime: df.stages[df.stages.length - 1] };
}

/** A service's process: argv (program = node + the built file) and environment, volumes mapped to folders. */
export function serviceProcess(model: ComposeModel, volumes: VolumeFolders, service: string, opts: { runArgs?: string[]; shellEnv?: NodeJS.ProcessEnv } = {}): { argv: string[]; env: Record<string, string> } {
  const s = model.compose.services[service];
  const argv = volumes.argv(service, containerArgv(s, model.runtime, opts.runArgs).map((a) => interpolate(a, opts.shellEnv ?? {})));
  const env = volumes.env(service, containerEnvOf(s, model.runtime, opts.shellEnv));
  const bins = packageBins();
  const program = argv[0];
  if (program in bins) return { argv: [process.execPath, join(REPO_ROOT, bins[program]), ...argv.slice(1)], env };
  return { argv, env };
}

/**
 * Runs the one-shot init service (a shell script calling the image's programs by name)
 * against the volume folders. `env` overrides the container environment last.
 */
export function runInitService(model: ComposeModel, volumes: VolumeFolders, binDir: string, opts: { shellEnv?: NodeJS.ProcessEnv; env?: Record<string, string> } = {}): Promise<Finished> {
  const { argv, env } = serviceProcess(model, volumes, 'openclaw-init', { shellEnv: opts.shellEnv });
  return runProcess(argv[0], argv.slice(1), { env: { ...env, PATH: binShims(binDir), ...opts.env }, timeoutMs: 60_000 });
}
