// RHEL, Fedora, CentOS, Rocky, Alma, Oracle Linux, Amazon Linux: p11-kit's update-ca-trust.
//
// System CAs: the distribution ships them in a p11-kit object file below
// /usr/share/pki/ca-trust-source (ca-bundle.trust.p11-kit), with packaged PEM
// anchors in its anchors/ subdirectory, so that whole directory is listed as
// `system` (blocklist/ excluded, distrusted p11-kit objects left out).
import { CommandTrustStore } from "./command-trust-store.js";
import type { TrustStoreFamily } from "./trust-store.js";

const IDS = new Set(["rhel", "fedora", "centos", "rocky", "almalinux", "ol", "amzn"]);

export const rhelFamily: TrustStoreFamily = {
  name: "rhel",
  matches: (osId) => IDS.has(osId),
  create: (options) =>
    new CommandTrustStore(options, {
      family: "rhel",
      anchorsDir: "/etc/pki/ca-trust/source/anchors",
      systemDir: "/usr/share/pki/ca-trust-source",
      bundlePath: "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
      command: "update-ca-trust",
      args: () => ["extract"],
    }),
};
