// The request and response types connect-node's handlers take (HTTP/1.1 or HTTP/2),
// which its package entry does not export by name.
import type { ConnectNodeAdapterOptions } from "@connectrpc/connect-node";

export type NodeHandlerFn = NonNullable<ConnectNodeAdapterOptions["fallback"]>;
export type NodeServerRequest = Parameters<NodeHandlerFn>[0];
export type NodeServerResponse = Parameters<NodeHandlerFn>[1];
