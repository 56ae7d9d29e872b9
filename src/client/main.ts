/**
 * berth's admin commands (`berth volume …`, `berth snapshot …`, `berth doctor`): a client of the daemon's admin
 * API that holds no AWS client. Callable in-process: arguments, environment and output streams are given.
 */
import { quote } from '../common/text';
import { callAdmin, type AdminRequest } from './admin-call';
import { COMMON_OPTIONS, readCommandLine, wantsHelp, type CommandLine, type OptionValues } from './arguments';
import { COMMANDS, type Command } from './commands';
import { CommandFailure, EXIT, usageError } from './failures';
import { commandHelp, groupHelp } from './help';
import type { ClientIo } from './io';
import { progressLine } from './progress';
import { findAdminSocket, type DiscoveryOptions } from './socket-discovery';

/** Runs `argv` (["volume", "ls", "--json"]) and resolves with the exit code; never rejects. */
export async function clientMain(argv: string[], io: ClientIo): Promise<number> {
  try {
    return await run(argv, io);
  } catch (err) {
    if (err instanceof CommandFailure) {
      io.stderr.write(`berth: ${err.message}\n`);
      return err.exitCode;
    }
    io.stderr.write(`berth: ${(err as Error)?.stack ?? String(err)}\n`);
    return EXIT.failed;
  }
}

async function run(argv: string[], io: ClientIo): Promise<number> {
  const [first = '', second, ...rest] = argv;
  const single = COMMANDS.find((command) => command.name === first);
  if (single) return runCommand(single, argv.slice(1), io);
  const group = COMMANDS.filter((command) => command.name.startsWith(`${first} `));
  if (group.length === 0) throw usageError(`unknown command ${quote(first)}`);
  if (second === '--help' || second === '-h') {
    io.stdout.write(groupHelp(first, group));
    return EXIT.ok;
  }
  if (second === undefined) {
    io.stderr.write(groupHelp(first, group));
    return EXIT.usage;
  }
  const command = group.find((candidate) => candidate.name === `${first} ${second}`);
  if (!command) {
    const names = group.map((candidate) => candidate.name.slice(first.length + 1)).join(', ');
    throw usageError(`${first}: unknown command ${quote(second)} (the ${first} commands: ${names})`);
  }
  return runCommand(command, rest, io);
}

async function runCommand(command: Command, args: string[], io: ClientIo): Promise<number> {
  if (wantsHelp(args)) {
    io.stdout.write(commandHelp(command));
    return EXIT.ok;
  }
  const line = readCommandLine(command.name, command.operands, args, { ...command.options, ...COMMON_OPTIONS });
  const request = checkedRequest(command, line);
  const socket = await findAdminSocket(discoveryOptions(line.values), io.env);
  const json = line.values.json === true;
  const progress = progressLine(io.stderr, io.stderr.isTTY === true && !json);
  let result: unknown;
  try {
    result = await callAdmin(socket, request, (event) => progress.show(event));
  } finally {
    progress.clear();
  }
  io.stdout.write(json ? `${JSON.stringify(result, null, 2)}\n` : rendered(command, result));
  return command.exitCode?.(result) ?? EXIT.ok;
}

/** Building the request checks the operands' and options' values: a bad one fails here, before any request. */
function checkedRequest(command: Command, line: CommandLine): AdminRequest {
  try {
    return command.request(line);
  } catch (err) {
    if (err instanceof CommandFailure) throw new CommandFailure(err.exitCode, `${command.name}: ${err.message}`);
    throw err;
  }
}

function rendered(command: Command, result: unknown): string {
  try {
    return command.render(result);
  } catch (err) {
    throw new CommandFailure(EXIT.failed, `cannot show the daemon's answer (${(err as Error).message}); --json prints it as it came`);
  }
}

function discoveryOptions(values: OptionValues): DiscoveryOptions {
  const text = (name: string) => (typeof values[name] === 'string' ? (values[name] as string) : undefined);
  return { socket: text('socket'), config: text('config'), plugin: text('plugin'), dockerExecRoot: text('docker-exec-root') };
}
