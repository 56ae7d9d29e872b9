/**
 * local-ec2's "deny" fault, through the real SDK: the named actions fail as EC2 fails a call no IAM policy allows
 * (UnauthorizedOperation, HTTP 403, naming the principal and ec2:<Action>, with an encoded authorization message),
 * before any effect and whatever DryRun says; allowed actions with DryRun still get DryRunOperation (HTTP 412).
 */
import {
  CreateVolumeCommand,
  DescribeVolumesCommand,
  DescribeVolumesModificationsCommand,
  type EC2Client,
  ModifyVolumeCommand,
} from '@aws-sdk/client-ec2';
import { describeAsRoot } from '../support/privileges';
import type { CallEntry } from '../../src/localec2/call-log';
import type { LocalEc2 } from '../../src/localec2/server';
import { Workspace, adminJson, ec2Client, ec2Error, instanceId } from './localec2-support';

const INSTANCE = instanceId(0x81);
const ROLE = 'berth-deny-test-role';
const ACCOUNT = '123456789012';

describeAsRoot('local-ec2: denied actions', () => {
  const workspace = new Workspace();
  let endpoint: LocalEc2;
  let ec2: EC2Client;
  const faults = (spec: unknown) => adminJson(endpoint.ec2Url, '/_berth/faults', spec);

  beforeAll(async () => {
    endpoint = await workspace.start({ dataDir: workspace.dir('data'), instances: [{ id: INSTANCE, role: ROLE }] });
    ec2 = ec2Client(endpoint.ec2Url);
  });

  afterEach(async () => {
    await adminJson(endpoint.ec2Url, '/_berth/reset', {});
  });

  afterAll(async () => {
    ec2?.destroy();
    await workspace.teardown();
  });

  const newVolume = async () => (await ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'us-east-1a', Size: 1 }))).VolumeId!;

  it('fails a denied action with UnauthorizedOperation (403) before it has any effect; other actions go on', async () => {
    const volumeId = await newVolume();
    await faults({ deny: ['ModifyVolume'] });
    const denied = await ec2Error(ec2.send(new ModifyVolumeCommand({ VolumeId: volumeId, Size: 2 })));
    expect(denied).toMatchObject({ name: 'UnauthorizedOperation', status: 403 });
    expect(denied.message).toMatch(
      new RegExp(
        `^You are not authorized to perform this operation\\. User: arn:aws:iam::${ACCOUNT}:user/\\S+ is not authorized to perform: ec2:ModifyVolume ` +
          `on resource: arn:aws:ec2:us-east-1:${ACCOUNT}:volume/${volumeId} because no identity-based policy allows the ec2:ModifyVolume action\\. ` +
          'Encoded authorization failure message: [A-Za-z0-9_-]{40,}$',
      ),
    );
    expect((await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }))).Volumes![0].Size).toBe(1);
    expect((await ec2Error(ec2.send(new DescribeVolumesModificationsCommand({ VolumeIds: [volumeId] })))).name).toBe('InvalidVolumeModification.NotFound');
    const calls = await adminJson<CallEntry[]>(endpoint.ec2Url, '/_berth/calls');
    expect(calls.find((call) => call.action === 'ModifyVolume')).toMatchObject({ volumeId, result: 'UnauthorizedOperation' });

    await faults({ deny: ['CreateVolume'] });
    const before = (await ec2.send(new DescribeVolumesCommand({}))).Volumes!.length;
    expect((await ec2Error(newVolume())).name).toBe('UnauthorizedOperation');
    expect((await ec2.send(new DescribeVolumesCommand({}))).Volumes!.length).toBe(before);
    await ec2.send(new ModifyVolumeCommand({ VolumeId: volumeId, Size: 2 }));
  });

  it('answers DryRun with UnauthorizedOperation when denied, DryRunOperation (412) when allowed', async () => {
    const volumeId = await newVolume();
    await faults({ deny: ['ModifyVolume'] });
    expect(await ec2Error(ec2.send(new ModifyVolumeCommand({ VolumeId: volumeId, Size: 2, DryRun: true })))).toMatchObject({ name: 'UnauthorizedOperation', status: 403 });
    expect(await ec2Error(ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'us-east-1a', Size: 1, DryRun: true })))).toMatchObject({ name: 'DryRunOperation', status: 412 });
  });

  it('names the instance role\'s session as the principal for role credentials', async () => {
    const imds = endpoint.instances[0].imds;
    const credentials = (await (await fetch(`${imds}/latest/meta-data/iam/security-credentials/${ROLE}`)).json()) as { AccessKeyId: string; SecretAccessKey: string; Token: string };
    const asRole = ec2Client(endpoint.ec2Url, { credentials: { accessKeyId: credentials.AccessKeyId, secretAccessKey: credentials.SecretAccessKey, sessionToken: credentials.Token } });
    try {
      await faults({ deny: ['DescribeVolumes'] });
      const denied = await ec2Error(asRole.send(new DescribeVolumesCommand({})));
      expect(denied.name).toBe('UnauthorizedOperation');
      expect(denied.message).toContain(`User: arn:aws:sts::${ACCOUNT}:assumed-role/${ROLE}/${INSTANCE} is not authorized to perform: ec2:DescribeVolumes because`);
    } finally {
      asRole.destroy();
    }
  });

  it('refuses a deny list naming an action the endpoint does not serve, listing those it does', async () => {
    const response = await fetch(`${endpoint.ec2Url}/_berth/faults`, { method: 'POST', body: JSON.stringify({ deny: ['ModifyVolume', 'RunInstances'] }) });
    expect(response.status).toBe(400);
    const { error } = (await response.json()) as { error: string };
    expect(error).toMatch(/^deny: unknown action "RunInstances" \(allowed: .*\bModifyVolume\b.*\bTerminateInstances\b.*\)$/);
    expect((await adminJson<{ faults: unknown }>(endpoint.ec2Url, '/_berth/faults')).faults).toEqual({});
  });
});
