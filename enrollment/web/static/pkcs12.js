// PKCS#12 (RFC 7292) in two formats, the same as the server's (enrollment/ca/pkcs12.py):
// - "modern", as OpenSSL 3 writes it by default, with WebCrypto doing all the crypto: the
//   private key in a pkcs8ShroudedKeyBag, the certificates in an encryptedData safe, both
//   encrypted with PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC), password as UTF-8; an HMAC-SHA256
//   MAC whose key comes from the PKCS#12 KDF (RFC 7292 appendix B) over SHA-256 with the
//   password as BMPString, which is what OpenSSL 3.0 checks; 100,000 iterations;
// - "compatible", as `openssl pkcs12 -legacy` writes it, for macOS Keychain and Windows before
//   10 1709: both bags encrypted with pbeWithSHAAnd3-KeyTripleDES-CBC (key and IV from the
//   PKCS#12 KDF over SHA-1, Triple DES from tripledes.js: WebCrypto has none), an HMAC-SHA1
//   MAC, 2,048 iterations each.
// friendlyName and localKeyId go on the key and the end-entity certificate in both.
// The key bag can be sealed before the certificate exists (sealKey), so that once the CA has
// issued the certificate only cheap steps remain that cannot lose the key.

import {
  concat, explicit, implicitPrimitive, integer, nullValue, octetString, oid, sequence, setOf,
  bmpString, utf16be,
} from "./der.js";
import { tripleDesCbcEncrypt } from "./tripledes.js";

// The server's enrollment/ca/pkcs12.py uses the same counts.
export const ITERATIONS = 100000;
export const COMPATIBLE_ITERATIONS = 2048;
export const FORMATS = ["modern", "compatible"];

const OID = {
  data: "1.2.840.113549.1.7.1",
  encryptedData: "1.2.840.113549.1.7.6",
  pbes2: "1.2.840.113549.1.5.13",
  pbkdf2: "1.2.840.113549.1.5.12",
  hmacWithSHA256: "1.2.840.113549.2.9",
  aes256Cbc: "2.16.840.1.101.3.4.1.42",
  sha256: "2.16.840.1.101.3.4.2.1",
  sha1: "1.3.14.3.2.26",
  pbeWithSHAAnd3KeyTripleDesCbc: "1.2.840.113549.1.12.1.3",
  keyBag: "1.2.840.113549.1.12.10.1.2", // pkcs8ShroudedKeyBag
  certBag: "1.2.840.113549.1.12.10.1.3",
  x509Certificate: "1.2.840.113549.1.9.22.1",
  friendlyName: "1.2.840.113549.1.9.20",
  localKeyId: "1.2.840.113549.1.9.21",
};

const utf8 = new TextEncoder();

function randomBytes(length) {
  return globalThis.crypto.getRandomValues(new Uint8Array(length));
}

async function digest(algorithm, bytes, subtle) {
  return new Uint8Array(await subtle.digest(algorithm, bytes));
}

async function pbes2Encrypt(password, plaintext, iterations, subtle) {
  const salt = randomBytes(16);
  const iv = randomBytes(16);
  const base = await subtle.importKey("raw", utf8.encode(password), "PBKDF2", false, [
    "deriveKey",
  ]);
  const key = await subtle.deriveKey(
    { name: "PBKDF2", salt, iterations, hash: "SHA-256" },
    base,
    { name: "AES-CBC", length: 256 },
    false,
    ["encrypt"],
  );
  const ciphertext = new Uint8Array(await subtle.encrypt({ name: "AES-CBC", iv }, key, plaintext));
  const algorithm = sequence(
    oid(OID.pbes2),
    sequence(
      sequence(
        oid(OID.pbkdf2),
        sequence(
          octetString(salt),
          integer(iterations),
          sequence(oid(OID.hmacWithSHA256), nullValue()),
        ),
      ),
      sequence(oid(OID.aes256Cbc), octetString(iv)),
    ),
  );
  return { algorithm, ciphertext };
}

// pbeWithSHAAnd3-KeyTripleDES-CBC (RFC 7292 appendix C): key and IV from the PKCS#12 KDF.
async function pbe3desEncrypt(password, plaintext, iterations, subtle) {
  const salt = randomBytes(8);
  const key = await pkcs12Kdf(password, salt, iterations, 1, 24, subtle, "SHA-1");
  const iv = await pkcs12Kdf(password, salt, iterations, 2, 8, subtle, "SHA-1");
  const algorithm = sequence(
    oid(OID.pbeWithSHAAnd3KeyTripleDesCbc),
    sequence(octetString(salt), integer(iterations)),
  );
  return { algorithm, ciphertext: tripleDesCbcEncrypt(key, iv, plaintext) };
}

// What each format encrypts with, MACs with, and how many iterations it uses by default.
const FORMAT = {
  modern: {
    encrypt: pbes2Encrypt, macHash: "SHA-256", macOid: OID.sha256, macLength: 32,
    macSalt: 16, iterations: ITERATIONS,
  },
  compatible: {
    encrypt: pbe3desEncrypt, macHash: "SHA-1", macOid: OID.sha1, macLength: 20,
    macSalt: 8, iterations: COMPATIBLE_ITERATIONS,
  },
};

function formatOf(name) {
  const format = FORMAT[name];
  if (!format) throw new RangeError(`unknown PKCS#12 format ${name}`);
  return format;
}

function attributes(friendlyName, localKeyId) {
  return setOf(
    sequence(oid(OID.friendlyName), setOf(bmpString(friendlyName))),
    sequence(oid(OID.localKeyId), setOf(octetString(localKeyId))),
  );
}

// RFC 7292 appendix B.2 over SHA-256 or SHA-1 (both have v = 64): `length` bytes for purpose
// `id` (1 key, 2 IV, 3 MAC key), the password as a BMPString with its two-byte terminator.
export async function pkcs12Kdf(password, salt, iterations, id, length, subtle, hash = "SHA-256") {
  const v = 64;
  const stretch = (bytes) => {
    const out = new Uint8Array(v * Math.ceil(bytes.length / v));
    for (let i = 0; i < out.length; i++) out[i] = bytes[i % bytes.length];
    return out;
  };
  const passwordBytes = concat(utf16be(password), Uint8Array.of(0, 0));
  const input = concat(stretch(salt), stretch(passwordBytes)); // I, adjusted after each block
  const diversifier = new Uint8Array(v).fill(id);
  const blocks = [];
  let produced = 0;
  while (produced < length) {
    let block = await digest(hash, concat(diversifier, input), subtle);
    for (let i = 1; i < iterations; i++) block = await digest(hash, block, subtle);
    blocks.push(block);
    produced += block.length;
    if (produced >= length) break;
    // I_j = (I_j + B + 1) mod 2^(8v) for each v-byte block of I, B being the block repeated.
    const b = stretch(block).subarray(0, v);
    for (let j = 0; j < input.length; j += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = input[j + k] + b[k] + carry;
        input[j + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
  return concat(...blocks).subarray(0, length);
}

const contentInfoData = (bytes) => sequence(oid(OID.data), explicit(0, octetString(bytes)));

// Encrypt the private key (PKCS#8 DER) into its shrouded key bag. localKeyId ties it to the
// certificate: the SHA-1 of the public key, known before the certificate is.
export async function sealKey({ pkcs8, spki, friendlyName, password, format = "modern",
  iterations = formatOf(format).iterations, subtle = globalThis.crypto.subtle }) {
  const localKeyId = await digest("SHA-1", spki, subtle);
  const { algorithm, ciphertext } = await formatOf(format).encrypt(
    password, pkcs8, iterations, subtle,
  );
  const bag = sequence(
    oid(OID.keyBag),
    explicit(0, sequence(algorithm, octetString(ciphertext))),
    attributes(friendlyName, localKeyId),
  );
  return { bag, localKeyId, friendlyName, format };
}

// The whole PFX: the sealed key, the end-entity certificate first, then the chain (DER each),
// in the sealed key's format.
export async function buildPkcs12({ sealedKey, certificates, password,
  iterations = formatOf(sealedKey.format).iterations, subtle = globalThis.crypto.subtle }) {
  const format = formatOf(sealedKey.format);
  const [leaf, ...chain] = certificates;
  const certBag = (der, attrs) =>
    sequence(
      oid(OID.certBag),
      explicit(0, sequence(oid(OID.x509Certificate), explicit(0, octetString(der)))),
      ...(attrs ? [attrs] : []),
    );
  const certSafe = sequence(
    certBag(leaf, attributes(sealedKey.friendlyName, sealedKey.localKeyId)),
    ...chain.map((der) => certBag(der)),
  );
  const { algorithm, ciphertext } = await format.encrypt(password, certSafe, iterations, subtle);
  const encryptedCerts = sequence(
    oid(OID.encryptedData),
    explicit(
      0,
      sequence(integer(0), sequence(oid(OID.data), algorithm, implicitPrimitive(0, ciphertext))),
    ),
  );
  const authSafe = sequence(encryptedCerts, contentInfoData(sequence(sealedKey.bag)));

  const macSalt = randomBytes(format.macSalt);
  const macKey = await pkcs12Kdf(
    password, macSalt, iterations, 3, format.macLength, subtle, format.macHash,
  );
  const hmacKey = await subtle.importKey(
    "raw", macKey, { name: "HMAC", hash: format.macHash }, false, ["sign"],
  );
  const mac = new Uint8Array(await subtle.sign("HMAC", hmacKey, authSafe));
  const macData = sequence(
    sequence(sequence(oid(format.macOid), nullValue()), octetString(mac)),
    octetString(macSalt),
    integer(iterations),
  );
  return sequence(integer(3), contentInfoData(authSafe), macData);
}
