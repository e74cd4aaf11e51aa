import { createRequire } from 'node:module';
import * as proto from '@temporalio/proto';
import { patchProtobufRoot } from '@temporalio/proto/lib/patch-protobuf-root';

const { temporal } = proto;
type History = proto.temporal.api.history.v1.History;

interface ProtoJson {
  toJson(type: unknown, message: unknown): unknown;
  fromJson(type: unknown, json: unknown, options?: { ignoreUnknownFields?: boolean }): unknown;
}

// The SDK's historyToJSON/historyFromJSON (@temporalio/common/lib/proto-utils) throw "type must be
// a Type" when npm installs @temporalio/common and @temporalio/proto with separate copies of
// protobufjs 8, as this lockfile does (protobufjs 7 is hoisted for OpenTelemetry): the JSON
// codec's instanceof check sees the other copy's Type. Loading the codec from the copy that
// @temporalio/proto uses works with either layout. The format is the SDK's (canonical proto JSON);
// unlike historyFromJSON this reader does not accept the PascalCase enum names older tools wrote.
const protojson = createRequire(require.resolve('@temporalio/proto/package.json'))('protobufjs/ext/protojson') as ProtoJson;
const historyType = (patchProtobufRoot(proto) as unknown as { lookupType(name: string): unknown }).lookupType(
  'temporal.api.history.v1.History',
);

/** A history as proto JSON (camelCase fields, enum names, int64 as strings, bytes in base64). */
export function historyToJSON(history: proto.temporal.api.history.v1.IHistory): unknown {
  return protojson.toJson(historyType, temporal.api.history.v1.History.fromObject(history));
}

/** Reads a proto JSON history, as the replayer takes it. */
export function historyFromJSON(json: unknown): History {
  return protojson.fromJson(historyType, json, { ignoreUnknownFields: true }) as History;
}
