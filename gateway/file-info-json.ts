// FileService messages as the REST API shows them.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { FileInfo } from "../gen/trustplane/v1/file_pb.js";

export interface FileInfoJson {
  name: string;
  sha256: string;
  size: number;
  /** RFC 3339; absent when the control plane sent no time. */
  updated_at?: string;
}

export function fileInfoJson(info: FileInfo | undefined): FileInfoJson {
  const json: FileInfoJson = { name: info?.name ?? "", sha256: info?.sha256 ?? "", size: Number(info?.size ?? 0n) };
  if (info?.updatedAt) json.updated_at = timestampDate(info.updatedAt).toISOString();
  return json;
}
