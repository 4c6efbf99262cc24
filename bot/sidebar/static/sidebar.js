// The sidebar's behaviour: find the customer (or the customer group), search, send. Plain
// JS, no build step. Inside WeCom the JS-SDK sends (wx.invoke sendChatMessage); elsewhere
// the text is copied. In a group chat it shows 今日群SOP: the owner's posts due today; in a
// customer's chat, 今日跟进 (their journey follow-ups) above the replies.
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("sidebar-config").textContent);
  var panel = document.getElementById("panel");
  var search = document.getElementById("q");
  var customer = cfg.customer || "";
  var chat = cfg.chat || "";
  var category = "";
  var sdk = false; // wx.agentConfig succeeded: sendChatMessage is available
  var timer = null;

  function toast(message) {
    var el = document.getElementById("toast");
    el.textContent = message;
    el.className = "show";
    clearTimeout(el._t);
    el._t = setTimeout(function () { el.className = ""; }, 2000);
  }

  function load() {
    if (!customer) { return; }
    var query = new URLSearchParams({ customer: customer, q: search.value.trim(), category: category });
    fetch("/sidebar/panel?" + query, { credentials: "same-origin" }).then(function (r) {
      if (r.status === 401) { location.reload(); return ""; }
      return r.text();
    }).then(function (html) { if (html) { panel.innerHTML = html; } });
  }

  search.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(load, 200);
  });

  document.getElementById("categories").addEventListener("click", function (e) {
    var chip = e.target.closest(".chip");
    if (!chip) { return; }
    category = chip.dataset.category;
    document.querySelectorAll(".chip").forEach(function (c) { c.classList.toggle("active", c === chip); });
    load();
  });

  function invoke(name, args) {
    return new Promise(function (resolve, reject) {
      window.wx.invoke(name, args, function (res) {
        if (res && res.err_msg === name + ":ok") { resolve(res); } else { reject(res); }
      });
    });
  }

  function copy(text) {
    if (navigator.clipboard && window.isSecureContext) { return navigator.clipboard.writeText(text); }
    var area = document.createElement("textarea");
    area.value = text;
    document.body.appendChild(area);
    area.select();
    document.execCommand("copy");
    area.remove();
    return Promise.resolve();
  }

  function record(id, via) {
    return fetch("/api/replies/sent", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": cfg.csrf },
      body: JSON.stringify({ reply_id: id, customer: customer, via: via })
    });
  }

  function loadGroup() {
    if (!chat) { return; }
    document.body.dataset.mode = "group";
    fetch("/sidebar/group?" + new URLSearchParams({ chat: chat }), { credentials: "same-origin" })
      .then(function (r) {
        if (r.status === 401) { location.reload(); return ""; }
        return r.text();
      }).then(function (html) { if (html) { panel.innerHTML = html; } });
  }

  // The text, then each card, into the chat open beside the sidebar (one after another:
  // the client shows them in the order they were sent).
  function sendToChat(text, cards) {
    return invoke("sendChatMessage", { msgtype: "text", enterChat: false, text: { content: text } })
      .then(function () {
        return cards.reduce(function (p, card) {
          var args = { msgtype: card.msgtype, enterChat: false };
          args[card.msgtype] = card[card.msgtype];
          return p.then(function () { return invoke("sendChatMessage", args); });
        }, Promise.resolve());
      });
  }

  function markPosted(id) {
    return fetch("/api/group-posts/posted", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": cfg.csrf },
      body: JSON.stringify({ chat: chat, post_id: Number(id) })
    }).then(function (r) { if (!r.ok) { throw r; } });
  }

  // 「发到本群」: the text, then each card sendChatMessage can send, then record it posted.
  function postToGroup(button) {
    var item = button.closest(".post");
    var text = item.querySelector(".text").textContent;
    var cards = JSON.parse(item.dataset.cards || "[]");
    button.disabled = true;
    if (!sdk) {
      copy(text).then(function () { toast("已复制，去群聊粘贴"); })
        .then(function () { button.disabled = false; });
      return;
    }
    sendToChat(text, cards)
      .then(function () { return markPosted(item.dataset.id); })
      .then(function () {
        item.classList.add("posted");
        button.remove();
        toast("已发到本群");
      })
      .catch(function () { toast("发送失败，请重试"); button.disabled = false; });
  }

  // 「发送跟进」: a journey's follow-up into this customer's chat, then recorded (once).
  function sendTask(button) {
    var item = button.closest(".task");
    var text = item.querySelector(".text").textContent;
    var cards = JSON.parse(item.dataset.cards || "[]");
    button.disabled = true;
    if (!sdk) {
      copy(text).then(function () { toast("已复制，去聊天窗口粘贴"); })
        .then(function () { button.disabled = false; });
      return;
    }
    sendToChat(text, cards)
      .then(function () {
        return fetch("/api/journey-tasks/sent", {
          method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": cfg.csrf },
          body: JSON.stringify({ customer: customer, task_id: Number(item.dataset.id) })
        }).then(function (r) { if (!r.ok) { throw r; } });
      })
      .then(function () {
        item.classList.add("sent");
        item.querySelector(".category").textContent = "已跟进 ✓";
        button.remove();
        toast("已发送，已记为跟进");
      })
      .catch(function () { toast("发送失败，请重试"); button.disabled = false; });
  }

  panel.addEventListener("click", function (e) {
    var post = e.target.closest(".post-send");
    if (post) { postToGroup(post); return; }
    var task = e.target.closest(".task-send");
    if (task) { sendTask(task); return; }
    var button = e.target.closest(".send");
    if (!button) { return; }
    var item = button.closest(".reply");
    var text = item.querySelector(".text").textContent;
    var cards = JSON.parse(item.dataset.attachments || "[]");
    button.disabled = true;
    var sending;
    if (sdk) {
      sending = sendToChat(text, cards).then(function () { return "sidebar"; });
    } else {
      sending = copy(text).then(function () { return "clipboard"; });
    }
    sending.then(function (via) {
      return record(item.dataset.id, via).then(function () {
        item.classList.add("sent");
        toast(via === "sidebar" ? "已发送" : "已复制，去聊天窗口粘贴");
      });
    }).catch(function () { toast("发送失败，请重试"); })
      .then(function () { button.disabled = false; });
  });

  function startSdk() {
    if (!window.wx) { if (chat) { loadGroup(); } else { load(); } return; }
    var url = location.href.split("#")[0];
    fetch("/api/jssdk-config?url=" + encodeURIComponent(url), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (c) {
        var apis = ["getCurExternalContact", "getCurExternalChat", "sendChatMessage"];
        window.wx.config({ beta: true, debug: false, appId: c.corpid, timestamp: c.timestamp,
          nonceStr: c.nonceStr, signature: c.signature, jsApiList: apis });
        window.wx.ready(function () {
          window.wx.agentConfig({ corpid: c.corpid, agentid: c.agentid, timestamp: c.timestamp,
            nonceStr: c.nonceStr, signature: c.agentSignature, jsApiList: apis,
            success: function () {
              sdk = true;
              document.body.dataset.sdk = "ready";
              if (customer || chat) { return; }
              invoke("getCurExternalContact", {}).then(function (res) {
                customer = res.userId;
                load();
              }, function () {
                // not a one-to-one chat: a customer group's chat?
                invoke("getCurExternalChat", {}).then(function (res) {
                  chat = res.chatId;
                  loadGroup();
                }, function () { panel.innerHTML = '<p class="empty">请在客户聊天或客户群聊天窗口打开侧边栏。</p>'; });
              });
            },
            fail: function () { document.body.dataset.sdk = "failed"; }
          });
        });
        window.wx.error(function () { document.body.dataset.sdk = "failed"; });
      });
  }

  startSdk();
})();
