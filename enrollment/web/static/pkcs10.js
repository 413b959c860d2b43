// Key pairs and PKCS#10 certificate requests, made with WebCrypto in the page.
// The private key is generated extractable only so that pkcs12.js can wrap it into the
// encrypted file; it is never sent anywhere.

import { bitString, explicit, integer, nullValue, oid, sequence, setOf, utf8String } from "./der.js";

export const KEY_TYPES = {
  "ec-p256": {
    generate: { name: "ECDSA", namedCurve: "P-256" },
    sign: { name: "ECDSA", hash: "SHA-256" },
    signatureAlgorithm: () => sequence(oid("1.2.840.10045.4.3.2")), // ecdsa-with-SHA256
    signatureDer: ecdsaSignatureDer,
  },
  "rsa-2048": {
    generate: {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: Uint8Array.of(1, 0, 1),
      hash: "SHA-256",
    },
    sign: { name: "RSASSA-PKCS1-v1_5" },
    // sha256WithRSAEncryption
    signatureAlgorithm: () => sequence(oid("1.2.840.113549.1.1.11"), nullValue()),
    signatureDer: (raw) => raw,
  },
};

// WebCrypto returns ECDSA signatures as r || s; X.509 wants SEQUENCE { INTEGER r, INTEGER s }.
function ecdsaSignatureDer(raw) {
  const half = raw.length / 2;
  return sequence(integer(raw.subarray(0, half)), integer(raw.subarray(half)));
}

function keyType(name) {
  const type = KEY_TYPES[name];
  if (!type) throw new RangeError(`unknown key type ${name}`);
  return type;
}

export async function generateKeyPair(name, subtle = globalThis.crypto.subtle) {
  return subtle.generateKey(keyType(name).generate, true, ["sign", "verify"]);
}

// A signed CSR (DER). The subject is a placeholder: the CA takes the subject from the
// enrollment record, never from the request.
export async function buildCsr(name, keyPair, subtle = globalThis.crypto.subtle) {
  const type = keyType(name);
  const spki = new Uint8Array(await subtle.exportKey("spki", keyPair.publicKey));
  const subject = sequence(setOf(sequence(oid("2.5.4.3"), utf8String("certdesk browser key"))));
  const info = sequence(integer(0), subject, spki, explicit(0));
  const raw = new Uint8Array(await subtle.sign(type.sign, keyPair.privateKey, info));
  return sequence(info, type.signatureAlgorithm(), bitString(type.signatureDer(raw)));
}

export async function exportPkcs8(keyPair, subtle = globalThis.crypto.subtle) {
  return new Uint8Array(await subtle.exportKey("pkcs8", keyPair.privateKey));
}

