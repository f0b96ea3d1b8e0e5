// The Floor Engine dashboard's script: progressive enhancement over server-rendered pages.
// Live updates (server-sent events from /ui/events, sections re-read through htmx), Sign-In
// with Ethereum through the browser wallet (EIP-1193), and commands signed in the wallet
// (eth_signTypedData_v4 of the typed data /ui/prepare returns), posted to /commands/<kind>.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  const config = JSON.parse(document.getElementById("floor-config").textContent || "{}");

  function $(selector) { return document.querySelector(selector); }

  function wallet() {
    if (!window.ethereum) throw new Error("no browser wallet found (an EIP-1193 provider such as MetaMask)");
    return window.ethereum;
  }

  function hexOf(text) {
    return "0x" + Array.from(new TextEncoder().encode(text), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  async function errorText(response) {
    try {
      const body = await response.json();
      return (body.error && body.error.message) || response.statusText;
    } catch (e) {
      return response.status + " " + response.statusText;
    }
  }

  // ---------------------------------------------------------------- sign in

  async function signIn(button) {
    const status = $("#sign-in-status");
    const say = (text) => { status.textContent = text; };
    try {
      const [address] = await wallet().request({ method: "eth_requestAccounts" });
      say("Sign the message in your wallet…");
      const got = await fetch("/ui/siwe?address=" + encodeURIComponent(address));
      if (!got.ok) throw new Error(await errorText(got));
      const { message } = await got.json();
      const signature = await wallet().request({ method: "personal_sign", params: [hexOf(message), address] });
      const login = await fetch("/auth/login", {
        method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ message, signature }),
      });
      if (!login.ok) throw new Error(await errorText(login));
      say("Signed in.");
      window.location.assign(button.dataset.next || "/ui/");
    } catch (e) {
      say("Not signed in: " + (e.message || e));
    }
  }

  // ---------------------------------------------------------------- commands

  function fieldsOf(form) {
    const fields = {};
    for (const el of form.elements) {
      if (!el.name) continue;
      if (el.dataset.type === "bool") fields[el.name] = el.checked;
      else if (el.dataset.type === "int") fields[el.name] = parseInt(el.value, 10);
      else fields[el.name] = el.value;
    }
    return fields;
  }

  function confirmed(plain) {
    const dialog = $("#confirm");
    const words = $("#confirm-words");
    words.replaceChildren(...plain.map((line) => { const p = document.createElement("p"); p.textContent = line; return p; }));
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "sign"), { once: true });
      dialog.showModal();
      $("#confirm-sign").focus();
    });
  }

  function show(kind, text) {
    const result = $("#command-result");
    result.hidden = false;
    result.className = "result " + kind;
    result.textContent = text;
  }

  async function send(form) {
    const kind = form.dataset.command;
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const prepared = await fetch("/ui/prepare/" + kind, {
        method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(fieldsOf(form)),
      });
      if (!prepared.ok) throw new Error(await errorText(prepared));
      const { typed_data: typed, command, plain } = await prepared.json();
      if (!(await confirmed(plain))) { show("", "Not sent: cancelled."); return; }
      show("", "Waiting for your wallet's signature…");
      const signer = config.address;
      const signature = await wallet().request({ method: "eth_signTypedData_v4", params: [signer, JSON.stringify(typed)] });
      show("", "Sent; waiting for the engine…");
      const answer = await fetch("/commands/" + kind, {
        method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ ...command, signer, signature }),
      });
      if (answer.ok) {
        show("accepted", "Accepted by the engine: " + kind + ".");
        form.reset();
      } else {
        show("refused", "Refused: " + (await errorText(answer)));
      }
    } catch (e) {
      show("refused", "Not sent: " + (e.message || e));
    } finally {
      button.disabled = false;
    }
  }

  // ---------------------------------------------------------------- live updates

  function live() {
    const banner = $("#connection");
    let lost = false;
    const source = new EventSource("/ui/events");
    const fire = (name) => { if (window.htmx) window.htmx.trigger(document.body, "floor:" + name); };
    source.addEventListener("open", () => {
      if (lost) {
        banner.hidden = false; banner.className = "connection live";
        banner.textContent = "Reconnected: live again.";
        setTimeout(() => { banner.hidden = true; }, 4000);
        ["state", "alerts", "block"].forEach(fire);
      }
      lost = false;
    });
    source.addEventListener("error", () => {
      lost = true;
      banner.hidden = false; banner.className = "connection lost";
      banner.textContent = "Connection lost: reconnecting… (what you see may be out of date)";
    });
    source.addEventListener("state", (event) => {
      const data = JSON.parse(event.data);
      if (data.problem) return;
      document.querySelectorAll('[data-live="state"]').forEach((el) => {
        el.textContent = data.state;
        el.className = "state state-" + data.state.toLowerCase();
      });
      document.querySelectorAll('[data-live="step"]').forEach((el) => { el.textContent = data.step || "-"; });
      document.body.dataset.engineState = data.state;
      fire("state");
    });
    source.addEventListener("alerts", () => fire("alerts"));
    source.addEventListener("block", () => fire("block"));
  }

  document.addEventListener("DOMContentLoaded", () => {
    const button = $("#sign-in");
    if (button) button.addEventListener("click", () => signIn(button));
    document.querySelectorAll("form[data-command]").forEach((form) => {
      form.addEventListener("submit", (event) => { event.preventDefault(); send(form); });
    });
    if (config.address) live();
  });
})();
