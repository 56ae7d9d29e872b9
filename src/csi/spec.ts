/**
 * The part of the Container Storage Interface v1 (github.com/container-storage-interface/spec, csi.proto) that
 * berth serves, as .proto text: the daemon is bundled into one JavaScript file, so no .proto is read at run time.
 * Field numbers and enum values are the spec's own; alpha options and the messages of calls berth does not answer
 * are left out (grpc-js answers UNIMPLEMENTED for those). The `secrets` fields are kept so that they are decoded
 * into fields berth never reads, rather than lost in unknown bytes nobody can account for.
 */

/** The one wrapper ProbeResponse needs, from google/protobuf/wrappers.proto. */
export const WRAPPERS_PROTO = `
syntax = "proto3";
package google.protobuf;

message BoolValue {
  bool value = 1;
}
`;

export const CSI_PROTO = `
syntax = "proto3";
package csi.v1;

service Identity {
  rpc GetPluginInfo(GetPluginInfoRequest) returns (GetPluginInfoResponse) {}
  rpc GetPluginCapabilities(GetPluginCapabilitiesRequest) returns (GetPluginCapabilitiesResponse) {}
  rpc Probe(ProbeRequest) returns (ProbeResponse) {}
}

service Controller {
  rpc CreateVolume(CreateVolumeRequest) returns (CreateVolumeResponse) {}
  rpc DeleteVolume(DeleteVolumeRequest) returns (DeleteVolumeResponse) {}
  rpc ControllerPublishVolume(ControllerPublishVolumeRequest) returns (ControllerPublishVolumeResponse) {}
  rpc ControllerUnpublishVolume(ControllerUnpublishVolumeRequest) returns (ControllerUnpublishVolumeResponse) {}
  rpc ValidateVolumeCapabilities(ValidateVolumeCapabilitiesRequest) returns (ValidateVolumeCapabilitiesResponse) {}
  rpc ListVolumes(ListVolumesRequest) returns (ListVolumesResponse) {}
  rpc ControllerGetCapabilities(ControllerGetCapabilitiesRequest) returns (ControllerGetCapabilitiesResponse) {}
}

service Node {
  rpc NodeStageVolume(NodeStageVolumeRequest) returns (NodeStageVolumeResponse) {}
  rpc NodeUnstageVolume(NodeUnstageVolumeRequest) returns (NodeUnstageVolumeResponse) {}
  rpc NodePublishVolume(NodePublishVolumeRequest) returns (NodePublishVolumeResponse) {}
  rpc NodeUnpublishVolume(NodeUnpublishVolumeRequest) returns (NodeUnpublishVolumeResponse) {}
  rpc NodeGetCapabilities(NodeGetCapabilitiesRequest) returns (NodeGetCapabilitiesResponse) {}
  rpc NodeGetInfo(NodeGetInfoRequest) returns (NodeGetInfoResponse) {}
}

message GetPluginInfoRequest {}

message GetPluginInfoResponse {
  string name = 1;
  string vendor_version = 2;
  map<string, string> manifest = 3;
}

message GetPluginCapabilitiesRequest {}

message GetPluginCapabilitiesResponse {
  repeated PluginCapability capabilities = 1;
}

message PluginCapability {
  message Service {
    enum Type {
      UNKNOWN = 0;
      CONTROLLER_SERVICE = 1;
      VOLUME_ACCESSIBILITY_CONSTRAINTS = 2;
      GROUP_CONTROLLER_SERVICE = 3;
    }
    Type type = 1;
  }
  oneof type {
    Service service = 1;
  }
}

message ProbeRequest {}

message ProbeResponse {
  .google.protobuf.BoolValue ready = 1;
}

message CreateVolumeRequest {
  string name = 1;
  CapacityRange capacity_range = 2;
  repeated VolumeCapability volume_capabilities = 3;
  map<string, string> parameters = 4;
  map<string, string> secrets = 5;
  VolumeContentSource volume_content_source = 6;
  TopologyRequirement accessibility_requirements = 7;
}

message VolumeContentSource {
  message SnapshotSource {
    string snapshot_id = 1;
  }
  message VolumeSource {
    string volume_id = 1;
  }
  oneof type {
    SnapshotSource snapshot = 1;
    VolumeSource volume = 2;
  }
}

message CreateVolumeResponse {
  Volume volume = 1;
}

message VolumeCapability {
  message BlockVolume {}
  message MountVolume {
    string fs_type = 1;
    repeated string mount_flags = 2;
    string volume_mount_group = 3;
  }
  message AccessMode {
    enum Mode {
      UNKNOWN = 0;
      SINGLE_NODE_WRITER = 1;
      SINGLE_NODE_READER_ONLY = 2;
      MULTI_NODE_READER_ONLY = 3;
      MULTI_NODE_SINGLE_WRITER = 4;
      MULTI_NODE_MULTI_WRITER = 5;
      SINGLE_NODE_SINGLE_WRITER = 6;
      SINGLE_NODE_MULTI_WRITER = 7;
    }
    Mode mode = 1;
  }
  oneof access_type {
    BlockVolume block = 1;
    MountVolume mount = 2;
  }
  AccessMode access_mode = 3;
}

message CapacityRange {
  int64 required_bytes = 1;
  int64 limit_bytes = 2;
}

message Volume {
  int64 capacity_bytes = 1;
  string volume_id = 2;
  map<string, string> volume_context = 3;
  VolumeContentSource content_source = 4;
  repeated Topology accessible_topology = 5;
}

message TopologyRequirement {
  repeated Topology requisite = 1;
  repeated Topology preferred = 2;
}

message Topology {
  map<string, string> segments = 1;
}

message DeleteVolumeRequest {
  string volume_id = 1;
  map<string, string> secrets = 2;
}

message DeleteVolumeResponse {}

message ControllerPublishVolumeRequest {
  string volume_id = 1;
  string node_id = 2;
  VolumeCapability volume_capability = 3;
  bool readonly = 4;
  map<string, string> secrets = 5;
  map<string, string> volume_context = 6;
}

message ControllerPublishVolumeResponse {
  map<string, string> publish_context = 1;
}

message ControllerUnpublishVolumeRequest {
  string volume_id = 1;
  string node_id = 2;
  map<string, string> secrets = 3;
}

message ControllerUnpublishVolumeResponse {}

message ValidateVolumeCapabilitiesRequest {
  string volume_id = 1;
  map<string, string> volume_context = 2;
  repeated VolumeCapability volume_capabilities = 3;
  map<string, string> parameters = 4;
  map<string, string> secrets = 5;
}

message ValidateVolumeCapabilitiesResponse {
  message Confirmed {
    map<string, string> volume_context = 1;
    repeated VolumeCapability volume_capabilities = 2;
    map<string, string> parameters = 3;
  }
  Confirmed confirmed = 1;
  string message = 2;
}

message ListVolumesRequest {
  int32 max_entries = 1;
  string starting_token = 2;
}

message ListVolumesResponse {
  message VolumeStatus {
    repeated string published_node_ids = 1;
  }
  message Entry {
    Volume volume = 1;
    VolumeStatus status = 2;
  }
  repeated Entry entries = 1;
  string next_token = 2;
}

message ControllerGetCapabilitiesRequest {}

message ControllerGetCapabilitiesResponse {
  repeated ControllerServiceCapability capabilities = 1;
}

message ControllerServiceCapability {
  message RPC {
    enum Type {
      UNKNOWN = 0;
      CREATE_DELETE_VOLUME = 1;
      PUBLISH_UNPUBLISH_VOLUME = 2;
      LIST_VOLUMES = 3;
      GET_CAPACITY = 4;
      CREATE_DELETE_SNAPSHOT = 5;
      LIST_SNAPSHOTS = 6;
      CLONE_VOLUME = 7;
      PUBLISH_READONLY = 8;
      EXPAND_VOLUME = 9;
      LIST_VOLUMES_PUBLISHED_NODES = 10;
    }
    Type type = 1;
  }
  oneof type {
    RPC rpc = 1;
  }
}

message NodeStageVolumeRequest {
  string volume_id = 1;
  map<string, string> publish_context = 2;
  string staging_target_path = 3;
  VolumeCapability volume_capability = 4;
  map<string, string> secrets = 5;
  map<string, string> volume_context = 6;
}

message NodeStageVolumeResponse {}

message NodeUnstageVolumeRequest {
  string volume_id = 1;
  string staging_target_path = 2;
}

message NodeUnstageVolumeResponse {}

message NodePublishVolumeRequest {
  string volume_id = 1;
  map<string, string> publish_context = 2;
  string staging_target_path = 3;
  string target_path = 4;
  VolumeCapability volume_capability = 5;
  bool readonly = 6;
  map<string, string> secrets = 7;
  map<string, string> volume_context = 8;
}

message NodePublishVolumeResponse {}

message NodeUnpublishVolumeRequest {
  string volume_id = 1;
  string target_path = 2;
}

message NodeUnpublishVolumeResponse {}

message NodeGetCapabilitiesRequest {}

message NodeGetCapabilitiesResponse {
  repeated NodeServiceCapability capabilities = 1;
}

message NodeServiceCapability {
  message RPC {
    enum Type {
      UNKNOWN = 0;
      STAGE_UNSTAGE_VOLUME = 1;
      GET_VOLUME_STATS = 2;
      EXPAND_VOLUME = 3;
    }
    Type type = 1;
  }
  oneof type {
    RPC rpc = 1;
  }
}

message NodeGetInfoRequest {}

message NodeGetInfoResponse {
  string node_id = 1;
  int64 max_volumes_per_node = 2;
  Topology accessible_topology = 3;
}
`;
