/* Haven chat panel: runs inside the frame Haven serves at /widget, on
   Haven's own origin, and speaks to the conversation API with the patient's
   (or visitor's) credentials kept in memory only. Plain JavaScript, no
   framework. Order: disclaimer and consent, then a guest conversation or a
   sign-in (password, then a TOTP code), then the chat. */
(function () {
  "use strict";
  var app = document.getElementById("haven-app");
  if (!app) return;
  var allowGuests = app.getAttribute("data-anonymous") === "true";
  var version = app.getAttribute("data-version");
  var S = { token: null, refresh: null, expires: 0, pending: null, pendingKind: null, conv: null, convToken: null, guest: false };
  var sections = ["hv-consent", "hv-choose", "hv-signin", "hv-code", "hv-recovery", "hv-chat"];

  function $(id) {
    return document.getElementById(id);
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  function show(id) {
    sections.forEach(function (s) {
      $(s).hidden = s !== id;
    });
    var first = $(id).querySelector("input,textarea,button");
    if (first) first.focus();
  }
  function say(id, text) {
    var e = $(id);
    e.textContent = text || "";
    e.hidden = !text;
  }

  async function call(path, body, token, extra) {
    var headers = { "content-type": "application/json" };
    if (token) headers.authorization = "Bearer " + token;
    Object.assign(headers, extra || {});
    var res = await fetch(path, { method: "POST", headers: headers, body: JSON.stringify(body || {}), credentials: "omit" });
    var data = null;
    try {
      data = await res.json();
    } catch (e) {
      data = null;
    }
    return { status: res.status, data: data };
  }

  // Access tokens are short-lived: a minute before one expires, the
  // (rotating) refresh token buys the next, so a long chat stays signed in.
  async function fresh() {
    if (!S.refresh || Date.now() < S.expires - 60000) return;
    var res = await fetch("/auth/token", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "grant_type=refresh_token&refresh_token=" + encodeURIComponent(S.refresh),
      credentials: "omit",
    });
    if (!res.ok) return;
    var d = await res.json();
    keep(d);
  }
  function keep(d) {
    S.token = d.access_token;
    S.refresh = d.refresh_token || S.refresh;
    S.expires = Date.now() + (d.expires_in || 900) * 1000;
  }

  function problem(r) {
    if (r.status === 401) return "That username and password do not match.";
    if (r.status === 429) return "Too many attempts. Please wait a minute and try again.";
    if (r.data && r.data.issue && r.data.issue[0] && r.data.issue[0].diagnostics) return r.data.issue[0].diagnostics;
    return "Something went wrong (" + r.status + "). Please try again.";
  }

  // Step 1: the disclaimer, accepted before anything is sent.
  $("hv-accept").addEventListener("click", function () {
    if (!allowGuests) {
      $("hv-guest").hidden = true;
    }
    show("hv-choose");
  });

  // Step 2a: a guest conversation (general questions only).
  $("hv-guest").addEventListener("click", async function () {
    var r = await call("/v1/visitor/conversations", { accept_disclaimer: true });
    if (r.status !== 201) {
      say("hv-choose-error", problem(r));
      return;
    }
    S.guest = true;
    S.conv = r.data.id;
    S.convToken = r.data.token;
    openChat("You are chatting as a guest: general questions only. Sign in to manage appointments.");
  });
  $("hv-signin-open").addEventListener("click", function () {
    show("hv-signin");
  });

  // Step 2b: sign in with a password, then a one-time code.
  $("hv-signin").addEventListener("submit", async function (ev) {
    ev.preventDefault();
    say("hv-signin-error", "");
    var r = await call("/auth/login", { username: $("hv-user").value, password: $("hv-pass").value });
    $("hv-pass").value = "";
    if (r.status !== 200) {
      say("hv-signin-error", problem(r));
      return;
    }
    var d = r.data;
    if (d.access_token) return signedIn(d);
    if (d.mfa_token) {
      S.pending = d.mfa_token;
      S.pendingKind = "verify";
      $("hv-enrol").hidden = true;
      show("hv-code");
      return;
    }
    if (d.enrolment_token) {
      S.pending = d.enrolment_token;
      S.pendingKind = "activate";
      var e = await call("/auth/mfa/enroll", {}, S.pending);
      if (e.status !== 200) {
        say("hv-signin-error", problem(e));
        return;
      }
      var qr = $("hv-qr");
      qr.src = "data:image/svg+xml;base64," + btoa(e.data.qr_svg);
      var m = /[?&]secret=([A-Z2-7]+)/.exec(e.data.otpauth_uri);
      $("hv-secret").textContent = m ? m[1] : "";
      $("hv-enrol").hidden = false;
      show("hv-code");
    }
  });
  $("hv-code").addEventListener("submit", async function (ev) {
    ev.preventDefault();
    say("hv-code-error", "");
    var path = S.pendingKind === "activate" ? "/auth/mfa/activate" : "/auth/mfa/verify";
    var r = await call(path, { code: $("hv-totp").value.trim() }, S.pending);
    $("hv-totp").value = "";
    if (r.status !== 200 || !r.data.access_token) {
      say("hv-code-error", r.status === 400 ? "That code is not valid. Try the next one." : problem(r));
      return;
    }
    S.pending = null;
    if (r.data.recovery_codes) {
      var list = $("hv-codes");
      list.textContent = "";
      r.data.recovery_codes.forEach(function (c) {
        list.appendChild(el("li", null, c));
      });
      $("hv-recovery-done").onclick = function () {
        signedIn(r.data);
      };
      show("hv-recovery");
      return;
    }
    signedIn(r.data);
  });

  async function signedIn(d) {
    keep(d);
    var token = S.token;
    var r = await call("/v1/conversations", {}, token);
    if (r.status !== 201) {
      say("hv-signin-error", problem(r));
      show("hv-signin");
      return;
    }
    S.conv = r.data.id;
    if (r.data.consent_required) {
      var c = await call("/v1/agent/consent", { accept: true, disclaimer_version: r.data.disclaimer_version || version }, token);
      if (c.status !== 204) {
        say("hv-signin-error", problem(c));
        show("hv-signin");
        return;
      }
    }
    openChat("You are signed in. You can ask questions and book or cancel appointments.");
  }

  function openChat(note) {
    $("hv-status").textContent = note;
    show("hv-chat");
  }

  // The chat: each reply streams in as server-sent events.
  var NOTES = {
    evidence: "Parts of this answer could not be matched to a trusted source.",
    injection: "Your message looked like an instruction to the system, so it was not followed.",
    limits: "Your message was too long or repetitive to answer in full.",
    retrieval: "No trusted source answered this well.",
    disclaimer: "This is general information, not a diagnosis.",
  };

  function bubble(who) {
    var li = el("li", "hv-msg hv-" + who);
    li.appendChild(el("span", "hv-who", who === "user" ? "You" : "Haven"));
    var text = el("p", "hv-text");
    li.appendChild(text);
    $("hv-log").appendChild(li);
    return { li: li, text: text };
  }

  function banner(e) {
    var b = $("hv-banner");
    b.textContent = "";
    b.className = e.level === "emergency" ? "hv-emergency" : "hv-urgent";
    b.appendChild(el("strong", null, e.level === "emergency" ? "Emergency: " : "Urgent: "));
    b.appendChild(document.createTextNode(e.advice + " "));
    if (e.source_url) {
      var a = el("a", null, e.source || "Why");
      a.href = e.source_url;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      b.appendChild(a);
    }
    b.hidden = false;
    b.focus();
  }

  function finish(b, body, checks) {
    var li = b.li;
    if (!b.text.textContent.trim()) b.text.textContent = body.reply || "";
    (body.actions || []).forEach(function (a) {
      var p = el("p", "hv-action", "\u2714 " + (a.label || a.kind));
      p.setAttribute("data-kind", a.kind);
      li.appendChild(p);
    });
    (body.citations || []).forEach(function (c, i) {
      var d = el("details", "hv-cite");
      d.appendChild(el("summary", null, "Source " + (i + 1) + ": " + c.title + (c.section ? " \u2014 " + c.section : "")));
      d.appendChild(el("blockquote", null, c.quote));
      if (c.url) {
        var a = el("a", null, "Open the source");
        a.href = c.url;
        a.target = "_blank";
        a.rel = "noopener noreferrer";
        d.appendChild(a);
      }
      li.appendChild(d);
    });
    var notes = [];
    if (body.blocked) notes.push("This message could not be answered safely.");
    (checks || body.safeguards || []).forEach(function (c) {
      if (c.verdict !== "pass" && NOTES[c.name] && notes.indexOf(NOTES[c.name]) < 0) notes.push(NOTES[c.name]);
    });
    notes.forEach(function (n) {
      li.appendChild(el("p", "hv-note", n));
    });
    if (body.disclaimer) li.appendChild(el("p", "hv-disclaimer", body.disclaimer));
    var tools = el("div", "hv-tools");
    if (body.id) {
      ["up", "down"].forEach(function (rating) {
        var btn = el("button", "hv-fb hv-fb-" + rating, rating === "up" ? "\uD83D\uDC4D" : "\uD83D\uDC4E");
        btn.type = "button";
        btn.setAttribute("aria-label", rating === "up" ? "This reply was helpful" : "This reply was not helpful");
        btn.addEventListener("click", async function () {
          var r = S.guest
            ? await call("/v1/visitor/feedback", { reply: body.id, rating: rating }, null, { "x-conversation-token": S.convToken })
            : await fresh().then(function () {
                return call("/v1/feedback", { reply: body.id, rating: rating }, S.token);
              });
          var done = tools.querySelectorAll(".hv-fb");
          for (var i = 0; i < done.length; i++) done[i].disabled = true;
          tools.appendChild(el("span", "hv-thanks", r.status === 204 ? "Thank you for your feedback." : "Feedback not sent."));
        });
        tools.appendChild(btn);
      });
    }
    if ("speechSynthesis" in window && body.reply) {
      var speak = el("button", "hv-speak", "Read aloud");
      speak.type = "button";
      speak.addEventListener("click", function () {
        window.speechSynthesis.cancel();
        window.speechSynthesis.speak(new SpeechSynthesisUtterance(body.reply));
      });
      tools.appendChild(speak);
    }
    if (tools.childNodes.length) li.appendChild(tools);
    li.setAttribute("data-done", "true");
  }

  async function send(text) {
    var mine = bubble("user");
    mine.text.textContent = text;
    var b = bubble("agent");
    b.li.setAttribute("aria-busy", "true");
    var path = S.guest ? "/v1/visitor/conversations/" + S.conv + "/messages" : "/v1/conversations/" + S.conv + "/messages";
    var headers = { "content-type": "application/json", accept: "text/event-stream" };
    if (S.guest) headers["x-conversation-token"] = S.convToken;
    else {
      await fresh();
      headers.authorization = "Bearer " + S.token;
    }
    var res;
    try {
      res = await fetch(path, { method: "POST", headers: headers, body: JSON.stringify({ text: text }), credentials: "omit" });
    } catch (e) {
      b.text.textContent = "Haven cannot be reached. Please try again.";
      b.li.removeAttribute("aria-busy");
      return;
    }
    if (!res.ok) {
      var data = null;
      try {
        data = await res.json();
      } catch (e) {
        data = null;
      }
      b.text.textContent = res.status === 429 ? "Too many messages. Please wait a minute." : problem({ status: res.status, data: data });
      b.li.removeAttribute("aria-busy");
      return;
    }
    var reader = res.body.getReader();
    var decoder = new TextDecoder();
    var buf = "";
    var checks = null;
    for (;;) {
      var chunk = await reader.read();
      if (chunk.done) break;
      buf += decoder.decode(chunk.value, { stream: true }).replace(/\r\n/g, "\n");
      var cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        var block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        var name = "message";
        var lines = [];
        block.split("\n").forEach(function (line) {
          if (line.indexOf("event:") === 0) name = line.slice(6).trim();
          else if (line.indexOf("data:") === 0) lines.push(line.slice(5).replace(/^ /, ""));
        });
        var payload = lines.join("\n");
        if (name === "escalation") banner(JSON.parse(payload));
        else if (name === "safeguards") checks = JSON.parse(payload);
        else if (name === "delta") b.text.textContent += payload;
        else if (name === "done") finish(b, JSON.parse(payload), checks);
      }
    }
    b.li.removeAttribute("aria-busy");
    $("hv-log").scrollTop = $("hv-log").scrollHeight;
  }

  $("hv-send").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var input = $("hv-input");
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    send(text);
  });
  $("hv-input").addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey) {
      ev.preventDefault();
      $("hv-send").requestSubmit();
    }
  });

  // Optional voice input, where the browser has speech recognition.
  var Recognition = window.SpeechRecognition || window.webkitSpeechRecognition;
  if (Recognition) {
    var mic = $("hv-mic");
    mic.hidden = false;
    mic.addEventListener("click", function () {
      var rec = new Recognition();
      rec.lang = document.documentElement.lang || "en-US";
      rec.interimResults = false;
      mic.setAttribute("aria-pressed", "true");
      rec.onresult = function (e) {
        $("hv-input").value = e.results[0][0].transcript;
        $("hv-input").focus();
      };
      rec.onend = function () {
        mic.setAttribute("aria-pressed", "false");
      };
      rec.start();
    });
  }
  show("hv-consent");
})();
