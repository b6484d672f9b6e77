#!/usr/bin/env node
/**
 * certs-tools: provisions identities for the gateway. Works with or without a running
 * gateway: it reads and writes the same state directory under the same file locks.
 */
import { buildCertsTools } from './commands';
import { CommanderError } from 'commander';
import { GatewayError } from '../src/errors';

buildCertsTools()
  .parseAsync(process.argv)
  .catch((err: unknown) => {
    // commander already printed its one-line usage error and set the exit code.
    if (err instanceof CommanderError) return;
    const message = err instanceof GatewayError ? err.message : `unexpected failure: ${(err as Error).message}`;
    process.stderr.write(`certs-tools: error: ${message}\n`);
    process.exitCode = 1;
  });
