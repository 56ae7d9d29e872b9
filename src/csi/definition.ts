/**
 * The CSI services as grpc-js loads them, made from the .proto text in spec.ts. The server and the tests' client
 * load this same definition, so both sides agree on every field.
 *
 * Messages are plain objects with the spec's snake_case field names; int64s are numbers (sizes stay far below
 * 2^53); enums are their names; every field is present with its default, and a set oneof is named by its oneof
 * field (`access_type: 'mount'`).
 */
import { loadPackageDefinition, type GrpcObject, type ServiceDefinition } from '@grpc/grpc-js';
import { fromJSON, type PackageDefinition } from '@grpc/proto-loader';
import { parse, Root } from 'protobufjs';
import { CSI_PROTO, WRAPPERS_PROTO } from './spec';

export const CSI_SERVICES = ['Identity', 'Controller', 'Node'] as const;
export type CsiServiceName = (typeof CSI_SERVICES)[number];

let loaded: PackageDefinition | undefined;

export function csiPackageDefinition(): PackageDefinition {
  if (!loaded) {
    const root = new Root();
    parse(WRAPPERS_PROTO, root, { keepCase: true });
    parse(CSI_PROTO, root, { keepCase: true });
    loaded = fromJSON(root.toJSON(), { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true });
  }
  return loaded;
}

/** The definition of one service, as `Server.addService` takes it. */
export function csiService(name: CsiServiceName): ServiceDefinition {
  return csiPackageDefinition()[`csi.v1.${name}`] as ServiceDefinition;
}

/** The loaded package, whose `csi.v1.<Service>` are client constructors. */
export function csiPackage(): GrpcObject {
  return loadPackageDefinition(csiPackageDefinition());
}
