/**
 * EC2 Query API parameters (form-encoded, flattened lists: `VolumeId.1`, `Filter.1.Name`, `Filter.1.Value.1`,
 * `TagSpecification.1.Tag.1.Key`, ...), read with EC2's own error codes for bad values.
 */
import { Ec2Error, invalidParameterValue, missingParameter } from './ec2-error';

export interface Filter {
  name: string;
  values: string[];
}

export interface TagInput {
  key: string;
  /** Absent when the request gave no Value (DeleteTags: delete whatever the value). */
  value?: string;
}

export interface TagSpecification {
  resourceType: string;
  tags: TagInput[];
}

export class QueryParams {
  constructor(private readonly values: Map<string, string>) {}

  static parse(...sources: string[]): QueryParams {
    const values = new Map<string, string>();
    for (const source of sources) {
      for (const [key, value] of new URLSearchParams(source)) values.set(key, value);
    }
    return new QueryParams(values);
  }

  get(name: string): string | undefined {
    return this.values.get(name);
  }

  has(name: string): boolean {
    return this.values.has(name);
  }

  require(name: string): string {
    const value = this.values.get(name);
    if (value === undefined || value === '') throw missingParameter(name);
    return value;
  }

  /** An integer parameter; `label` is the name EC2 uses in its messages. */
  int(name: string, label = name): number | undefined {
    const text = this.values.get(name);
    if (text === undefined) return undefined;
    if (!/^-?\d+$/.test(text.trim())) {
      throw invalidParameterValue(`Invalid value '${text}' for ${label}. Expected an integer.`);
    }
    return Number(text.trim());
  }

  bool(name: string): boolean | undefined {
    const text = this.values.get(name);
    if (text === undefined) return undefined;
    if (text === 'true') return true;
    if (text === 'false') return false;
    throw invalidParameterValue(`Invalid value '${text}' for ${name}. Expected true or false.`);
  }

  /** `prefix.1`, `prefix.2`, ... in numeric order. */
  list(prefix: string): string[] {
    return this.indexes(prefix).map((index) => this.values.get(`${prefix}.${index}`) ?? '');
  }

  filters(): Filter[] {
    return this.indexes('Filter').map((index) => {
      const base = `Filter.${index}`;
      const name = this.values.get(`${base}.Name`);
      if (!name) throw missingParameter(`${base}.Name`);
      return { name, values: this.list(`${base}.Value`) };
    });
  }

  tags(prefix: string): TagInput[] {
    return this.indexes(prefix).map((index) => {
      const key = this.values.get(`${prefix}.${index}.Key`);
      if (key === undefined) throw missingParameter(`${prefix}.${index}.Key`);
      return { key, value: this.values.get(`${prefix}.${index}.Value`) };
    });
  }

  tagSpecifications(): TagSpecification[] {
    return this.indexes('TagSpecification').map((index) => {
      const base = `TagSpecification.${index}`;
      const resourceType = this.values.get(`${base}.ResourceType`);
      if (!resourceType) throw missingParameter(`${base}.ResourceType`);
      return { resourceType, tags: this.tags(`${base}.Tag`) };
    });
  }

  /** The first segment of every parameter name (`Filter.1.Name` -> `Filter`). */
  roots(): Set<string> {
    return new Set([...this.values.keys()].map((key) => key.split('.')[0]));
  }

  /** Every parameter but the given ones, sorted: what makes two CreateVolume calls "the same". */
  fingerprint(exclude: string[]): string {
    const entries = [...this.values.entries()].filter(([key]) => !exclude.includes(key)).sort(([a], [b]) => (a < b ? -1 : 1));
    return JSON.stringify(entries);
  }

  private indexes(prefix: string): number[] {
    const pattern = new RegExp(`^${prefix.replace(/\./g, '\\.')}\\.(\\d+)(?:\\.|$)`);
    const found = new Set<number>();
    for (const key of this.values.keys()) {
      const match = pattern.exec(key);
      if (match) found.add(Number(match[1]));
    }
    return [...found].sort((a, b) => a - b);
  }
}

/** EC2 refuses parameters it does not know; so does the simulator (catches typos in callers). */
export function rejectUnknownParameters(params: QueryParams, allowed: readonly string[]): void {
  const known = new Set(['Action', 'Version', 'DryRun', ...allowed]);
  for (const root of params.roots()) {
    if (!known.has(root)) throw new Ec2Error('UnknownParameter', `The parameter ${root} is not recognized`);
  }
}
