/**
 * Docker volume names. Docker's Linux daemon does not validate names sent to a plugin, so berth does: a name
 * becomes a directory under the mount root and part of the EC2 `Name` tag (`[<EBS_TAG>/]<name>`, REX-Ray's form).
 */
import { ValidationError } from '../common/errors';
import { quote } from '../common/text';

/** EC2's limit on a tag value, in Unicode characters. */
export const EC2_TAG_VALUE_MAX_LENGTH = 256;
/** The volume's mount point is a directory named after it, and a directory name holds at most 255 bytes. */
export const DIRECTORY_NAME_MAX_BYTES = 255;

/** What Docker's `local` driver accepts, single characters included (anonymous volumes are 64 hex digits). */
const NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

const ALLOWED = 'a volume name starts with a letter or digit and contains only letters, digits, "_", "." and "-"';

/** The `Name` tag value of a volume: REX-Ray's `[<tag>/]<name>`. */
export function nameTagValue(name: string, namespaceTag: string): string {
  return namespaceTag ? `${namespaceTag}/${name}` : name;
}

/** The longest volume name whose Name tag still fits EC2's tag value limit in this namespace (may be < 1). */
export function maxVolumeNameLength(namespaceTag: string): number {
  return EC2_TAG_VALUE_MAX_LENGTH - characterCount(nameTagValue('', namespaceTag));
}

/**
 * Returns the name unchanged when Docker may use it for a berth volume; otherwise throws ValidationError('name')
 * saying what is allowed.
 */
export function validateVolumeName(name: unknown, namespaceTag: string): string {
  if (typeof name !== 'string') {
    throw new ValidationError('name', `a volume name must be a string, not ${describeType(name)}`);
  }
  if (name === '') throw new ValidationError('name', `the volume name is empty: ${ALLOWED}`);
  const shown = quote(name);
  // Specific reasons first: these are the names that break Docker or escape the mount root.
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) {
    throw new ValidationError('name', `volume name ${shown} contains a control character: ${ALLOWED}`);
  }
  if (name.includes('/')) {
    throw new ValidationError('name', `volume name ${shown} contains "/": ${ALLOWED}`);
  }
  if (name === '.' || name === '..') {
    throw new ValidationError('name', `volume name ${shown} is a path component, not a name: ${ALLOWED}`);
  }
  if (!NAME_PATTERN.test(name)) {
    throw new ValidationError('name', `volume name ${shown} is not allowed: ${ALLOWED}`);
  }
  const max = maxVolumeNameLength(namespaceTag);
  if (max < 1) {
    throw new ValidationError(
      'name',
      `no volume name fits the namespace "${namespaceTag}": the EC2 Name tag "<tag>/<name>" is limited to ` +
        `${EC2_TAG_VALUE_MAX_LENGTH} characters; choose a shorter EBS_TAG`,
    );
  }
  if (name.length > DIRECTORY_NAME_MAX_BYTES && DIRECTORY_NAME_MAX_BYTES <= max) {
    throw new ValidationError(
      'name',
      `volume name ${shown} is ${name.length} characters long: the maximum is ${DIRECTORY_NAME_MAX_BYTES} ` +
        `(the volume is mounted on a directory of that name, and a directory name holds at most ${DIRECTORY_NAME_MAX_BYTES} bytes)`,
    );
  }
  if (name.length > max) {
    const where = namespaceTag ? ` with the namespace "${namespaceTag}"` : '';
    throw new ValidationError(
      'name',
      `volume name ${shown} is ${name.length} characters long: the maximum${where} is ${max} ` +
        `(the EC2 Name tag "${nameTagValue('<name>', namespaceTag)}" is limited to ${EC2_TAG_VALUE_MAX_LENGTH} characters)`,
    );
  }
  return name;
}

/** EC2 counts tag lengths in Unicode characters, not UTF-16 code units. */
function characterCount(text: string): number {
  return [...text].length;
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}
