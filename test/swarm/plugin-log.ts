/**
 * berth's own log lines, read back from a node's dockerd log: dockerd copies a managed plugin's output into its log
 * as `time="..." level=... msg="<the plugin's line>" plugin=<plugin id>`, and berth writes JSON lines. berth/ebs
 * logs each Docker call as `call`, berth/ebs-csi each CSI call as `csi call`.
 */

export interface PluginLine {
  /** berth's timestamp (when the line was written: for a call, when it finished) */
  time: number;
  level: string;
  message: string;
  fields: Record<string, unknown>;
}

/** One protocol call as berth logged it. */
export interface PluginCall {
  method: string;
  volume?: string;
  outcome: string;
  error?: string;
  start: number;
  end: number;
  durationMs: number;
}

function unquoteLogfmt(quoted: string): string {
  try {
    return JSON.parse(`"${quoted}"`) as string;
  } catch {
    return quoted;
  }
}

export function pluginLines(dockerdLog: string, pluginId: string): PluginLine[] {
  const lines: PluginLine[] = [];
  for (const line of dockerdLog.split('\n')) {
    if (!line.includes(`plugin=${pluginId}`)) continue;
    const match = /msg="((?:[^"\\]|\\.)*)"/.exec(line);
    if (!match) continue;
    const text = unquoteLogfmt(match[1]);
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(text) as Record<string, unknown>;
    } catch {
      continue; // not one of berth's JSON lines (e.g. a Node.js warning)
    }
    const { timestamp, level, message, ...fields } = parsed;
    lines.push({ time: Date.parse(String(timestamp)), level: String(level), message: String(message), fields });
  }
  return lines;
}

/** Calls logged as `message` lines, their method, volume, outcome and duration in the named fields. */
function loggedCalls(dockerdLog: string, pluginId: string, message: string, durationField: string, method: (name: string) => string): PluginCall[] {
  return pluginLines(dockerdLog, pluginId)
    .filter((line) => line.message === message && typeof line.fields.method === 'string')
    .map((line) => {
      const durationMs = Number(line.fields[durationField] ?? 0);
      return {
        method: method(String(line.fields.method)),
        volume: typeof line.fields.volume === 'string' ? line.fields.volume : undefined,
        outcome: String(line.fields.outcome ?? ''),
        error: typeof line.fields.error === 'string' ? line.fields.error : undefined,
        start: line.time - durationMs,
        end: line.time,
        durationMs,
      };
    });
}

export function pluginCalls(dockerdLog: string, pluginId: string): PluginCall[] {
  return loggedCalls(dockerdLog, pluginId, 'call', 'durationMs', (name) => name.replace(/^VolumeDriver\./, ''));
}

/** The CSI calls berth/ebs-csi logged (Probe, NodeGetInfo and the like are logged only when they fail). */
export function csiCalls(dockerdLog: string, pluginId: string): PluginCall[] {
  return loggedCalls(dockerdLog, pluginId, 'csi call', 'ms', (name) => name);
}
