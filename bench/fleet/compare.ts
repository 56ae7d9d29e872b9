/** `make fleet-compare`'s table: the figures of two fleet runs (FLEET_JSON files), side by side, in Markdown. */
import fs from 'node:fs';
import { formatSideBySide, type FleetFigures } from './report';

const files = process.argv.slice(2);
if (files.length < 2) throw new Error('usage: compare.ts <fleet.json> <fleet.json>...');
const runs = files.map((file) => JSON.parse(fs.readFileSync(file, 'utf8')) as FleetFigures);
console.log(formatSideBySide(runs));
for (const run of runs.filter((item) => item.failures.length > 0)) {
  console.log(`\nFailed operations of "${run.label}":\n${run.failures.map((failure) => `- ${failure}`).join('\n')}`);
}
