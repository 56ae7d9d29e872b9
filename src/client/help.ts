/** The help of the admin commands: one command's usage, or the commands of a group (`berth volume --help`). */
import { COMMON_OPTIONS, optionUsage, type OptionSpec } from './arguments';
import type { Command } from './commands';
import { EXIT_CODES_HELP } from './failures';

const SOCKET_HELP = `the admin socket, first found of:
  --socket PATH
  legacy mode: beside the plugin socket that EBS_SOCKET or berth serve's config file (--config FILE, EBS_CONFIG) sets
  the enabled Docker plugin whose entrypoint runs berth (or --plugin NAME): <exec root>/plugins/<id>/berth-admin.sock,
    the exec root /run/docker unless --docker-exec-root DIR; docker runs with this environment (DOCKER_HOST)
  legacy mode with the default settings: /run/docker/plugins/berth-admin.sock, if it exists
`;

function optionLines(options: Record<string, OptionSpec>): string {
  const rows = Object.entries(options).map(([name, spec]) => [optionUsage(name, spec), spec.doc]);
  const width = Math.max(...rows.map(([usage]) => usage.length));
  return rows.map(([usage, doc]) => `  ${usage.padEnd(width)}  ${doc}\n`).join('');
}

export function commandHelp(command: Command): string {
  const operands = command.operands ? ` ${command.operands}` : '';
  return [
    `usage: berth ${command.name}${operands} [options]\n`,
    `${command.summary}\n`,
    `options:\n${optionLines({ ...command.options, ...COMMON_OPTIONS })}`,
    SOCKET_HELP,
    EXIT_CODES_HELP,
  ].join('\n');
}

export function groupHelp(group: string, commands: Command[]): string {
  const rows = commands.map((command) => [`${command.name.slice(group.length + 1)} ${command.operands}`.trim(), command.summary]);
  const width = Math.max(...rows.map(([usage]) => usage.length));
  return [
    `usage: berth ${group} <command> [options]\n`,
    `commands:\n${rows.map(([usage, summary]) => `  ${usage.padEnd(width)}  ${summary}\n`).join('')}`,
    `berth ${group} <command> --help shows a command's options.\n`,
    EXIT_CODES_HELP,
  ].join('\n');
}
