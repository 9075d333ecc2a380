import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The shipped test CA and its `localhost` certificate (see fixtures/tls/README.md). */
export interface TestCertificates {
  /** Private key of `localhost.pem`: public on purpose, for tests only. */
  key: Buffer;
  /** Server certificate for localhost, 127.0.0.1 and ::1. */
  cert: Buffer;
  /** The test CA a verifying client trusts. */
  ca: Buffer;
}

const PACKAGE_NAME = "smtp-fixture";

let cached: TestCertificates | undefined;

/**
 * Reads fixtures/tls/{localhost.pem, localhost-key.pem, ca.pem} from the package root,
 * on the first call only. Works from src/ (tests) and from dist/ (installed package).
 */
export function loadTestCertificates(): TestCertificates {
  if (cached === undefined) {
    const dir = join(findPackageRoot(dirname(fileURLToPath(import.meta.url))), "fixtures", "tls");
    cached = {
      key: readFileSync(join(dir, "localhost-key.pem")),
      cert: readFileSync(join(dir, "localhost.pem")),
      ca: readFileSync(join(dir, "ca.pem")),
    };
  }
  return { ...cached };
}

/** Walks up from `start` to the directory whose package.json is this package's. */
function findPackageRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    if (isThisPackage(join(dir, "package.json"))) return dir;
    if (dirname(dir) === dir) {
      throw new Error(
        `smtp-fixture: cannot find the package root (a package.json named "${PACKAGE_NAME}") above ${start}, so the test certificates in fixtures/tls cannot be loaded`,
      );
    }
  }
}

function isThisPackage(file: string): boolean {
  if (!existsSync(file)) return false;
  try {
    const pkg: unknown = JSON.parse(readFileSync(file, "utf8"));
    return typeof pkg === "object" && pkg !== null && "name" in pkg && pkg.name === PACKAGE_NAME;
  } catch {
    return false;
  }
}
