// The test engine helper itself: a nats-server of our own that a nats.js client
// reaches, that is down after stop() and back on the same port after start(), where
// a client that kept reconnecting finds it again.
import { connect, Events, type NatsConnection } from "nats";
import { afterEach, describe, expect, it } from "vitest";
import { until } from "../../test/harness/until.js";
import { natsServerMissing, startNatsServer, type NatsServer } from "./nats-server.js";

const missing = natsServerMissing();

describe.skipIf(missing !== undefined)(`startNatsServer${missing ? ` (SKIPPED: ${missing})` : ""}`, () => {
  let server: NatsServer | undefined;
  let client: NatsConnection | undefined;
  afterEach(async () => {
    await client?.close();
    client = undefined;
    await server?.stop();
    server = undefined;
  });

  it("runs on a free port of 127.0.0.1, goes down on stop() and comes back on the same port on start()", async () => {
    server = await startNatsServer();
    expect(server.url).toBe(`nats://127.0.0.1:${server.port}`);
    expect(server.port).not.toBe(4222);
    client = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 50 });
    const subscription = client.subscribe("probe");
    const echoes = (async () => {
      const seen: string[] = [];
      for await (const message of subscription) {
        seen.push(message.string());
        if (seen.length === 2) break;
      }
      return seen;
    })();
    client.publish("probe", "before");
    await client.flush();

    const statuses: string[] = [];
    void (async () => {
      for await (const status of client.status()) statuses.push(status.type);
    })();
    await server.stop();
    await until(() => statuses.includes(Events.Disconnect), "the client disconnected");
    await expect(connect({ servers: server.url, reconnect: false, timeout: 500 })).rejects.toThrow();
    await server.stop(); // stopping twice is harmless

    await server.start();
    await until(() => statuses.includes(Events.Reconnect), "the client reconnected");
    client.publish("probe", "after");
    await client.flush();
    expect(await echoes).toEqual(["before", "after"]);
  });
});
