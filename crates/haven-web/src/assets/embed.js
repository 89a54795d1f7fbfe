/* Haven chat widget loader: one <script src="https://HAVEN/widget.js" async></script>
   on any page of an allow-listed origin adds a launcher button that opens the
   chat panel. The panel is a frame served by Haven itself, so the page never
   sees the conversation, the patient's tokens or the API; Haven's
   frame-ancestors policy refuses the frame to origins not on its list. */
(function () {
  "use strict";
  var me = document.currentScript;
  if (!me || window.__havenWidget) return;
  window.__havenWidget = true;
  var origin = new URL(me.src, location.href).origin;
  var label = me.getAttribute("data-label") || "Chat with us";

  function start() {
    var box = document.createElement("div");
    box.id = "haven-widget";
    box.setAttribute("style", "position:fixed;right:16px;bottom:16px;z-index:2147483000;font:16px system-ui,sans-serif");
    var button = document.createElement("button");
    button.type = "button";
    button.id = "haven-launcher";
    button.textContent = label;
    button.setAttribute("aria-expanded", "false");
    button.setAttribute("aria-controls", "haven-frame");
    button.setAttribute(
      "style",
      "background:#0b5394;color:#fff;border:0;border-radius:24px;padding:12px 20px;font:inherit;cursor:pointer;box-shadow:0 2px 8px rgba(0,0,0,.3)"
    );
    var frame = null;
    button.addEventListener("click", function () {
      if (!frame) {
        frame = document.createElement("iframe");
        frame.id = "haven-frame";
        frame.title = "Haven health chat";
        frame.src = origin + "/widget";
        frame.setAttribute("allow", "microphone");
        frame.setAttribute(
          "style",
          "display:block;width:min(380px,calc(100vw - 32px));height:min(600px,calc(100vh - 96px));border:1px solid #8a8a8a;border-radius:12px;background:#fff;margin-bottom:8px;box-shadow:0 4px 16px rgba(0,0,0,.25)"
        );
        box.insertBefore(frame, button);
        button.setAttribute("aria-expanded", "true");
        button.textContent = "Close chat";
        frame.focus();
        return;
      }
      var open = frame.style.display !== "none";
      frame.style.display = open ? "none" : "block";
      button.setAttribute("aria-expanded", open ? "false" : "true");
      button.textContent = open ? label : "Close chat";
      if (!open) frame.focus();
    });
    box.appendChild(button);
    document.body.appendChild(box);
  }
  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
