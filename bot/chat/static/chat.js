// certdesk local chat: posts the question to /chat/message and renders the replies.
// Replies use Slack's markup (*bold*, `code`, <url|label>); they are turned into DOM nodes
// with textContent only, never parsed as HTML.
"use strict";

(function () {
  const log = document.getElementById("log");
  const form = document.getElementById("ask");
  const input = document.getElementById("question");
  // The server chose the page's language from Accept-Language (or ?lang=); a browser that sent
  // none still says what it speaks in navigator.language.
  const served = document.documentElement.dataset.lang;
  let lang = served || ((navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en");
  const texts = document.body.dataset;

  const INLINE = /(\*[^*\n]+\*|`[^`\n]+`|<https?:\/\/[^>|\s]+(?:\|[^>]+)?>|https?:\/\/[^\s<>]+)/g;

  function appendInline(parent, text) {
    let last = 0;
    for (const match of text.matchAll(INLINE)) {
      if (match.index > last) parent.append(text.slice(last, match.index));
      const token = match[0];
      if (token.startsWith("*")) {
        const strong = document.createElement("strong");
        strong.textContent = token.slice(1, -1);
        parent.append(strong);
      } else if (token.startsWith("`")) {
        const code = document.createElement("code");
        code.textContent = token.slice(1, -1);
        parent.append(code);
      } else {
        const inner = token.startsWith("<") ? token.slice(1, -1) : token;
        const [href, label] = inner.split("|");
        const link = document.createElement("a");
        link.href = href;
        link.rel = "noopener noreferrer";
        link.target = "_blank";
        link.textContent = label || href;
        parent.append(link);
      }
      last = match.index + token.length;
    }
    if (last < text.length) parent.append(text.slice(last));
  }

  function bubble(who, text) {
    const item = document.createElement("div");
    item.className = "message " + who;
    text.split("\n").forEach((line, index) => {
      if (index > 0) item.append(document.createElement("br"));
      appendInline(item, line);
    });
    log.append(item);
    item.scrollIntoView({ block: "end" });
    return item;
  }

  function render(reply) {
    const item = bubble("bot", reply.text);
    if (reply.buttons.length) {
      const row = document.createElement("div");
      row.className = "buttons";
      for (const b of reply.buttons) {
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = b.label;
        button.addEventListener("click", () => {
          bubble("user", b.label);
          send({ action: b.action, value: b.value });
        });
        row.append(button);
      }
      item.append(row);
    }
  }

  async function send(payload) {
    payload.lang = lang;
    try {
      const response = await fetch("/chat/message", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(payload),
      });
      const data = await response.json();
      if (!response.ok) {
        bubble("bot error", data.error ? data.error.message : texts.failed);
        return;
      }
      lang = data.lang;
      data.replies.forEach(render);
    } catch (error) {
      bubble("bot error", texts.unreachable);
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    bubble("user", text);
    input.value = "";
    send({ text });
  });

  // The greeting in the page's language (a typed "help" would be read as English).
  send({ action: "help", value: "" });
})();
