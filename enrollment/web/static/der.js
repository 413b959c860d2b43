// A small DER encoder: exactly the ASN.1 that PKCS#10 and PKCS#12 need, nothing more.
// Every function returns a Uint8Array holding one complete DER encoding (tag, length, value).
// No dependencies; runs in browsers and in Node (the tests check its output with OpenSSL).

const utf8 = new TextEncoder();

export function concat(...parts) {
  const total = parts.reduce((sum, part) => sum + part.length, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function lengthOctets(length) {
  if (length < 0x80) return Uint8Array.of(length);
  const bytes = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

export function tlv(tag, ...contents) {
  const body = concat(...contents);
  return concat(Uint8Array.of(tag), lengthOctets(body.length), body);
}

export const sequence = (...items) => tlv(0x30, ...items);
export const octetString = (bytes) => tlv(0x04, bytes);
export const nullValue = () => Uint8Array.of(0x05, 0x00);
export const bitString = (bytes) => tlv(0x03, Uint8Array.of(0), bytes);
export const utf8String = (text) => tlv(0x0c, utf8.encode(text));
export const explicit = (number, ...contents) => tlv(0xa0 | number, ...contents);
export const implicitPrimitive = (number, bytes) => tlv(0x80 | number, bytes);

// DER orders the elements of a SET OF by their encodings (X.690 11.6).
function compareEncodings(a, b) {
  const length = Math.max(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const diff = (a[i] ?? 0) - (b[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return 0;
}

export const setOf = (...items) => tlv(0x31, ...[...items].sort(compareEncodings));

// A non-negative INTEGER from a safe JS integer or from big-endian unsigned bytes.
export function integer(value) {
  let bytes;
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`bad INTEGER ${value}`);
    const digits = [];
    for (let rest = value; rest > 0; rest = Math.floor(rest / 256)) digits.unshift(rest % 256);
    bytes = Uint8Array.from(digits.length ? digits : [0]);
  } else {
    let start = 0;
    while (start < value.length - 1 && value[start] === 0) start++;
    bytes = value.subarray(start);
    if (bytes.length === 0) bytes = Uint8Array.of(0);
  }
  if (bytes[0] & 0x80) bytes = concat(Uint8Array.of(0), bytes);
  return tlv(0x02, bytes);
}

export function oid(dotted) {
  const arcs = dotted.split(".").map(Number);
  if (arcs.length < 2 || arcs.some((arc) => !Number.isSafeInteger(arc) || arc < 0)) {
    throw new RangeError(`bad OBJECT IDENTIFIER ${dotted}`);
  }
  const out = [];
  [arcs[0] * 40 + arcs[1], ...arcs.slice(2)].forEach((arc) => {
    const groups = [arc % 128];
    for (let rest = Math.floor(arc / 128); rest > 0; rest = Math.floor(rest / 128)) {
      groups.unshift(0x80 | rest % 128);
    }
    out.push(...groups);
  });
  return tlv(0x06, Uint8Array.from(out));
}

// UTF-16 big-endian code units (BMPString, and the PKCS#12 password encoding).
export function utf16be(text) {
  const out = new Uint8Array(text.length * 2);
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    out[2 * i] = unit >> 8;
    out[2 * i + 1] = unit & 0xff;
  }
  return out;
}

export const bmpString = (text) => tlv(0x1e, utf16be(text));

export function toBase64(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

export function fromBase64(text) {
  const binary = atob(text.replace(/\s+/g, ""));
  return Uint8Array.from(binary, (ch) => ch.charCodeAt(0));
}

export function toPem(label, bytes) {
  const lines = toBase64(bytes).match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

// Every block of the given label in a PEM text, as DER bytes, in order.
export function pemBlocks(text, label) {
  const pattern = new RegExp(`-----BEGIN ${label}-----([^-]+)-----END ${label}-----`, "g");
  return [...text.matchAll(pattern)].map((match) => fromBase64(match[1]));
}
