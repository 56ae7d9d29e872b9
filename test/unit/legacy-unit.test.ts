import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describeWhen } from '../support/privileges';

const unit = path.resolve(__dirname, '../../plugin/legacy/berth.service');

function missingSystemdAnalyze(): string | undefined {
  try {
    execFileSync('systemd-analyze', ['--version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'systemd-analyze is not installed';
  }
}

describeWhen(missingSystemdAnalyze(), 'legacy plugin systemd unit', () => {
  it('passes systemd-analyze verify (with this machine\'s node standing in for /opt/berth/bin/node)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-unit-'));
    try {
      const copy = path.join(dir, 'berth.service');
      const text = fs.readFileSync(unit, 'utf8');
      expect(text).toContain('ExecStart=/opt/berth/bin/node ');
      fs.writeFileSync(copy, text.replace('ExecStart=/opt/berth/bin/node ', `ExecStart=${process.execPath} `));
      expect(() => execFileSync('systemd-analyze', ['verify', copy], { stdio: 'pipe' })).not.toThrow();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs berth serve and stops it with SIGTERM, leaving time for its rollback', () => {
    const text = fs.readFileSync(unit, 'utf8');
    expect(text).toMatch(/^ExecStart=\S*node \S+cli\.js serve$/m);
    expect(text).toMatch(/^KillSignal=SIGTERM$/m);
    expect(text).toMatch(/^Before=docker\.service$/m);
  });
});
