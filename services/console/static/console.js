// Keyway console: small progressive enhancements. Every page works without
// this script; with it, key dialogs open in place and the playground
// streams answers as they are generated. Served by Keyway, no build step.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Key dialogs: open as modals instead of reloading the page.
  for (const link of document.querySelectorAll("a[data-dialog]")) {
    const dialog = document.getElementById(link.dataset.dialog);
    if (!dialog || typeof dialog.showModal !== "function") continue;
    link.addEventListener("click", (event) => {
      event.preventDefault();
      if (dialog.open) dialog.close();
      dialog.showModal();
    });
  }
  for (const close of document.querySelectorAll("dialog .close-dialog")) {
    close.addEventListener("click", (event) => {
      event.preventDefault();
      close.closest("dialog").close();
    });
  }
  const playground = document.getElementById("playground");
  if (playground) streamingPlayground(playground);
});

function streamingPlayground(form) {
  const transcript = document.getElementById("transcript");
  const message = document.getElementById("message");
  const model = document.getElementById("model");
  const send = document.getElementById("send");
  const history = [];

  const say = (role, text) => {
    const p = document.createElement("p");
    p.className = "msg " + role;
    p.textContent = text;
    transcript.appendChild(p);
    return p;
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = message.value.trim();
    if (!text) return;
    for (const old of document.querySelectorAll("#chat-error")) old.remove();
    history.push({ role: "user", content: text });
    say("user", text);
    message.value = "";
    send.disabled = true;
    const answer = say("assistant", "");
    answer.classList.add("streaming");
    try {
      const response = await fetch("/console/playground/stream", {
        method: "POST",
        headers: { "content-type": "application/json", "x-csrf-token": form.dataset.csrf },
        body: JSON.stringify({ model: model.value, messages: history }),
        credentials: "same-origin",
      });
      if (!response.ok) {
        let reason = response.status + " " + response.statusText;
        try {
          const body = await response.json();
          if (body.error && body.error.message) reason = body.error.message;
        } catch (_) { /* not JSON */ }
        throw new Error(reason);
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          for (const line of frame.split("\n")) {
            if (!line.startsWith("data:")) continue;
            const data = line.slice(5).trim();
            if (data === "[DONE]") continue;
            const chunk = JSON.parse(data);
            const delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
            if (delta && delta.content) answer.textContent += delta.content;
          }
        }
      }
      history.push({ role: "assistant", content: answer.textContent });
    } catch (error) {
      answer.remove();
      history.pop();
      const p = document.createElement("p");
      p.className = "flash bad";
      p.id = "chat-error";
      p.setAttribute("role", "alert");
      p.textContent = error.message;
      transcript.after(p);
    } finally {
      answer.classList.remove("streaming");
      send.disabled = false;
    }
  });
}
