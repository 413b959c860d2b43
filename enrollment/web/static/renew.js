// The renewal page: the chosen certificate is renewed the way it was delivered.
import {
  PageError, addToResult, browserKeyFile, csrText, p12Format, password, post, run, serverKeyFile,
  setProgress, showMode, showPem, start, t,
} from "./page.js";

const form = document.getElementById("certdesk-form");
const api = `/api/v1/renew/${encodeURIComponent(form.dataset.token)}`;

function chosen() {
  return form.querySelector('input[name="serial"]:checked');
}

function select() {
  const radio = chosen();
  if (!radio) return;
  form.elements.key_type.value = radio.dataset.keyType;
  showMode(form, radio.dataset.delivery);
}

function markSuperseded(serial, newSerial) {
  const radio = form.querySelector(`input[name="serial"][value="${CSS.escape(serial)}"]`);
  radio.checked = false;
  radio.disabled = true;
  radio.dataset.status = "superseded";
  radio.closest(".choice").classList.add("superseded");
  addToResult(t("done.renewed", { old: serial, new: newSerial }));
}

async function submit() {
  const radio = chosen();
  if (!radio) throw new PageError(t("check.choose"));
  const code = form.elements.verification_code.value.trim();
  if (!code) throw new PageError(t("check.code_required"));
  const body = { serial: radio.value, verification_code: code };
  const delivery = radio.dataset.delivery;
  let renewed;
  if (delivery === "browser") {
    renewed = await browserKeyFile({
      keyType: form.elements.key_type.value,
      password: password(form),
      format: p12Format(form),
      request: (csr) => post(api, { ...body, csr, delivery: "browser" }),
    });
  } else if (delivery === "server") {
    const secret = password(form);
    setProgress(t("status.server"));
    const format = p12Format(form);
    renewed = await serverKeyFile(
      await post(`${api}/pkcs12`, {
        ...body, password: secret, key_type: form.elements.key_type.value, format,
      }),
      format,
    );
  } else if (delivery === "csr") {
    const csr = await csrText(form);
    setProgress(t("status.request"));
    renewed = await showPem(await post(api, { ...body, csr, delivery: "csr" }));
  } else {
    return;
  }
  markSuperseded(radio.value, renewed.serial);
}

start(form, () => {
  for (const radio of form.querySelectorAll('input[name="serial"]')) {
    radio.addEventListener("change", select);
  }
  select();
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run(form, submit);
  });
});
