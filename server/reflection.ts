// gRPC server reflection (`buf curl --reflect`, grpcurl), served by @grpc/reflection.
// Needs no API key.
//
// The package definition handed to ReflectionService is built from the
// FileDescriptorProtos embedded in the generated code (gen/, made from proto/ by
// `buf generate`), not from @grpc/proto-loader: proto-loader re-groups the files per
// package (`trustplane_v1.proto`) and drops their imports, so a reflection client
// cannot resolve google.protobuf.Timestamp and refuses the whole schema
// (`buf curl`: failed to find service). The embedded descriptors keep the real file
// names and dependencies.
import { toBinary, type DescFile } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { Server } from "@grpc/grpc-js";
import type { PackageDefinition } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { file_trustplane_v1_agent } from "../gen/trustplane/v1/agent_pb.js";
import { file_trustplane_v1_certificate } from "../gen/trustplane/v1/certificate_pb.js";
import { file_trustplane_v1_file } from "../gen/trustplane/v1/file_pb.js";
import { file_trustplane_v1_fleet } from "../gen/trustplane/v1/fleet_pb.js";
import { file_trustplane_v1_job } from "../gen/trustplane/v1/job_pb.js";

/** The files that declare the control plane's services. */
const SERVICE_FILES: readonly DescFile[] = [
  file_trustplane_v1_agent,
  file_trustplane_v1_certificate,
  file_trustplane_v1_file,
  file_trustplane_v1_job,
  file_trustplane_v1_fleet,
];

/** Every file the service files need, dependencies first. */
function withDependencies(files: readonly DescFile[]): DescFile[] {
  const ordered: DescFile[] = [];
  const seen = new Set<string>();
  const visit = (file: DescFile) => {
    if (seen.has(file.name)) return;
    seen.add(file.name);
    file.dependencies.forEach(visit);
    ordered.push(file);
  };
  files.forEach(visit);
  return ordered;
}

/** A package definition carrying the services' file descriptors, as @grpc/reflection reads it. */
export function reflectionPackageDefinition(): PackageDefinition {
  const fileDescriptorProtos = withDependencies(SERVICE_FILES).map((file) => Buffer.from(toBinary(FileDescriptorProtoSchema, file.proto)));
  // ReflectionService reads only `fileDescriptorProtos` of each entry (and de-duplicates
  // files by name); one entry per service keeps the definition self-describing.
  const definition: PackageDefinition = {};
  for (const file of SERVICE_FILES) {
    for (const service of file.services) {
      definition[service.typeName] = { format: "Protocol Buffer 3 EnumDescriptorProto", type: {}, fileDescriptorProtos };
    }
  }
  return definition;
}

export function addReflection(server: Server): void {
  new ReflectionService(reflectionPackageDefinition()).addToServer(server);
}
