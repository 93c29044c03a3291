#!/usr/bin/env node
/** The `token-rotator` executable: runs the CLI on the process arguments. */
import { describeError } from '../errors.js';
import { main } from './cli.js';

main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env }).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`token-rotator: ${describeError(error)}\n`);
    process.exitCode = 1;
  },
);
