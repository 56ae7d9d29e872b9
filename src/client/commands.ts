/** The admin commands: each one's arguments, the one admin route it calls, and what it prints for a person. */
import { AdminRoutes, type AdminSnapshot, type AdminVolume, type DoctorReport, type ModifyResult, type ReleaseResult, type VolumeChange } from '../admin/protocol';
import type { AdminRequest } from './admin-call';
import { readSizeGiB, readTags, readWholeNumber, type CommandLine, type OptionSpec } from './arguments';
import { anyFailed, doctorLines } from './doctor-view';
import { EXIT, usageError, type ExitCode } from './failures';
import { createdSentence, deletedSentence, snapshotsTable } from './snapshot-views';
import { modifiedSentence, releasedSentence, volumeListing, volumesTable } from './volume-views';

export interface Command {
  /** As typed after `berth`: "volume resize". */
  name: string;
  /** The operands' usage: "NAME SIZE", "[NAME]". */
  operands: string;
  summary: string;
  /** Its own options, besides the common ones. */
  options: Record<string, OptionSpec>;
  request(line: CommandLine): AdminRequest;
  render(result: unknown): string;
  /** Doctor fails when a check failed; every other command succeeds with its result. */
  exitCode?(result: unknown): ExitCode;
}

/** A route with its `:name` or `:id` filled in, URI-encoded. */
function route(template: string, value: string): string {
  return template.replace(/:(name|id)/, encodeURIComponent(value));
}

const MODIFY_OPTIONS: Record<string, OptionSpec> = {
  size: { type: 'string', value: 'N', doc: 'new size in GiB (only larger; G or GiB may follow)' },
  type: { type: 'string', value: 'T', doc: 'new EBS volume type (gp2, gp3, io1, io2, st1, sc1, standard)' },
  iops: { type: 'string', value: 'N', doc: 'provisioned IOPS (gp3, io1, io2)' },
  throughput: { type: 'string', value: 'N', doc: 'throughput in MiB/s (gp3)' },
};

function volumeChange({ values }: CommandLine): VolumeChange {
  const change: VolumeChange = {};
  if (typeof values.size === 'string') change.sizeGiB = readSizeGiB(values.size, '--size');
  if (typeof values.type === 'string') change.volumeType = values.type;
  if (typeof values.iops === 'string') change.iops = readWholeNumber(values.iops, '--iops');
  if (typeof values.throughput === 'string') change.throughput = readWholeNumber(values.throughput, '--throughput');
  if (Object.keys(change).length === 0) throw usageError('give at least one of --size N, --type T, --iops N, --throughput N');
  return change;
}

export const COMMANDS: Command[] = [
  {
    name: 'volume ls',
    operands: '',
    summary: "list berth's volumes: EBS id, size, type, performance, zone, state, holder and users here",
    options: {},
    request: () => ({ method: 'GET', path: AdminRoutes.volumes }),
    render: (result) => volumesTable((result as { volumes: AdminVolume[] }).volumes),
  },
  {
    name: 'volume inspect',
    operands: 'NAME',
    summary: 'show one volume as EC2 has it now, with its latest modification',
    options: {},
    request: ({ operands }) => ({ method: 'GET', path: route(AdminRoutes.volume, operands[0]) }),
    render: (result) => volumeListing(result as AdminVolume),
  },
  {
    name: 'volume resize',
    operands: 'NAME SIZE',
    summary: 'grow a volume to SIZE GiB (20, 20G or 20GiB) and its filesystem with it',
    options: {},
    request: ({ operands }) => ({ method: 'POST', path: route(AdminRoutes.modify, operands[0]), body: { sizeGiB: readSizeGiB(operands[1], 'SIZE') } }),
    render: (result) => modifiedSentence(result as ModifyResult),
  },
  {
    name: 'volume modify',
    operands: 'NAME',
    summary: "change a volume's size, type, IOPS or throughput (EC2 ModifyVolume)",
    options: MODIFY_OPTIONS,
    request: (line) => ({ method: 'POST', path: route(AdminRoutes.modify, line.operands[0]), body: volumeChange(line) }),
    render: (result) => modifiedSentence(result as ModifyResult),
  },
  {
    name: 'volume release',
    operands: 'NAME',
    summary: 'detach a volume from the instance that holds it, so that another instance can mount it',
    options: { force: { type: 'boolean', doc: 'force-detach it, even from a running instance' } },
    request: ({ operands, values }) => ({ method: 'POST', path: route(AdminRoutes.release, operands[0]), body: values.force ? { force: true } : {} }),
    render: (result) => releasedSentence(result as ReleaseResult),
  },
  {
    name: 'snapshot create',
    operands: 'NAME',
    summary: 'snapshot a volume and wait until the snapshot is completed',
    options: { tag: { type: 'string', multiple: true, value: 'KEY=VALUE', doc: 'a tag of the snapshot (repeat for more)' } },
    request: ({ operands, values }) => {
      const tags = readTags((values.tag as string[] | undefined) ?? []);
      return { method: 'POST', path: route(AdminRoutes.createSnapshot, operands[0]), body: Object.keys(tags).length ? { tags } : {} };
    },
    render: (result) => createdSentence(result as AdminSnapshot),
  },
  {
    name: 'snapshot ls',
    operands: '[NAME]',
    summary: 'list the snapshots berth made (of volume NAME only, when given)',
    options: {},
    request: ({ operands }) => ({
      method: 'GET',
      path: operands[0] === undefined ? AdminRoutes.snapshots : `${AdminRoutes.snapshots}?volume=${encodeURIComponent(operands[0])}`,
    }),
    render: (result) => snapshotsTable((result as { snapshots: AdminSnapshot[] }).snapshots),
  },
  {
    name: 'snapshot rm',
    operands: 'SNAPSHOT',
    summary: 'delete a snapshot berth made (SNAPSHOT is its id, snap-...)',
    options: {},
    request: ({ operands }) => ({ method: 'DELETE', path: route(AdminRoutes.snapshot, operands[0]) }),
    render: (result) => deletedSentence(result as { deleted: string }),
  },
  {
    name: 'doctor',
    operands: '',
    summary: "run the daemon's checks (instance metadata, EC2 permissions and more): each one's outcome, and the fix of each that did not pass",
    options: {},
    request: () => ({ method: 'GET', path: AdminRoutes.doctor }),
    render: (result) => doctorLines(result as DoctorReport),
    exitCode: (result) => (anyFailed(result as DoctorReport) ? EXIT.failed : EXIT.ok),
  },
];
