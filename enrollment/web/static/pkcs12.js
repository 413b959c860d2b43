// PKCS#12 (RFC 7292) as OpenSSL 3 writes it by default, with WebCrypto doing all the crypto:
// - the private key in a pkcs8ShroudedKeyBag, the certificates in an encryptedData safe, both
//   encrypted with PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC), password as UTF-8;
// - friendlyName and localKeyId on the key and the end-entity certificate;
// - an HMAC-SHA256 MAC whose key comes from the PKCS#12 KDF (RFC 7292 appendix B) over
//   SHA-256 with the password as BMPString, which is what OpenSSL 3.0 checks.
// The key bag can be sealed before the certificate exists (sealKey), so that once the CA has
// issued the certificate only cheap steps remain that cannot lose the key.

import {
  concat, explicit, implicitPrimitive, integer, nullValue, octetString, oid, sequence, setOf,
  bmpString, utf16be,
} from "./der.js";

export const ITERATIONS = 100000; // the server's enrollment/pkcs12.py uses the same count

const OID = {
  data: "1.2.840.113549.1.7.1",
  encryptedData: "1.2.840.113549.1.7.6",
  pbes2: "1.2.840.113549.1.5.13",
  pbkdf2: "1.2.840.113549.1.5.12",
  hmacWithSHA256: "1.2.840.113549.2.9",
  aes256Cbc: "2.16.840.1.101.3.4.1.42",
  sha256: "2.16.840.1.101.3.4.2.1",
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

function attributes(friendlyName, localKeyId) {
  return setOf(
    sequence(oid(OID.friendlyName), setOf(bmpString(friendlyName))),
    sequence(oid(OID.localKeyId), setOf(octetString(localKeyId))),
  );
}

// RFC 7292 appendix B.2 with SHA-256 (u = 32, v = 64), for keys of at most 32 bytes.
export async function pkcs12Kdf(password, salt, iterations, id, length, subtle) {
  if (length > 32) throw new RangeError("this KDF derives at most 32 bytes");
  const v = 64;
  const stretch = (bytes) => {
    const out = new Uint8Array(v * Math.ceil(bytes.length / v));
    for (let i = 0; i < out.length; i++) out[i] = bytes[i % bytes.length];
    return out;
  };
  const passwordBytes = concat(utf16be(password), Uint8Array.of(0, 0));
  const input = concat(new Uint8Array(v).fill(id), stretch(salt), stretch(passwordBytes));
  let hash = await digest("SHA-256", input, subtle);
  for (let i = 1; i < iterations; i++) hash = await digest("SHA-256", hash, subtle);
  return hash.subarray(0, length);
}

const contentInfoData = (bytes) => sequence(oid(OID.data), explicit(0, octetString(bytes)));

// Encrypt the private key (PKCS#8 DER) into its shrouded key bag. localKeyId ties it to the
// certificate: the SHA-1 of the public key, known before the certificate is.
export async function sealKey({ pkcs8, spki, friendlyName, password, iterations = ITERATIONS,
  subtle = globalThis.crypto.subtle }) {
  const localKeyId = await digest("SHA-1", spki, subtle);
  const { algorithm, ciphertext } = await pbes2Encrypt(password, pkcs8, iterations, subtle);
  const bag = sequence(
    oid(OID.keyBag),
    explicit(0, sequence(algorithm, octetString(ciphertext))),
    attributes(friendlyName, localKeyId),
  );
  return { bag, localKeyId, friendlyName };
}

// The whole PFX: the sealed key, the end-entity certificate first, then the chain (DER each).
export async function buildPkcs12({ sealedKey, certificates, password,
  iterations = ITERATIONS, subtle = globalThis.crypto.subtle }) {
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
  const { algorithm, ciphertext } = await pbes2Encrypt(password, certSafe, iterations, subtle);
  const encryptedCerts = sequence(
    oid(OID.encryptedData),
    explicit(
      0,
      sequence(integer(0), sequence(oid(OID.data), algorithm, implicitPrimitive(0, ciphertext))),
    ),
  );
  const authSafe = sequence(encryptedCerts, contentInfoData(sequence(sealedKey.bag)));

  const macSalt = randomBytes(16);
  const macKey = await pkcs12Kdf(password, macSalt, iterations, 3, 32, subtle);
  const hmacKey = await subtle.importKey("raw", macKey, { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  const mac = new Uint8Array(await subtle.sign("HMAC", hmacKey, authSafe));
  const macData = sequence(
    sequence(sequence(oid(OID.sha256), nullValue()), octetString(mac)),
    octetString(macSalt),
    integer(iterations),
  );
  return sequence(integer(3), contentInfoData(authSafe), macData);
}
