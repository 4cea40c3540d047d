// The replica's NATS connection: connects (reconnecting forever, quickly), tracks
// whether it is up, and tells the cluster when it went down or came back. While it
// is down, calls that need the whole fleet answer UNAVAILABLE.
import { connect, Events, type NatsConnection } from "nats";
import type { Logger } from "../../common/logger.js";
import { unavailable, type StatusError } from "../../common/status-error.js";

export interface ClusterConnectionEvents {
  /** The connection dropped; it reconnects by itself. */
  onDisconnect(): void;
  /** The connection is back (after onDisconnect). */
  onReconnect(): void;
}

export class ClusterConnection {
  private up = true;

  private constructor(
    readonly nats: NatsConnection,
    private readonly logger: Logger,
  ) {}

  /** Connects to one of `urls` ("nats://host:port"); throws UNAVAILABLE when none answers. */
  static async open(urls: string[], name: string, logger: Logger, events: ClusterConnectionEvents): Promise<ClusterConnection> {
    let nats: NatsConnection;
    try {
      nats = await connect({
        servers: urls,
        name: `trustplane ${name}`,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        reconnectJitter: 100,
        pingInterval: 2_000,
        maxPingOut: 2,
      });
    } catch (error) {
      const where = urls.map((url) => url.replace(/\/\/[^@/]*@/, "//")).join(",");
      throw unavailable(`cluster unavailable: cannot connect to NATS at ${where}: ${(error as Error).message}`);
    }
    const connection = new ClusterConnection(nats, logger);
    void connection.watch(events);
    return connection;
  }

  get connected(): boolean {
    return this.up && !this.nats.isClosed();
  }

  /** UNAVAILABLE when the replica cannot reach NATS (and so the rest of the fleet). */
  unavailableError(): StatusError | undefined {
    return this.connected ? undefined : unavailable("cluster unavailable: not connected to NATS", "the control plane reconnects by itself; retry shortly");
  }

  private async watch(events: ClusterConnectionEvents): Promise<void> {
    for await (const status of this.nats.status()) {
      if (status.type === Events.Disconnect) {
        if (!this.up) continue;
        this.up = false;
        this.logger.warn({ server: status.data }, "cluster connection lost; reconnecting");
        events.onDisconnect();
      } else if (status.type === Events.Reconnect) {
        this.up = true;
        this.logger.info({ server: status.data }, "cluster connection back");
        events.onReconnect();
      }
    }
  }

  /** Sends what is buffered, then closes. */
  async close(): Promise<void> {
    if (this.nats.isClosed()) return;
    try {
      await this.nats.drain();
    } catch {
      await this.nats.close().catch(() => undefined);
    }
  }
}
