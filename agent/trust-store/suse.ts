// SLES and openSUSE: update-ca-certificates (SUSE's p11-kit based script).
import { CommandTrustStore } from "./command-trust-store.js";
import type { TrustStoreFamily } from "./trust-store.js";

const IDS = new Set(["suse", "sles", "sled", "sles_sap"]);

export const suseFamily: TrustStoreFamily = {
  name: "suse",
  matches: (osId) => IDS.has(osId) || osId === "opensuse" || osId.startsWith("opensuse-"),
  create: (options) =>
    new CommandTrustStore(options, {
      family: "suse",
      anchorsDir: "/etc/pki/trust/anchors",
      systemDir: "/usr/share/pki/trust/anchors",
      bundlePath: "/var/lib/ca-certificates/ca-bundle.pem",
      command: "update-ca-certificates",
      args: () => [],
    }),
};
