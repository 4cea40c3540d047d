// Starts a fake control plane and a gateway in front of it, with the gateway's
// log lines kept in memory for assertions.
import { pino } from "pino";
import { startGateway, type Gateway, type GatewayOptions } from "../gateway.js";
import { FakeControlPlane, type FakeControlPlaneOptions } from "./fake-control-plane.js";

export interface GatewayFixture {
  fake: FakeControlPlane;
  gateway: Gateway;
  /** Parsed JSON log lines of the gateway, oldest first. */
  logs: Record<string, unknown>[];
  close(): Promise<void>;
}

export type GatewayFixtureOptions = Partial<
  Pick<GatewayOptions, "maxBodyBytes" | "controlPlaneAddress" | "shutdownGraceMs" | "tls" | "controlPlaneTls" | "processMetrics">
> & {
  /** How the fake control plane serves (plaintext by default). */
  fake?: FakeControlPlaneOptions;
};

export async function startGatewayFixture(options: GatewayFixtureOptions = {}): Promise<GatewayFixture> {
  const { fake: fakeOptions, ...gatewayOptions } = options;
  const fake = await FakeControlPlane.start(fakeOptions);
  const logs: Record<string, unknown>[] = [];
  const logger = pino({ level: "debug" }, { write: (line: string) => void logs.push(JSON.parse(line)) });
  let gateway: Gateway;
  try {
    gateway = await startGateway({
      httpAddress: "127.0.0.1:0",
      controlPlaneAddress: fake.address,
      logger,
      ...definedOnly(gatewayOptions),
    });
  } catch (error) {
    fake.stop();
    throw error;
  }
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

/** The options without keys set to undefined (exactOptionalPropertyTypes). */
function definedOnly<T extends object>(options: T): T {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as T;
}
