import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runChecked, runCommand, toolPath } from '../../src/host/exec';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('running host commands', () => {
  it('returns the exit code and both outputs instead of throwing', async () => {
    const result = await runCommand('sh', ['-c', 'echo out; echo err >&2; exit 2']);
    expect(result).toEqual({ exitCode: 2, stdout: 'out\n', stderr: 'err\n' });
  });

  it('passes arguments as they are, with no shell in between', async () => {
    const result = await runCommand('printf', ['%s|', 'a b', '$(echo no)', '*']);
    expect(result.stdout).toBe('a b|$(echo no)|*|');
  });

  it('kills a command that outlives its bound and says so', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-exec-'));
    try {
      const pidFile = path.join(dir, 'pid');
      const started = Date.now();
      await expect(runCommand('sh', ['-c', `echo $$ > ${pidFile}; exec sleep 30`], { timeoutMs: 300 })).rejects.toMatchObject({
        code: 'timeout',
        message: expect.stringMatching(/did not finish within 0.3s/),
      });
      expect(Date.now() - started).toBeLessThan(2000);
      const pid = Number(fs.readFileSync(pidFile, 'utf8'));
      for (let i = 0; i < 50 && alive(pid); i += 1) await sleep(10);
      expect(alive(pid)).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops a command when the caller aborts', async () => {
    const controller = new AbortController();
    const running = runCommand('sleep', ['30'], { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await expect(running).rejects.toMatchObject({ code: 'timeout', message: expect.stringMatching(/cancelled/) });
  });

  it('names a tool that is not installed', async () => {
    await expect(runCommand('berth-no-such-tool', [])).rejects.toMatchObject({
      code: 'host',
      message: expect.stringMatching(/berth-no-such-tool is not installed/),
    });
  });

  it('finds tools in the sbin directories even when PATH lacks them', () => {
    const dirs = toolPath('/usr/bin:/bin').split(':');
    expect(dirs.slice(0, 2)).toEqual(['/usr/bin', '/bin']);
    expect(dirs).toEqual(expect.arrayContaining(['/usr/sbin', '/sbin']));
    expect(new Set(dirs).size).toBe(dirs.length);
  });

  it('turns a failed checked command into an error with the tail of its output', async () => {
    await expect(runChecked(runCommand, 'sh', ['-c', 'echo "it broke" >&2; exit 3'], { errorCode: 'filesystem' })).rejects.toMatchObject({
      code: 'filesystem',
      message: 'sh -c echo "it broke" >&2; exit 3 failed (exit 3): it broke',
    });
  });
});
