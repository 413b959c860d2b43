// Triple DES (DES-EDE3, FIPS 46-3 / SP 800-67) in CBC mode with PKCS#7 padding, encryption only.
// WebCrypto has no DES, and the compatible .p12 (pbeWithSHAAnd3-KeyTripleDES-CBC, what macOS
// Keychain and Windows before 10 1709 read) needs it. Written from the standard's tables for
// clarity, not speed: it encrypts a few kilobytes once per download. Not for new protocols.

// Bit positions count from 1 at the most significant bit, as in the standard.
const IP = [
  58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4,
  62, 54, 46, 38, 30, 22, 14, 6, 64, 56, 48, 40, 32, 24, 16, 8,
  57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3,
  61, 53, 45, 37, 29, 21, 13, 5, 63, 55, 47, 39, 31, 23, 15, 7,
];
const FP = IP.map((_, i) => IP.indexOf(i + 1) + 1); // the inverse of IP
const E = [
  32, 1, 2, 3, 4, 5, 4, 5, 6, 7, 8, 9, 8, 9, 10, 11, 12, 13, 12, 13, 14, 15, 16, 17,
  16, 17, 18, 19, 20, 21, 20, 21, 22, 23, 24, 25, 24, 25, 26, 27, 28, 29, 28, 29, 30, 31, 32, 1,
];
const P = [
  16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10,
  2, 8, 24, 14, 32, 27, 3, 9, 19, 13, 30, 6, 22, 11, 4, 25,
];
const PC1 = [
  57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18, 10, 2, 59, 51, 43, 35, 27,
  19, 11, 3, 60, 52, 44, 36, 63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22,
  14, 6, 61, 53, 45, 37, 29, 21, 13, 5, 28, 20, 12, 4,
];
const PC2 = [
  14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10, 23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2,
  41, 52, 31, 37, 47, 55, 30, 40, 51, 45, 33, 48, 44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32,
];
const SHIFTS = [1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1];
// The eight S-boxes, 64 entries each (four rows of 16), one hex digit an entry.
const S = [
  "e4d12fb83a6c59070f74e2d1a6cb953841e8d62bfc973a50fc8249175b3ea06d",
  "f18e6b34972dc05a3d47f28ec01a69b50e7ba4d158c6932fd8a13f42b67c05e9",
  "a09e63f51dc7b428d709346a285ecbf1d6498f30b12c5ae71ad069874fe3b52c",
  "7de3069a1285bc4fd8b56f03472c1ae9a690cb7df13e52843f06a1d8945bc72e",
  "2c417ab6853fd0e9eb2c47d150fa3986421bad78f9c5630eb8c71e2d6f09a453",
  "c1af92680d34e75baf427c9561de0b389ef528c3704a1db6432c95fabe17608d",
  "4b2ef08d3c975a61d0b7491ae35c2f8614bdc37eaf6805926bd814a7950fe23c",
  "d2846fb1a93e50c71fd8a374c56b0e927b419ce206adf35821e74a8dfc90356b",
].map((box) => Array.from(box, (digit) => parseInt(digit, 16)));

const toBits = (bytes) => Array.from({ length: bytes.length * 8 }, (_, i) => (bytes[i >> 3] >> (7 - (i & 7))) & 1);
const permute = (bits, table) => table.map((position) => bits[position - 1]);
const xor = (a, b) => a.map((bit, i) => bit ^ b[i]);
const rotate = (bits, n) => [...bits.slice(n), ...bits.slice(0, n)];

// The 16 round keys of one DES key (8 bytes; the parity bits are ignored).
function roundKeys(key) {
  const kept = permute(toBits(key), PC1);
  let c = kept.slice(0, 28);
  let d = kept.slice(28);
  return SHIFTS.map((shift) => {
    c = rotate(c, shift);
    d = rotate(d, shift);
    return permute([...c, ...d], PC2);
  });
}

function feistel(right, subkey) {
  const mixed = xor(permute(right, E), subkey);
  const out = [];
  for (let box = 0; box < 8; box++) {
    const six = mixed.slice(box * 6, box * 6 + 6);
    const row = (six[0] << 1) | six[5];
    const column = (six[1] << 3) | (six[2] << 2) | (six[3] << 1) | six[4];
    const value = S[box][row * 16 + column];
    out.push((value >> 3) & 1, (value >> 2) & 1, (value >> 1) & 1, value & 1);
  }
  return permute(out, P);
}

// One DES block (64 bits as an array of bits) through the round keys in the given order.
function desBlock(bits, keys) {
  const permuted = permute(bits, IP);
  let left = permuted.slice(0, 32);
  let right = permuted.slice(32);
  for (const subkey of keys) {
    [left, right] = [right, xor(left, feistel(right, subkey))];
  }
  return permute([...right, ...left], FP);
}

function fromBits(bits) {
  const bytes = new Uint8Array(bits.length / 8);
  bits.forEach((bit, i) => {
    bytes[i >> 3] |= bit << (7 - (i & 7));
  });
  return bytes;
}

// DES-EDE3-CBC: each block is encrypted with key 1, decrypted with key 2, encrypted with key 3.
export function tripleDesCbcEncrypt(key, iv, plaintext) {
  if (key.length !== 24) throw new RangeError("a Triple DES key has 24 bytes");
  if (iv.length !== 8) throw new RangeError("a DES IV has 8 bytes");
  const [k1, k2, k3] = [0, 8, 16].map((offset) => roundKeys(key.subarray(offset, offset + 8)));
  const decrypt2 = [...k2].reverse();
  const padding = 8 - (plaintext.length % 8);
  const padded = new Uint8Array(plaintext.length + padding).fill(padding);
  padded.set(plaintext);
  const out = new Uint8Array(padded.length);
  let previous = toBits(iv);
  for (let offset = 0; offset < padded.length; offset += 8) {
    const block = xor(toBits(padded.subarray(offset, offset + 8)), previous);
    previous = desBlock(desBlock(desBlock(block, k1), decrypt2), k3);
    out.set(fromBits(previous), offset);
  }
  return out;
}
