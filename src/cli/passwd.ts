// `petrel passwd`: manage a password file like mosquitto_passwd.
//
//   petrel passwd [-c] [-b] [-D] <file> <username> [password]
//
// -c creates (or overwrites) the file, -b takes the password from the command line, -D deletes
// the user. Otherwise the password is asked twice: from the terminal without echo, or read as
// two lines from stdin when stdin is not a terminal (for scripts).

import { existsSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { exitCodes } from './exit-codes.js';
import {
  parsePasswordFile,
  validUsername,
  writePasswordFile,
  type PasswordEntry,
} from '../auth/password-file.js';
import { createScramCredentials, hashPassword } from '../auth/password-hash.js';

export interface PasswdOptions {
  file: string;
  username: string;
  password?: string;
  create?: boolean;
  delete?: boolean;
}

/** Adds, updates or deletes one user. Throws an Error with a user-facing message on failure. */
export async function runPasswd(options: PasswdOptions): Promise<void> {
  if (!validUsername(options.username)) throw new Error('user names may not be empty or contain ":" or line breaks');
  let entries = new Map<string, PasswordEntry>();
  if (!options.create) {
    if (!existsSync(options.file)) throw new Error(`${options.file} does not exist (use -c to create it)`);
    entries = parsePasswordFile(readFileSync(options.file, 'utf8'));
  }
  if (options.delete) {
    if (options.create) throw new Error('-c and -D cannot be used together');
    if (!entries.delete(options.username)) throw new Error(`user "${options.username}" not found`);
    await writePasswordFile(options.file, entries.values());
    return;
  }
  if (options.password === undefined || options.password === '') throw new Error('the password may not be empty');
  entries.set(options.username, {
    username: options.username,
    passwordHash: await hashPassword(options.password),
    scram: createScramCredentials(options.password),
  });
  await writePasswordFile(options.file, entries.values());
}

/** Reads a password twice: hidden on a terminal, or two lines from piped stdin. */
export async function promptPassword(): Promise<string> {
  const input = process.stdin;
  if (input.isTTY) {
    const first = await readHidden('Password: ');
    const second = await readHidden('Reenter password: ');
    if (first !== second) throw new Error('passwords do not match');
    return first;
  }
  const lines = createInterface({ input, terminal: false });
  const received: string[] = [];
  for await (const line of lines) {
    received.push(line);
    if (received.length === 2) break;
  }
  lines.close();
  if (received.length < 2) throw new Error('expected the password twice on stdin');
  if (received[0] !== received[1]) throw new Error('passwords do not match');
  return received[0];
}

function readHidden(prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const input = process.stdin;
    process.stderr.write(prompt);
    input.setRawMode(true);
    input.resume();
    let value = '';
    const finish = (error?: Error) => {
      input.setRawMode(false);
      input.pause();
      input.off('data', onData);
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (chunk: Buffer) => {
      for (const character of chunk.toString('utf8')) {
        if (character === '\r' || character === '\n') return finish();
        if (character === '\u0003') return finish(new Error('interrupted'));
        if (character === '\u007f' || character === '\b') value = value.slice(0, -1);
        else value += character;
      }
    };
    input.on('data', onData);
  });
}

export function registerPasswdCommand(program: Command): void {
  program
    .command('passwd')
    .description('add, update or delete a user in a password file (like mosquitto_passwd)')
    .option('-c, --create', 'create a new password file, overwriting an existing one')
    .option('-b, --batch', 'take the password from the command line')
    .option('-D, --delete', 'delete the user')
    .argument('<file>', 'password file')
    .argument('<username>', 'user name')
    .argument('[password]', 'password (with -b)')
    .action(async (file: string, username: string, password: string | undefined, flags: { create?: boolean; batch?: boolean; delete?: boolean }) => {
      try {
        if (password !== undefined && !flags.batch) throw new Error('a password on the command line needs -b');
        if (flags.batch && password === undefined && !flags.delete) throw new Error('-b needs the password argument');
        const effectivePassword = flags.delete ? undefined : (password ?? (await promptPassword()));
        await runPasswd({ file, username, password: effectivePassword, create: flags.create, delete: flags.delete });
      } catch (error) {
        process.stderr.write(`petrel passwd: ${(error as Error).message}\n`);
        process.exitCode = exitCodes.failure;
      }
    });
}
