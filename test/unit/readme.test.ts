import fs from 'node:fs';
import path from 'node:path';
import { SCHEMA } from '../../src/config';
import { CREATE_OPTIONS } from '../../src/volumes/options/table';

const readme = fs.readFileSync(path.resolve(__dirname, '../../README.md'), 'utf8');

describe('README', () => {
  it('starts with the two commands that matter', () => {
    const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)![1];
    expect(firstBlock).toMatch(/^make demo/m);
    expect(firstBlock).toMatch(/^make test/m);
  });

  it.each(Object.values(SCHEMA).map((setting) => [setting.env, setting.arg]))('documents the setting %s (--%s)', (env, arg) => {
    expect(readme).toContain(`\`${env}\``);
    expect(readme).toContain(`--${arg}`);
  });

  it.each(CREATE_OPTIONS.map((option) => [option.name, option.aliases]))('documents the volume option %s', (name, aliases) => {
    expect(readme).toContain(`\`${name}\``);
    for (const alias of aliases as string[]) expect(readme).toContain(`\`${alias}\``);
  });
});
