/**
 * StopInstances, StartInstances and TerminateInstances for the simulated instances, as EC2 documents them. Stopping
 * keeps the EBS volumes attached (running -> stopping -> stopped); starting goes stopped -> pending -> running;
 * terminating detaches the data volumes (AttachVolume sets DeleteOnTermination false, so they become available and
 * their loop devices go), deletes the root volume (DeleteOnTermination true) and ends "terminated": the instance
 * stays visible and cannot be started again. Each of these transitions takes the "instance" delay. Nothing runs on
 * a simulated instance, so its metadata service keeps answering whatever its state.
 */
import { Ec2Error, dryRunSucceeded, invalidParameterValue, missingParameter } from '../ec2-error';
import type { QueryParams } from '../query';
import { instanceStateXml } from '../render';
import { type InstanceRecord, type InstanceStateName, instanceState } from '../state';
import type { XmlObject } from '../xml';
import { attachedTo, beginDetach } from './attachments';
import type { Action, Ctx } from './context';
import { findInstance } from './lookups';

/** What EC2 writes in StateTransitionReason: "User initiated (2024-05-01 12:00:00 GMT)". */
function userInitiated(): string {
  return `User initiated (${new Date().toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, '')} GMT)`;
}

/** The code is the one EC2's StateReason reference gives for a shutdown through the API; the message as real answers show it. */
const USER_INITIATED_SHUTDOWN = { code: 'Client.UserInitiatedShutdown', message: 'Client.UserInitiatedShutdown: User initiated shutdown' };

/** All the named instances, or the error for the first that is not found: none changes unless all can. */
function requestedInstances(ctx: Ctx, params: QueryParams, region: string): InstanceRecord[] {
  const ids = params.list('InstanceId');
  if (ids.length === 0) throw missingParameter('InstanceId');
  return ids.map((id) => findInstance(ctx.state, region, id));
}

function stateChange(instance: InstanceRecord, previous: InstanceStateName): XmlObject {
  return { instanceId: instance.id, currentState: instanceStateXml(instanceState(instance)), previousState: instanceStateXml(previous) };
}

/** Force and SkipOsShutdown are checked and change nothing: no operating system runs on a simulated instance. */
function readShutdownOptions(params: QueryParams): void {
  params.bool('Force');
  params.bool('SkipOsShutdown');
}

/** Refuses the call when one of the instances is in a state the action cannot start from. */
function refuseFrom(instances: InstanceRecord[], states: InstanceStateName[], message: (id: string) => string): void {
  const stuck = instances.find((instance) => states.includes(instanceState(instance)));
  if (stuck) throw new Ec2Error('IncorrectInstanceState', message(stuck.id));
}

async function finishTransition(ctx: Ctx, instanceId: string, from: InstanceStateName, to: InstanceStateName): Promise<void> {
  const instance = ctx.state.instances[instanceId];
  if (!instance || instanceState(instance) !== from) return;
  instance.state = to;
  if (to === 'terminated') {
    delete ctx.state.volumes[instance.rootVolumeId];
    delete ctx.state.modifications[instance.rootVolumeId];
  }
  ctx.commit();
  ctx.log.info(`instance ${to}`, { instanceId });
}

const TRANSITIONS: Partial<Record<InstanceStateName, InstanceStateName>> = {
  pending: 'running',
  stopping: 'stopped',
  'shutting-down': 'terminated',
};

async function scheduleTransition(ctx: Ctx, instance: InstanceRecord): Promise<void> {
  const from = instanceState(instance);
  const to = TRANSITIONS[from];
  if (!to) return;
  await ctx.scheduler.schedule(ctx.delays.instance, `${to} ${instance.id}`, () => finishTransition(ctx, instance.id, from, to));
}

/** Changes each instance with `change` (which reports whether it did), answers as EC2 does, then lets transitions run. */
async function changeStates(ctx: Ctx, instances: InstanceRecord[], change: (instance: InstanceRecord) => Promise<boolean> | boolean): Promise<XmlObject[]> {
  const changed: InstanceRecord[] = [];
  const answer: XmlObject[] = [];
  for (const instance of instances) {
    const previous = instanceState(instance);
    if (await change(instance)) changed.push(instance);
    answer.push(stateChange(instance, previous));
  }
  ctx.commit();
  for (const instance of changed) await scheduleTransition(ctx, instance);
  return answer;
}

export const stopInstances: Action = {
  params: ['InstanceId', 'Force', 'Hibernate', 'SkipOsShutdown'],
  async handle(ctx, { params, region, dryRun }) {
    const instances = requestedInstances(ctx, params, region);
    readShutdownOptions(params);
    if (params.bool('Hibernate')) throw invalidParameterValue('local-ec2 does not simulate hibernation: Hibernate must be false.');
    // The message of a real EC2 answer quoted in public logs; EC2's documentation does not give it.
    refuseFrom(instances, ['shutting-down', 'terminated'], (id) => `This instance '${id}' is not in a state from which it can be stopped.`);
    if (dryRun) throw dryRunSucceeded();
    const stoppingInstances = await changeStates(ctx, instances, (instance) => {
      const state = instanceState(instance);
      if (state !== 'running' && state !== 'pending') return false;
      instance.state = 'stopping';
      instance.stateTransitionReason = userInitiated();
      instance.stateReason = USER_INITIATED_SHUTDOWN;
      return true;
    });
    return { instancesSet: stoppingInstances };
  },
};

export const startInstances: Action = {
  params: ['InstanceId', 'AdditionalInfo'],
  async handle(ctx, { params, region, dryRun }) {
    const instances = requestedInstances(ctx, params, region);
    // The message of a real EC2 answer quoted in public logs; EC2's documentation does not give it.
    refuseFrom(instances, ['stopping', 'shutting-down', 'terminated'], (id) => `The instance '${id}' is not in a state from which it can be started.`);
    if (dryRun) throw dryRunSucceeded();
    const startingInstances = await changeStates(ctx, instances, (instance) => {
      if (instanceState(instance) !== 'stopped') return false;
      instance.state = 'pending';
      instance.stateTransitionReason = '';
      delete instance.stateReason;
      return true;
    });
    return { instancesSet: startingInstances };
  },
};

export const terminateInstances: Action = {
  params: ['InstanceId', 'Force', 'SkipOsShutdown'],
  async handle(ctx, { params, region, dryRun }) {
    const instances = requestedInstances(ctx, params, region);
    readShutdownOptions(params);
    if (dryRun) throw dryRunSucceeded();
    // TerminateInstances is idempotent: a terminated (or terminating) instance answers with its state again.
    const terminatingInstances = await changeStates(ctx, instances, async (instance) => {
      const state = instanceState(instance);
      if (state === 'shutting-down' || state === 'terminated') return false;
      instance.state = 'shutting-down';
      instance.stateTransitionReason = userInitiated();
      instance.stateReason = USER_INITIATED_SHUTDOWN;
      // Forced: the instance is gone, so nothing on it may hold a volume back.
      for (const volume of attachedTo(ctx.state, instance.id)) {
        if (!volume.rootOf) await beginDetach(ctx, volume, true);
      }
      return true;
    });
    return { instancesSet: terminatingInstances };
  },
};

/** After a restart: instances that were pending, stopping or shutting down finish that (after the delay). */
export async function resumeInstanceTransitions(ctx: Ctx): Promise<void> {
  for (const instance of Object.values(ctx.state.instances)) await scheduleTransition(ctx, instance);
}
