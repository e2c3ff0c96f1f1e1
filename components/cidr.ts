/**
 * IPv4 CIDR arithmetic, shared by the config checks (ranges, overlaps) and the EKS subnet layout.
 * Pure functions on strings; no dependencies.
 */

export interface Cidr {
  /** The address as written, as a 32-bit number. */
  base: number;
  /** The network address: `base` with its host bits cleared. */
  network: number;
  prefix: number;
}

/** Parses `a.b.c.d/n`; undefined for anything else. */
export function parseCidr(s: string): Cidr | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(s);
  if (!m) return undefined;
  const octets = m.slice(1, 5).map(Number);
  const prefix = Number(m[5]);
  if (octets.some((o) => o > 255) || prefix > 32) return undefined;
  const base = octets.reduce((acc, o) => acc * 256 + o, 0);
  const size = 2 ** (32 - prefix);
  return { base, network: Math.floor(base / size) * size, prefix };
}

function formatAddress(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");
}

/** The network of a CIDR in `a.b.c.d/n` form (host bits cleared). */
export function formatCidr(c: Cidr): string {
  return `${formatAddress(c.network)}/${c.prefix}`;
}

/** True when two CIDR blocks share an address. */
export function cidrsOverlap(a: string, b: string): boolean {
  const x = parseCidr(a);
  const y = parseCidr(b);
  if (!x || !y) return false;
  const xEnd = x.network + 2 ** (32 - x.prefix);
  const yEnd = y.network + 2 ** (32 - y.prefix);
  return x.network < yEnd && y.network < xEnd;
}

/**
 * The `index`-th block of `2^newBits` equal blocks of `cidr`: 10.0.0.0/16 with 3 new bits gives
 * 10.0.0.0/19, 10.0.32.0/19, ...
 */
export function subnetCidr(cidr: string, newBits: number, index: number): string {
  const parsed = parseCidr(cidr);
  const prefix = (parsed?.prefix ?? 0) + newBits;
  if (!parsed || index >= 2 ** newBits || prefix > 28) {
    throw new RangeError(`no subnet ${index} of ${cidr} with ${newBits} bits`);
  }
  return `${formatAddress(parsed.network + index * 2 ** (32 - prefix))}/${prefix}`;
}

/** True when every address of `inner` is in `outer` (10.1.0.0/16 is inside 10.0.0.0/8). */
export function cidrContains(outer: string, inner: string): boolean {
  const o = parseCidr(outer);
  const i = parseCidr(inner);
  if (!o || !i || i.prefix < o.prefix) return false;
  return Math.floor(i.network / 2 ** (32 - o.prefix)) === Math.floor(o.network / 2 ** (32 - o.prefix));
}

/** The blocks no public network holds: RFC 1918's private ranges, loopback and link-local. */
export const PRIVATE_RANGES = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"] as const;
const NOT_PUBLIC = [...PRIVATE_RANGES, "127.0.0.0/8", "169.254.0.0/16"];

/** True when the block lies inside one of RFC 1918's private ranges. */
export function isPrivateCidr(cidr: string): boolean {
  return PRIVATE_RANGES.some((r) => cidrContains(r, cidr));
}

/** True when the block lies inside a private, loopback or link-local range. */
export function isNonPublicCidr(cidr: string): boolean {
  return NOT_PUBLIC.some((r) => cidrContains(r, cidr));
}
