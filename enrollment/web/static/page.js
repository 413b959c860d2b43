// What the enrollment and renewal pages share: texts, the environment check, talking to the
// API, the browser key path (key, CSR, PKCS#12) and saving files. No third-party code.

import { pemBlocks, toPem } from "./der.js";
import { buildCsr, exportPkcs8, generateKeyPair } from "./pkcs10.js";
import { buildPkcs12, sealKey } from "./pkcs12.js";

const texts = JSON.parse(document.getElementById("certdesk-texts").textContent);
const lang = document.documentElement.lang;

export function t(key, params = {}) {
  return (texts[key] ?? key).replace(/\{(\w+)\}/g, (_, name) => String(params[name] ?? ""));
}

export class PageError extends Error {}

const $ = (id) => document.getElementById(id);

export function setProgress(message) {
  $("progress").textContent = message;
}

// Text in which `code` spans (how messages mark commands) become <code> elements.
function setRichText(element, message) {
  element.replaceChildren(
    ...message.split("`").map((part, index) => {
      if (index % 2 === 0) return document.createTextNode(part);
      const code = document.createElement("code");
      code.textContent = part;
      return code;
    }),
  );
}

export function setError(message) {
  const box = $("form-error");
  setRichText(box, message);
  box.hidden = !message;
}

// The result comes first: shown at the top and focused, the environment check put away, the
// form turned off so that nobody downloads twice. `file` and `format` (of a .p12) bring up the
// import steps for the reader's system.
export function setResult(message, { file, format } = {}) {
  const result = $("result");
  result.hidden = false;
  setRichText($("result-message"), message);
  const steps = $("import-steps");
  steps.hidden = !format;
  if (format) {
    for (const slot of steps.querySelectorAll(".file-name")) slot.textContent = file;
    for (const part of steps.querySelectorAll("[data-format]")) {
      part.hidden = part.dataset.format !== format;
    }
    const systems = [/firefox/i.test(navigator.userAgent) ? "firefox" : detectOs()];
    for (const guide of steps.querySelectorAll("details")) {
      guide.open = systems.includes(guide.dataset.system);
    }
  }
  $("env-check").hidden = true;
  const form = $("certdesk-form");
  for (const control of form.elements) control.disabled = true;
  form.dataset.done = "true";
  result.focus();
  result.scrollIntoView({ block: "start" });
}

export function addToResult(message) {
  $("result-message").append(` ${message}`);
}

// -- the environment check --------------------------------------------------------------------

async function webCryptoWorks() {
  try {
    const subtle = globalThis.crypto?.subtle;
    if (!subtle) return false;
    await subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign"]);
    await subtle.importKey("raw", new Uint8Array(8), "PBKDF2", false, ["deriveKey"]);
    return true;
  } catch {
    return false;
  }
}

export async function checkEnvironment() {
  const results = {
    secure: window.isSecureContext === true,
    webcrypto: await webCryptoWorks(),
    download:
      "download" in HTMLAnchorElement.prototype &&
      typeof Blob === "function" &&
      typeof URL.createObjectURL === "function",
  };
  for (const [name, ok] of Object.entries(results)) {
    const item = document.querySelector(`[data-check="${name}"]`);
    item.classList.add(ok ? "ok" : "fail");
    item.querySelector(".result").textContent = ok ? t("env.ok") : t("env.missing");
    item.querySelector(".help").hidden = ok;
  }
  const allOk = Object.values(results).every(Boolean);
  $("env-summary").textContent = allOk ? t("env.ready") : t("env.partial");
  return {
    browserKeys: results.secure && results.webcrypto && results.download,
    files: results.download,
  };
}

// -- modes --------------------------------------------------------------------------------------

export function showMode(form, mode) {
  for (const section of form.querySelectorAll(".mode")) {
    section.hidden = !section.dataset.modes.split(" ").includes(mode);
  }
  $("submit").hidden = mode === "token";
  // The browser check is about keys made in the page: the USB-key client installs instead.
  $("env-check").hidden = mode === "token";
  updateTokenCommand(form);
}

function quote(value, windows) {
  if (/^[A-Za-z0-9@%+=:,./_-]+$/.test(value)) return value;
  if (windows) return `"${value}"`;
  return `'${value.replaceAll("'", `'"'"'`)}'`;
}

export function detectOs() {
  const platform = navigator.userAgentData?.platform ?? navigator.platform ?? "";
  if (/win/i.test(platform)) return "windows-powershell";
  if (/mac/i.test(platform)) return "macos";
  return "linux";
}

const CODE_VARIABLE = "CERTDESK_AUTHORIZATION_CODE";

// How each shell sets a variable for the commands that follow in the same window.
function setVariable(shell, name, placeholder) {
  if (shell === "windows-powershell") return `$env:${name} = "${placeholder}"`;
  if (shell === "windows-cmd") return `set ${name}=${placeholder}`;
  return `read -rs ${name} && export ${name}   # type ${placeholder}, then Enter`;
}

export function updateTokenCommand(form) {
  const output = $("token-command");
  const model = $("token-model").selectedOptions[0];
  const shell = $("token-os").value;
  const os = shell.split("-")[0];
  const windows = os === "windows";
  const module = model.dataset[os];
  const url = $("token-install-step").dataset.url;
  $("token-install").parentElement.hidden = !url;
  $("token-not-offered").hidden = Boolean(url);
  $("token-install").textContent = url
    ? [`pipx install ${quote(url, windows)}`, `uv tool install ${quote(url, windows)}`].join("\n")
    : "";
  let parts;
  if (output.dataset.command === "enroll") {
    $("token-code").textContent = setVariable(
      shell,
      CODE_VARIABLE,
      `<${output.dataset.codePlaceholder}>`,
    );
    parts = ["certdesk-usbkey", "enroll", output.dataset.link, "--module", module];
    const reference = form.elements.reference_number?.value.trim();
    if (reference) parts.push("--reference-number", reference);
    parts.push("--authorization-code-env", CODE_VARIABLE);
  } else {
    parts = ["certdesk-usbkey", "renew", "--module", module];
  }
  output.textContent = parts.map((part) => quote(part, windows)).join(" ");
}

export function setUpTokenCommand(form) {
  $("token-os").value = detectOs();
  for (const id of ["token-model", "token-os"]) {
    $(id).addEventListener("change", () => updateTokenCommand(form));
  }
  form.elements.reference_number?.addEventListener("input", () => updateTokenCommand(form));
}

// -- the API ------------------------------------------------------------------------------------

export async function post(path, body) {
  let response;
  try {
    response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept-Language": lang },
      body: JSON.stringify(body),
      cache: "no-store",
      credentials: "same-origin",
      referrerPolicy: "no-referrer",
    });
  } catch {
    throw new PageError(t("check.network"));
  }
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      message = (await response.json()).error.message;
    } catch {
      // keep the status line
    }
    throw new PageError(message);
  }
  return response;
}

// The certificate's friendly name travels in a header so the JSON body stays as specified.
export function friendlyNameOf(response) {
  try {
    return decodeURIComponent(response.headers.get("Certdesk-Friendly-Name") ?? "") || "certdesk";
  } catch {
    return "certdesk";
  }
}

// -- files --------------------------------------------------------------------------------------

// Letters and digits of any script and "._-" (张三-1234.p12); any run of anything else becomes
// one "-". The server's p12_filename (enrollment/ca/pkcs12.py) keeps the same rule.
export function fileName(friendlyName, extension) {
  const trim = (text) => text.replace(/^[-._]+|[-._]+$/g, "");
  const dashes = (text) => trim(text.replace(/-{2,}/g, "-"));
  const base = trim(dashes((friendlyName ?? "").replace(/[^\p{L}\p{N}_.-]+/gu, "-")).slice(0, 80));
  return `${base || "certificate"}.${extension}`;
}

// The name in a Content-Disposition: RFC 6266's UTF-8 filename* first, else filename.
function dispositionName(disposition) {
  const encoded = /filename\*=UTF-8''([^;\s]+)/i.exec(disposition)?.[1];
  if (encoded) {
    try {
      return decodeURIComponent(encoded);
    } catch {
      // fall back to the ASCII name
    }
  }
  return /filename="([^"]+)"/.exec(disposition)?.[1] ?? "certificate.p12";
}

// The .p12 format the holder chose: "compatible" (macOS Keychain, older Windows) or "modern".
export function p12Format(form) {
  return form.elements.p12_format?.checked ? "compatible" : "modern";
}

export function saveFile(bytes, name, type) {
  const url = URL.createObjectURL(new Blob([bytes], { type }));
  const again = $("save-again");
  again.href = url;
  again.download = name;
  again.hidden = false;
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
}

export function password(form) {
  const first = form.elements.password.value;
  if (first.length < 8) throw new PageError(t("check.password_short"));
  if (first !== form.elements.password2.value) throw new PageError(t("check.password_mismatch"));
  return first;
}

// "This browser": the key is made here and never leaves the page. Every step after the
// certificate is issued (which uses up the link) is rehearsed first, so a browser that cannot
// finish fails before it asks for the certificate, not after.
export async function browserKeyFile({ keyType, password: secret, format = "modern", request }) {
  setProgress(t("status.keygen"));
  const keyPair = await generateKeyPair(keyType);
  const csr = toPem("CERTIFICATE REQUEST", await buildCsr(keyType, keyPair));
  setProgress(t("status.seal"));
  const pkcs8 = await exportPkcs8(keyPair);
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keyPair.publicKey));
  const rehearsal = await sealKey({
    pkcs8, spki, friendlyName: "-", password: secret, format, iterations: 1,
  });
  await buildPkcs12({ sealedKey: rehearsal, certificates: [spki], password: secret, iterations: 1 });

  setProgress(t("status.request"));
  const response = await request(csr);
  const issued = await response.json();
  const friendlyName = friendlyNameOf(response);

  setProgress(t("status.package"));
  const sealedKey = await sealKey({ pkcs8, spki, friendlyName, password: secret, format });
  const certificates = [
    ...pemBlocks(issued.certificate, "CERTIFICATE"),
    ...pemBlocks(issued.chain, "CERTIFICATE"),
  ];
  const p12 = await buildPkcs12({ sealedKey, certificates, password: secret });
  const name = fileName(friendlyName, "p12");
  saveFile(p12, name, "application/x-pkcs12");
  setProgress("");
  setResult(t("done.p12", { file: name }), { file: name, format });
  return issued;
}

export async function serverKeyFile(response, format) {
  const name = dispositionName(response.headers.get("Content-Disposition") ?? "");
  saveFile(new Uint8Array(await response.arrayBuffer()), name, "application/x-pkcs12");
  setProgress("");
  setResult(t("done.p12", { file: name }), { file: name, format });
  return {
    serial: response.headers.get("Certdesk-Serial"),
    replaces: response.headers.get("Certdesk-Replaces"),
  };
}

export async function csrText(form) {
  const pasted = form.elements.csr.value.trim();
  if (pasted) return pasted;
  const file = $("csr-file").files[0];
  if (!file) throw new PageError(t("check.csr_missing"));
  const bytes = new Uint8Array(await file.arrayBuffer());
  const text = new TextDecoder().decode(bytes);
  return text.includes("-----BEGIN") ? text : toPem("CERTIFICATE REQUEST", bytes);
}

export async function showPem(response) {
  const issued = await response.json();
  const pem = issued.certificate + issued.chain;
  const name = fileName(friendlyNameOf(response), "pem");
  $("pem-output").value = pem;
  $("pem-output-wrap").hidden = false;
  saveFile(new TextEncoder().encode(pem), name, "application/x-pem-file");
  setProgress("");
  setResult(t("done.pem", { file: name }));
  return issued;
}

// Runs one submission: errors become the page's alert; the button is off meanwhile, and stays
// off once the result is there.
export async function run(form, work) {
  const button = $("submit");
  setError("");
  button.disabled = true;
  try {
    await work();
  } catch (error) {
    setProgress("");
    setError(error instanceof PageError ? error.message : t("check.unexpected", { detail: error }));
  } finally {
    button.disabled = form.dataset.done === "true";
  }
}

export async function start(form, onReady) {
  const capabilities = await checkEnvironment();
  for (const input of form.querySelectorAll('input[value="browser"], input[data-delivery="browser"]')) {
    if (!capabilities.browserKeys) input.disabled = true;
  }
  for (const input of form.querySelectorAll('input[value="server"], input[data-delivery="server"]')) {
    if (!capabilities.files) input.disabled = true;
  }
  form.hidden = false;
  if (form.elements.p12_format && detectOs() === "macos") form.elements.p12_format.checked = true;
  setUpTokenCommand(form);
  onReady(capabilities);
}
