// Arch Linux and derivatives (ID_LIKE arch): p11-kit's update-ca-trust.
//
// System CAs: the distribution's bundle is a p11-kit object file in
// /usr/share/ca-certificates/trust-source (mozilla.trust.p11-kit), packaged PEM
// anchors in its anchors/ subdirectory; the whole directory is listed as `system`.
import { CommandTrustStore } from "./command-trust-store.js";
import type { TrustStoreFamily } from "./trust-store.js";

const IDS = new Set(["arch", "archarm"]);

export const archFamily: TrustStoreFamily = {
  name: "arch",
  matches: (osId) => IDS.has(osId),
  create: (options) =>
    new CommandTrustStore(options, {
      family: "arch",
      anchorsDir: "/etc/ca-certificates/trust-source/anchors",
      systemDir: "/usr/share/ca-certificates/trust-source",
      bundlePath: "/etc/ca-certificates/extracted/tls-ca-bundle.pem",
      command: "update-ca-trust",
      args: () => [],
    }),
};
