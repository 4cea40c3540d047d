// Starts a fake control plane and a gateway in front of it, with the gateway's
// log lines kept in memory for assertions.
import { pino } from "pino";
import { startGateway, type Gateway, type GatewayOptions } from "../gateway.js";
import { FakeControlPlane } from "./fake-control-plane.js";

export interface GatewayFixture {
  fake: FakeControlPlane;
  gateway: Gateway;
  /** Parsed JSON log lines of the gateway, oldest first. */
  logs: Record<string, unknown>[];
  close(): Promise<void>;
}

export async function startGatewayFixture(
  options: Partial<Pick<GatewayOptions, "maxBodyBytes" | "controlPlaneAddress" | "shutdownGraceMs">> = {},
): Promise<GatewayFixture> {
  const fake = await FakeControlPlane.start();
  const logs: Record<string, unknown>[] = [];
  const logger = pino({ level: "debug" }, { write: (line: string) => void logs.push(JSON.parse(line)) });
  const gateway = await startGateway({
    httpAddress: "127.0.0.1:0",
    controlPlaneAddress: options.controlPlaneAddress ?? fake.address,
    logger,
    ...(options.maxBodyBytes === undefined ? {} : { maxBodyBytes: options.maxBodyBytes }),
    ...(options.shutdownGraceMs === undefined ? {} : { shutdownGraceMs: options.shutdownGraceMs }),
  });
  return {
    fake,
    gateway,
    logs,
    async close() {
      await gateway.close();
      fake.stop();
    },
  };
}
