// What the pages print besides the audit's own figures (which go through
// rustfmt.js): shortened keys, token amounts in whole units for a reader, and
// durations. Amounts arrive as integers in base units; they are converted with
// BigInt so that no float arithmetic touches money.
import { integer } from "./rustfmt";

/** `3xQk…9fPa`, as the CLI's `short` writes keys in tables. */
export function short(key: string | null | undefined): string {
  if (!key) return "—";
  return key.length <= 12 ? key : `${key.slice(0, 4)}…${key.slice(-4)}`;
}

/** Base units as whole tokens: 1234500 with 6 decimals is "1.2345". */
export function tokens(baseUnits: number, decimals: number): string {
  const digits = integer(baseUnits);
  const negative = digits.startsWith("-");
  const abs = negative ? digits.slice(1) : digits;
  if (decimals === 0) return digits;
  const padded = abs.padStart(decimals + 1, "0");
  const whole = padded.slice(0, padded.length - decimals);
  const frac = padded.slice(padded.length - decimals).replace(/0+$/, "");
  return `${negative ? "-" : ""}${whole}${frac ? `.${frac}` : ""}`;
}

/** Whole tokens typed by a buyer ("1.5") to base units, exactly; null if malformed. */
export function parseTokens(text: string, decimals: number): number | null {
  const m = /^\s*(\d+)(?:\.(\d*))?\s*$/.exec(text);
  if (!m) return null;
  const frac = m[2] ?? "";
  if (frac.length > decimals) return null;
  const units = BigInt(m[1]) * 10n ** BigInt(decimals) + BigInt(frac.padEnd(decimals, "0") || "0");
  if (units > BigInt(Number.MAX_SAFE_INTEGER)) return null;
  return Number(units);
}

/** Seconds as "3 h 4 min", "12 s". */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

/** Hex to bytes; throws on odd length or a non-hex digit. */
export function hexToBytes(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new Error(`not hex: ${hex.slice(0, 80)}`);
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function bytesToHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
