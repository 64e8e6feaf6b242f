// Source address ranges (CIDR, IPv4 and IPv6): parsing and matching, with IPv4-mapped IPv6 addresses seen as IPv4.

import { DeployrError } from './errors.js';

/** A parsed address range. */
export interface Cidr {
  /** The range as written back canonically (`10.0.0.0/8`, `fd00::/8`). */
  text: string;
  family: 4 | 6;
  /** The network address as a big-endian bit string's value. */
  network: bigint;
  prefix: number;
}

/** The address as a number and its family, or null when it is not an IPv4 or IPv6 address (an IPv4-mapped IPv6 address counts as IPv4). */
export function parseAddress(address: string): { family: 4 | 6; value: bigint } | null {
  const text = address.trim().replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const v4 = parseIpv4(text);
  if (v4 !== null) return { family: 4, value: v4 };
  const v6 = parseIpv6(text);
  if (v6 === null) return null;
  // ::ffff:a.b.c.d (a dual-stack listener's view of an IPv4 peer) is that IPv4 address.
  if (v6 >> 32n === 0xffffn) return { family: 4, value: v6 & 0xffffffffn };
  return { family: 6, value: v6 };
}

function parseIpv4(text: string): bigint | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let value = 0n;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255) return null;
    value = (value << 8n) | BigInt(p);
  }
  return value;
}

function parseIpv6(text: string): bigint | null {
  if (!/^[0-9a-fA-F:.]+$/.test(text) || text.length > 45) return null;
  let head = text;
  let tailV4: bigint | null = null;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.')) {
    tailV4 = parseIpv4(text.slice(lastColon + 1));
    if (tailV4 === null) return null;
    head = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = head.split('::');
  if (halves.length > 2) return null;
  const group = (s: string): string[] => (s === '' ? [] : s.split(':'));
  const left = group(halves[0] ?? '');
  const right = halves.length === 2 ? group(halves[1] ?? '') : [];
  const missing = 8 - left.length - right.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const groups = [...left, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...right];
  let value = 0n;
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    value = (value << 16n) | BigInt(`0x${g}`);
  }
  if (tailV4 !== null) value = (value & ~0xffffffffn) | tailV4;
  return value;
}

/** Parses `a.b.c.d/n`, `x::y/n` or a single address (a /32 or /128); INVALID_INPUT otherwise. */
export function parseCidr(text: string): Cidr {
  const [addr = '', prefixText, extra] = text.trim().split('/');
  const parsed = extra === undefined ? parseAddress(addr) : null;
  if (parsed === null) throw new DeployrError('INVALID_INPUT', `"${text}" is not an address range; use for example 10.0.0.0/8, 192.168.1.20 or fd00::/8.`);
  const bits = parsed.family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? bits : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > bits) {
    throw new DeployrError('INVALID_INPUT', `"${text}": the prefix length must be 0 to ${bits}.`);
  }
  const mask = prefix === 0 ? 0n : ((1n << BigInt(bits)) - 1n) ^ ((1n << BigInt(bits - prefix)) - 1n);
  const network = parsed.value & mask;
  return { text: `${formatAddress(parsed.family, network)}/${prefix}`, family: parsed.family, network, prefix };
}

/** True when `address` lies in `range` (false for anything that is not an address). */
export function cidrContains(range: Cidr, address: string): boolean {
  const parsed = parseAddress(address);
  if (parsed === null || parsed.family !== range.family) return false;
  const bits = range.family === 4 ? 32 : 128;
  const shift = BigInt(bits - range.prefix);
  return parsed.value >> shift === range.network >> shift;
}

function formatAddress(family: 4 | 6, value: bigint): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => ((value >> s) & 0xffn).toString()).join('.');
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((value >> BigInt(i * 16)) & 0xffffn).toString(16));
  // The longest run of zero groups (2 or more) becomes "::" (RFC 5952).
  let best = { start: -1, length: 0 };
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') { i += 1; continue; }
    let j = i;
    while (j < 8 && groups[j] === '0') j += 1;
    if (j - i > best.length && j - i >= 2) best = { start: i, length: j - i };
    i = j;
  }
  if (best.start < 0) return groups.join(':');
  return `${groups.slice(0, best.start).join(':')}::${groups.slice(best.start + best.length).join(':')}`;
}
