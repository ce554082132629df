/**
 * Reading a password for the CLI: never from argv. On a terminal it is asked twice with hidden
 * input; otherwise the first line of stdin is used as is (only the line ending is removed).
 */
import readline from 'node:readline';
import { Writable } from 'node:stream';
import { CliError } from './errors.ts';

/** More than any acceptable password (256 characters of up to 4 bytes each). */
const MAX_LINE_BYTES = 4096;

export interface PasswordInput {
  input: NodeJS.ReadStream;
  /** Where prompts go (stderr, so stdout stays clean for scripts). */
  output: NodeJS.WriteStream;
}

const defaultIo = (): PasswordInput => ({ input: process.stdin, output: process.stderr });

/** Reads a new password; throws CliError (exit 1) for an empty one or a mismatch. */
export async function readNewPassword(io: PasswordInput = defaultIo()): Promise<string> {
  let password: string;
  if (io.input.isTTY) {
    password = await promptHidden(io, 'New password: ');
    if (password === '') throw new CliError('empty password');
    const again = await promptHidden(io, 'Repeat password: ');
    if (again !== password) throw new CliError('passwords do not match');
  } else {
    password = await readFirstLine(io.input);
    if (password === '') throw new CliError('empty password (give it on the first line of stdin)');
  }
  return password;
}

/** The first line of a stream, without its line ending; '' for an empty stream. */
export async function readFirstLine(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    const newline = buffer.indexOf(0x0a);
    const part = newline >= 0 ? buffer.subarray(0, newline) : buffer;
    chunks.push(part);
    size += part.length;
    if (size > MAX_LINE_BYTES) throw new CliError('password line on stdin is too long');
    if (newline >= 0) break; // leaving the loop closes stdin
  }
  const line = Buffer.concat(chunks).toString('utf8');
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}

/** Asks a question on the terminal without echoing the answer. */
async function promptHidden(io: PasswordInput, question: string): Promise<string> {
  let muted = false;
  const output = new Writable({
    write(chunk: Buffer | string, encoding: BufferEncoding, callback: (error?: Error | null) => void) {
      if (!muted) io.output.write(chunk, encoding);
      callback();
    },
  });
  const rl = readline.createInterface({ input: io.input, output, terminal: true, historySize: 0 });
  try {
    return await new Promise<string>((resolve, reject) => {
      let answered = false;
      rl.on('SIGINT', () => reject(new CliError('cancelled')));
      rl.on('close', () => {
        if (!answered) reject(new CliError('cancelled (no password given)'));
      });
      rl.question(question, (answer) => {
        answered = true;
        resolve(answer);
      });
      muted = true;
    });
  } finally {
    muted = false;
    io.output.write('\n');
    rl.close();
  }
}
