/** An error EC2 would answer with: its code, message and HTTP status. */
export class Ec2Error extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = 'Ec2Error';
  }
}

export function missingParameter(name: string): Ec2Error {
  return new Ec2Error('MissingParameter', `The request must contain the parameter ${name}`);
}

export function invalidParameterValue(message: string): Ec2Error {
  return new Ec2Error('InvalidParameterValue', message);
}

export function invalidParameterCombination(message: string): Ec2Error {
  return new Ec2Error('InvalidParameterCombination', message);
}

export function incorrectState(message: string): Ec2Error {
  return new Ec2Error('IncorrectState', message);
}

export function volumeNotFound(id: string): Ec2Error {
  return new Ec2Error('InvalidVolume.NotFound', `The volume '${id}' does not exist.`);
}

export function instanceNotFound(id: string): Ec2Error {
  return new Ec2Error('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`);
}

export function snapshotNotFound(id: string): Ec2Error {
  return new Ec2Error('InvalidSnapshot.NotFound', `The snapshot '${id}' does not exist.`);
}

/** What a call with DryRun=true gets when it would have succeeded. */
export function dryRunSucceeded(): Ec2Error {
  return new Ec2Error('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.', 412);
}
