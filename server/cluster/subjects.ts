// The NATS subjects replicas talk on. Replica ids ("host:7443") may hold dots, which
// separate subject tokens, so a replica's own subjects carry its id in base64url.
const PREFIX = "trustplane.cluster.v1";

function token(replicaId: string): string {
  return Buffer.from(replicaId, "utf8").toString("base64url");
}

export const subjects = {
  /** Every replica's ReplicaPresence. */
  presence: `${PREFIX}.presence`,
  /** SyncRequest: a (re)joined replica asks for everyone's presence. */
  sync: `${PREFIX}.sync`,
  /** DispatchBatch requests for agents held by `replicaId`. */
  dispatch: (replicaId: string) => `${PREFIX}.replica.${token(replicaId)}.dispatch`,
  /** ResultBatch messages for jobs running on `replicaId`. */
  results: (replicaId: string) => `${PREFIX}.replica.${token(replicaId)}.results`,
};
