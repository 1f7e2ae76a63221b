// Numbers written the way Rust's `format!` writes them, so that a figure on a page
// reads exactly as `gpumkt audit stats` prints it. Plain JavaScript (typed by
// rustfmt.d.ts) because e2e/e2e.mjs renders the CLI's JSON with these same rules
// before comparing it with the text on each page.
//
// Why not toFixed: `{:.6}` rounds the exact binary value half to even, toFixed
// rounds half up (0.0078125 is "0.007812" in Rust and "0.007813" in JS), and
// toFixed switches to exponent form at 1e21 where Rust never does.

/** The exact value of a finite double as mantissa * 2^exp (mantissa >= 0). */
function decompose(x) {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const biased = (hi >>> 20) & 0x7ff;
  let mantissa = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let exp;
  if (biased === 0) {
    exp = -1074; // subnormal
  } else {
    mantissa |= 1n << 52n;
    exp = biased - 1075;
  }
  return { negative: (hi >>> 31) === 1, mantissa, exp };
}

/**
 * Rust's `format!("{:.digits$}", x)` for an f64.
 * @param {number} x
 * @param {number} digits
 * @returns {string}
 */
export function fixed(x, digits) {
  if (!Number.isInteger(digits) || digits < 0 || digits > 100) {
    throw new RangeError(`digits must be an integer in 0..=100, got ${digits}`);
  }
  if (Number.isNaN(x)) return "NaN";
  if (x === Infinity) return "inf";
  if (x === -Infinity) return "-inf";
  const { negative, mantissa, exp } = decompose(x);
  const scale = 10n ** BigInt(digits);
  let q;
  if (exp >= 0) {
    q = (mantissa << BigInt(exp)) * scale;
  } else {
    const den = 1n << BigInt(-exp);
    const num = mantissa * scale;
    q = num / den;
    const twice = 2n * (num % den);
    // Ties go to the even last digit, as Rust's (Grisu/Dragon) exact mode does.
    if (twice > den || (twice === den && q % 2n === 1n)) q += 1n;
  }
  let s = q.toString();
  if (digits > 0) {
    s = s.padStart(digits + 1, "0");
    s = `${s.slice(0, s.length - digits)}.${s.slice(s.length - digits)}`;
  }
  // Rust keeps the sign of negative values, -0.0 included ("-0.00").
  return negative ? `-${s}` : s;
}

/**
 * `audit stats`'s percentages: `format!("{:.2}%", x * 100.0)`.
 * @param {number} x
 * @returns {string}
 */
export function pct(x) {
  return `${fixed(x * 100, 2)}%`;
}

/**
 * A u64/i64 from the API as Rust's `to_string` writes it. JSON numbers above
 * 2^53 lose digits in JSON.parse before they get here, so they are refused
 * rather than shown wrong.
 * @param {number} n
 * @returns {string}
 */
export function integer(n) {
  if (typeof n !== "number" || !Number.isSafeInteger(n)) {
    throw new RangeError(`not an exact integer: ${n}`);
  }
  return BigInt(n).toString();
}

/**
 * A unix time (seconds) as UTC `YYYY-MM-DD HH:MM:SS`.
 * @param {number} t
 * @returns {string}
 */
export function utc(t) {
  return new Date(integerSeconds(t) * 1000).toISOString().replace("T", " ").slice(0, 19);
}

function integerSeconds(t) {
  if (!Number.isSafeInteger(t)) throw new RangeError(`not a unix time: ${t}`);
  return t;
}

/**
 * How a figure of each `data-format` is written; e2e.mjs renders expected
 * text with this same table.
 * @param {string} format one of int, fixed6, pct, utc, text
 * @param {unknown} value
 * @returns {string}
 */
export function render(format, value) {
  switch (format) {
    case "int":
      return integer(/** @type {number} */ (value));
    case "fixed6":
      return fixed(/** @type {number} */ (value), 6);
    case "pct":
      return pct(/** @type {number} */ (value));
    case "utc":
      return utc(/** @type {number} */ (value));
    case "text":
      return value === null || value === undefined ? "—" : String(value);
    default:
      throw new RangeError(`unknown figure format ${format}`);
  }
}
