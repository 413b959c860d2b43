// Test driver: runs the page's crypto modules (enrollment/static) under Node's WebCrypto.
// Usage: node pkcs_driver.mjs STATIC_DIR COMMAND, with a JSON job on stdin; prints JSON.
import { pathToFileURL } from "node:url";
import { readFileSync } from "node:fs";

const [staticDir, command] = process.argv.slice(2);
const load = (name) => import(pathToFileURL(`${staticDir}/${name}`).href);
const der = await load("der.js");
const pkcs10 = await load("pkcs10.js");
const pkcs12 = await load("pkcs12.js");
const job = JSON.parse(readFileSync(0, "utf8") || "{}");
const hex = (bytes) => Buffer.from(bytes).toString("hex");
const b64 = (bytes) => Buffer.from(bytes).toString("base64");
const unb64 = (text) => new Uint8Array(Buffer.from(text, "base64"));

let result;
if (command === "vectors") {
  result = {
    int0: hex(der.integer(0)),
    int127: hex(der.integer(127)),
    int128: hex(der.integer(128)),
    int65537: hex(der.integer(65537)),
    intBytes: hex(der.integer(Uint8Array.of(0, 0, 0x80, 1))),
    oidRsa: hex(der.oid("1.2.840.113549")),
    oidJoint: hex(der.oid("2.999.3")),
    len200: hex(der.octetString(new Uint8Array(200))).slice(0, 6),
    len300: hex(der.octetString(new Uint8Array(300))).slice(0, 8),
    len70000: hex(der.octetString(new Uint8Array(70000))).slice(0, 10),
    set: hex(der.setOf(der.integer(2), der.integer(1), der.octetString(Uint8Array.of(0)))),
    bmp: hex(der.bmpString("Aé中")),
    pemRoundTrip: hex(der.pemBlocks(der.toPem("X", Uint8Array.of(1, 2, 3)), "X")[0]),
  };
} else if (command === "csr") {
  const keyPair = await pkcs10.generateKeyPair(job.keyType);
  const csr = await pkcs10.buildCsr(job.keyType, keyPair);
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keyPair.publicKey));
  result = {
    csr: der.toPem("CERTIFICATE REQUEST", csr),
    pkcs8: b64(await pkcs10.exportPkcs8(keyPair)),
    spki: b64(spki),
  };
} else if (command === "p12") {
  const sealedKey = await pkcs12.sealKey({
    pkcs8: unb64(job.pkcs8),
    spki: unb64(job.spki),
    friendlyName: job.friendlyName,
    password: job.password,
    format: job.format ?? undefined,
    iterations: job.iterations ?? undefined,
  });
  const p12 = await pkcs12.buildPkcs12({
    sealedKey,
    certificates: job.certificates.map(unb64),
    password: job.password,
    iterations: job.iterations ?? undefined,
  });
  result = { p12: b64(p12) };
} else if (command === "kdf") {
  const key = await pkcs12.pkcs12Kdf(job.password, unb64(job.salt), job.iterations, job.id,
    job.length, crypto.subtle, job.hash ?? undefined);
  result = { key: hex(key) };
} else if (command === "3des") {
  const des = await load("tripledes.js");
  result = { ciphertext: b64(des.tripleDesCbcEncrypt(unb64(job.key), unb64(job.iv), unb64(job.data))) };
} else {
  throw new Error(`unknown command ${command}`);
}
process.stdout.write(JSON.stringify(result));
