/**
 * What EHLO advertises. A live, resettable set: the fixture changes it per test
 * (`smtp.capabilities.set({ CHUNKING: false })`) and the engine reads it on every
 * EHLO and every command that depends on an extension.
 */
// Frozen: exported, and what every server's list() reads.
export const CAPABILITIES = Object.freeze([
  "PIPELINING",
  "8BITMIME",
  "SMTPUTF8",
  "ENHANCEDSTATUSCODES",
  "DSN",
  "SIZE",
  "STARTTLS",
  "AUTH",
  "REQUIRETLS",
  "CHUNKING",
  "BINARYMIME",
] as const);

export type Capability = (typeof CAPABILITIES)[number];

export type CapabilityPatch = Partial<Record<Capability, boolean>>;

const KNOWN: ReadonlySet<string> = new Set(CAPABILITIES);

export class Capabilities {
  private readonly initial: ReadonlySet<Capability>;
  private enabled: Set<Capability>;

  constructor(enabled: Iterable<Capability>) {
    this.initial = new Set(enabled);
    this.enabled = new Set(this.initial);
  }

  /** Whether it is on. BINARYMIME rides on CHUNKING (RFC 3030 3): off with it. */
  has(capability: Capability): boolean {
    if (capability === "BINARYMIME" && !this.enabled.has("CHUNKING")) return false;
    return this.enabled.has(capability);
  }

  /** Turns extensions on or off, e.g. `{ PIPELINING: false, CHUNKING: true }`. */
  set(patch: CapabilityPatch): this {
    const entries = Object.entries(patch);
    // Every entry is checked before any is applied: a wrong one changes nothing.
    for (const [name, on] of entries) {
      if (!KNOWN.has(name)) {
        throw new TypeError(
          `capabilities.set: unknown capability ${JSON.stringify(name)}; use one of ${CAPABILITIES.join(", ")}`,
        );
      }
      if (typeof on !== "boolean") {
        // SIZE's limit is the server's `size` option; a number here would just turn it on.
        const hint = name === "SIZE" ? " (the limit itself is the `size` option)" : "";
        throw new TypeError(
          `capabilities.set: ${name} must be true or false, got ${typeof on === "string" ? JSON.stringify(on) : String(on)}${hint}`,
        );
      }
    }
    for (const [name, on] of entries) {
      if (on) this.enabled.add(name as Capability);
      else this.enabled.delete(name as Capability);
    }
    return this;
  }

  /** Back to what the server was started with. */
  reset(): void {
    this.enabled = new Set(this.initial);
  }

  list(): Capability[] {
    return CAPABILITIES.filter((c) => this.has(c));
  }
}
