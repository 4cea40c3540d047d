import { describe, expect, it } from "vitest";
import { parseOsRelease } from "./os-release.js";
import { selectTrustStoreFamily } from "./trust-store/select-trust-store.js";

describe("parseOsRelease", () => {
  it("reads plain, double- and single-quoted values and skips comments", () => {
    expect(
      parseOsRelease(
        [
          "# comment",
          'PRETTY_NAME="Ubuntu 24.04 LTS \\"Noble\\""',
          "ID=ubuntu",
          "ID_LIKE='debian'",
          'VERSION_ID="24.04"',
          "",
          "not a field",
          "EMPTY=",
        ].join("\n"),
      ),
    ).toEqual({ PRETTY_NAME: 'Ubuntu 24.04 LTS "Noble"', ID: "ubuntu", ID_LIKE: "debian", VERSION_ID: "24.04", EMPTY: "" });
  });
});

describe("selectTrustStoreFamily", () => {
  const rows: [id: string, idLike: string[], family: string | undefined][] = [
    ["debian", [], "debian"],
    ["ubuntu", ["debian"], "debian"],
    ["alpine", [], "debian"],
    ["linuxmint", ["ubuntu", "debian"], "debian"],
    ["rhel", ["fedora"], "rhel"],
    ["fedora", [], "rhel"],
    ["centos", ["rhel", "fedora"], "rhel"],
    ["rocky", ["rhel", "centos", "fedora"], "rhel"],
    ["almalinux", ["rhel", "centos", "fedora"], "rhel"],
    ["amzn", ["centos", "rhel", "fedora"], "rhel"],
    ["ol", ["fedora"], "rhel"],
    ["sles", [], "suse"],
    ["opensuse-leap", ["suse", "opensuse"], "suse"],
    ["opensuse-tumbleweed", ["opensuse", "suse"], "suse"],
    ["arch", [], "arch"],
    ["manjaro", ["arch"], "arch"],
    ["plan9", [], undefined],
    ["", [], undefined],
  ];
  it.each(rows)("%s (like %j) → %s", (id, idLike, family) => {
    expect(selectTrustStoreFamily({ id, idLike })?.name).toBe(family);
  });
});
