// PointsMall sandbox chat page: plays members against the local Bot API server.
// Vanilla JS, no build step, no network beyond this server. Bot text is rendered from its
// plain text and entities with DOM nodes, never as HTML, so nothing the bot sends can inject.
// A link to this bot (t.me/<bot>?start=PAYLOAD; the server marks it with `start`) is opened
// the way Telegram opens it: the member sends /start PAYLOAD, and the page stays.
"use strict";

const state = {
  users: [],
  current: null,
  unread: new Set(),
  chat: null,
  loading: false,
  reloadAgain: false,
  botUsername: "pointsmall_sandbox_bot",
};

const $ = (selector) => document.querySelector(selector);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

async function api(path, options = {}) {
  const init = { method: options.method || "GET", headers: {} };
  if (options.json !== undefined) {
    init.method = options.method || "POST";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(options.json);
  } else if (options.form !== undefined) {
    init.method = "POST";
    init.body = options.form;
  }
  const response = await fetch(`/sandbox/api${path}`, init);
  if (!response.ok) {
    const text = await response.text();
    throw new Error(text || `${response.status} ${response.statusText}`);
  }
  return response.json();
}

// -- members ---------------------------------------------------------------------------------

const AVATAR_COLORS = ["#e17076", "#7bc862", "#65aadd", "#a695e7", "#ee7aae", "#6ec9cb", "#faa774"];

function avatar(user) {
  const initials = (user.first_name || "?").trim().slice(0, 1).toUpperCase();
  const node = el("div", { class: "avatar", "aria-hidden": "true" }, initials);
  node.style.background = AVATAR_COLORS[user.id % AVATAR_COLORS.length];
  return node;
}

function languageName(code) {
  return code === "zh-hans" ? "简体中文" : code === "en" ? "English" : code || "—";
}

async function loadUsers() {
  state.users = await api("/users");
  renderUsers();
}

function renderUsers() {
  const list = $("#user-list");
  list.replaceChildren(
    ...state.users.map((user) => {
      const name = el("div", { class: "user-name" }, user.first_name);
      if (user.admin) name.append(el("span", { class: "badge admin-badge" }, "Admin"));
      const sub = el(
        "div",
        { class: "user-sub" },
        [
          user.username ? `@${user.username}` : null,
          languageName(user.language_code),
          String(user.id),
          user.blocked ? "blocked the bot" : null,
        ]
          .filter(Boolean)
          .join(" · "),
      );
      return el(
        "li",
        {
          class: ["user", user.admin ? "admin" : "", user.id === state.current ? "active" : ""]
            .filter(Boolean)
            .join(" "),
          dataset: { userId: String(user.id) },
          onclick: () => selectUser(user.id),
        },
        avatar(user),
        el("div", { class: "user-main" }, name, sub),
        state.unread.has(user.id) ? el("span", { class: "unread", title: "new messages" }) : null,
      );
    }),
  );
}

function showFormError(text) {
  const error = $("#new-user-error");
  error.textContent = text || "";
  error.hidden = !text;
  $("#new-user-username").setAttribute("aria-invalid", text ? "true" : "false");
}

async function createUser(event) {
  event.preventDefault();
  const nameInput = $("#new-user-name");
  const usernameInput = $("#new-user-username");
  const first_name = nameInput.value.trim();
  if (!first_name) {
    nameInput.focus();
    return;
  }
  const username = usernameInput.value.trim().replace(/^@/, "");
  let user;
  try {
    user = await api("/users", {
      json: { first_name, username: username || null, language_code: $("#new-user-lang").value },
    });
  } catch (error) {
    // The server checks the username as Telegram does (and that nobody has it): say why.
    showFormError(String(error.message || error));
    usernameInput.focus();
    return;
  }
  showFormError("");
  nameInput.value = "";
  usernameInput.value = "";
  await loadUsers();
  await selectUser(user.id);
}

async function selectUser(id) {
  state.current = id;
  state.unread.delete(id);
  $("#chat").classList.remove("empty");
  $("#composer-input").disabled = false;
  $("#composer-send").disabled = false;
  $("#commands-menu").hidden = true;
  renderUsers();
  await Promise.all([loadChat(), loadGroupChats()]);
  $("#composer-input").focus();
}

// -- channels and groups ---------------------------------------------------------------------

async function loadGroupChats() {
  if (state.current === null) return;
  const id = state.current;
  const chats = await api(`/users/${id}/chats`);
  if (id === state.current) renderGroupChats(chats);
}

function renderGroupChats(chats) {
  $("#group-chats").hidden = chats.length === 0;
  const rows = chats.map((chat) => {
    const name = chat.username ? `@${chat.username}` : chat.title;
    const bot = chat.bot_status === "administrator" || chat.bot_status === "creator"
      ? "bot is admin"
      : chat.bot_status === "member" ? "bot is a member" : "bot not in it";
    const move = chat.in_chat ? "leave" : "join";
    return el(
      "li",
      { class: "group-chat", dataset: { chatId: String(chat.id) } },
      el(
        "div",
        { class: "group-info" },
        el("div", { class: "group-title" }, `${chat.type === "channel" ? "📢" : "👥"} ${chat.title}`),
        el("div", { class: "group-sub" }, `${name} · ${chat.members} in · ${bot} · you: ${chat.status}`),
      ),
      el(
        "button",
        {
          type: "button",
          class: `group-${move}`,
          disabled: chat.status === "kicked",
          onclick: () => moveInChat(chat.id, move),
        },
        move === "join" ? "Join" : "Leave",
      ),
    );
  });
  $("#group-list").replaceChildren(...rows);
}

async function moveInChat(chatId, move) {
  try {
    await api(`/users/${state.current}/chats/${chatId}/${move}`, { json: {} });
    await loadGroupChats();
  } catch (error) {
    showToast(String(error.message || error));
  }
}

async function vote(messageId, optionIds) {
  try {
    await api(`/users/${state.current}/vote`, { json: { message_id: messageId, option_ids: optionIds } });
  } catch (error) {
    showToast(String(error.message || error));
  }
}

function renderPoll(message) {
  const poll = message.poll;
  const mine = poll.my_vote || [];
  const voted = poll.my_vote !== null;
  const correct = poll.correct_option_ids || [];
  const kind = poll.type === "quiz" ? "Quiz" : "Poll";
  const box = el(
    "div",
    { class: "poll" },
    el("div", { class: "poll-question" }, poll.question),
    el("div", { class: "poll-kind" }, `${poll.is_anonymous ? "Anonymous" : "Public"} ${kind.toLowerCase()}${poll.is_closed ? " · closed" : ""}`),
  );
  poll.options.forEach((option, index) => {
    const chosen = mine.includes(index);
    const mark = voted && poll.type === "quiz" && correct.length
      ? (correct.includes(index) ? "✓ " : chosen ? "✗ " : "")
      : chosen ? "● " : "";
    const count = voted || poll.is_closed ? ` · ${option.voter_count}` : "";
    box.append(
      el(
        "button",
        {
          type: "button",
          class: `poll-option${chosen ? " chosen" : ""}`,
          disabled: !poll.can_vote || chosen,
          onclick: () => vote(message.message_id, [index]),
        },
        `${mark}${option.text}${count}`,
      ),
    );
  });
  if (voted && poll.can_vote) {
    box.append(
      el("button", { type: "button", class: "poll-retract", onclick: () => vote(message.message_id, []) }, "Retract vote"),
    );
  }
  if (voted && poll.explanation && !correct.every((i) => mine.includes(i))) {
    box.append(el("div", { class: "poll-explanation" }, `💡 ${poll.explanation}`));
  }
  box.append(el("div", { class: "poll-total" }, `${poll.total_voter_count} voted`));
  return box;
}

// -- the chat --------------------------------------------------------------------------------

async function loadChat() {
  if (state.current === null) return;
  if (state.loading) {
    state.reloadAgain = true;
    return;
  }
  state.loading = true;
  try {
    do {
      state.reloadAgain = false;
      const id = state.current;
      const chat = await api(`/users/${id}/chat`);
      if (id === state.current) renderChat(chat);
    } while (state.reloadAgain);
  } finally {
    state.loading = false;
  }
}

function chatStatus() {
  if (state.chat && state.chat.user.blocked) return "you blocked this bot";
  return `bot · @${state.botUsername}`;
}

function renderChat(chat) {
  state.chat = chat;
  if (chat.bot && chat.bot.username) state.botUsername = chat.bot.username;
  const user = chat.user;
  $("#chat-avatar").replaceWith(Object.assign(avatar(user), { id: "chat-avatar" }));
  $("#chat-name").textContent = [user.first_name, user.last_name].filter(Boolean).join(" ");
  setStatus(chatStatus());
  const toggle = $("#block-toggle");
  toggle.hidden = false;
  toggle.textContent = user.blocked ? "Unblock bot" : "Block bot";

  const box = $("#messages");
  const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  let lastDay = null;
  const nodes = [];
  for (const message of chat.messages) {
    const day = new Date(message.date * 1000).toDateString();
    if (day !== lastDay) {
      nodes.push(el("div", { class: "day-note" }, day));
      lastDay = day;
    }
    nodes.push(renderMessage(message));
  }
  box.replaceChildren(...nodes);
  if (nearBottom || box.dataset.userId !== String(user.id)) {
    box.scrollTop = box.scrollHeight;
    // Photos grow the chat once loaded; stay at the newest message.
    for (const image of box.querySelectorAll("img")) {
      image.addEventListener("load", () => {
        box.scrollTop = box.scrollHeight;
      });
    }
  }
  box.dataset.userId = String(user.id);

  renderReplyKeyboard(chat.reply_keyboard);
  renderCommands(chat.commands);
}

function clock(unix) {
  const date = new Date(unix * 1000);
  return `${String(date.getHours()).padStart(2, "0")}:${String(date.getMinutes()).padStart(2, "0")}`;
}

function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function renderMessage(message) {
  const side = message.from_bot ? "bot" : "user";
  const bubble = el("div", { class: "bubble" });

  if (message.photo) {
    bubble.append(el("img", { class: "photo", src: message.photo, alt: "photo" }));
  }
  if (message.document) {
    const doc = message.document;
    bubble.append(
      el(
        "a",
        { class: "document", href: doc.url, download: doc.file_name },
        el("span", { class: "document-icon", "aria-hidden": "true" }, "⬇"),
        el(
          "span",
          {},
          el("div", { class: "document-name" }, doc.file_name),
          el("div", { class: "document-size" }, `${formatSize(doc.size)} · ${doc.mime_type}`),
        ),
      ),
    );
  }
  if (message.invoice) {
    const invoice = message.invoice;
    const price = invoice.currency === "XTR" ? `★ ${invoice.total_amount}` : `${invoice.total_amount} ${invoice.currency}`;
    bubble.append(
      el("div", { class: "invoice-title" }, invoice.title),
      el("div", { class: "invoice-description" }, invoice.description),
      el("div", { class: "invoice-price" }, price),
      el(
        "button",
        {
          class: "pay-button",
          type: "button",
          dataset: { messageId: String(message.message_id) },
          onclick: () => pay(message.message_id),
        },
        `Pay (test) ${price}`,
      ),
    );
  } else if (message.payment) {
    const payment = message.payment;
    const amount = payment.currency === "XTR" ? `★ ${payment.total_amount}` : `${payment.total_amount} ${payment.currency}`;
    bubble.append(el("div", { class: "payment" }, `You paid ${amount}`));
  } else if (message.refund) {
    const refund = message.refund;
    bubble.append(el("div", { class: "payment" }, `★ ${refund.total_amount} refunded to you`));
  } else if (message.contact) {
    const contact = message.contact;
    const name = [contact.first_name, contact.last_name].filter(Boolean).join(" ");
    bubble.append(
      el(
        "div",
        { class: "contact" },
        el("span", { class: "contact-icon", "aria-hidden": "true" }, "👤"),
        el(
          "span",
          {},
          el("div", { class: "contact-name" }, name),
          el("div", { class: "contact-phone" }, `+${contact.phone_number.replace(/^\+/, "")}`),
        ),
      ),
    );
  } else if (message.poll) {
    bubble.append(renderPoll(message));
  } else if (message.text) {
    bubble.append(renderText(message.text, message.entities || []));
  }

  const meta = el("span", { class: "meta" });
  if (message.edited) meta.append(el("span", { class: "edited" }, "edited "));
  meta.append(clock(message.date));
  bubble.append(meta);

  const node = el(
    "div",
    {
      class: `message ${side}`,
      dataset: { messageId: String(message.message_id) },
    },
    bubble,
  );
  if (message.buttons && message.buttons.length) {
    node.append(renderKeyboard(message));
  }
  return node;
}

function renderKeyboard(message) {
  return el(
    "div",
    { class: "keyboard" },
    ...message.buttons.map((row) =>
      el(
        "div",
        { class: "keyboard-row" },
        ...row.map((button) =>
          button.url
            ? linkNode(button.url, button.start, button.text)
            : el(
                "button",
                {
                  type: "button",
                  dataset: { callback: button.callback_data || "" },
                  onclick: () => press(message.message_id, button.text),
                },
                button.text,
              ),
        ),
      ),
    ),
  );
}

function safeUrl(url) {
  return /^(https?:|tg:|mailto:)/i.test(url) ? url : "#";
}

// A link as the chat shows it. `start` (from the server) is set for a link to this bot: the
// payload of its /start (or "" for the bot's chat without one), sent as this member instead of
// leaving the page; any other link opens in a new tab.
function linkNode(url, start, ...children) {
  const href = safeUrl(/^[a-z][a-z0-9+.-]*:/i.test(url) ? url : `https://${url}`);
  if (start === null || start === undefined) {
    return el("a", { href, target: "_blank", rel: "noopener noreferrer" }, ...children);
  }
  return el(
    "a",
    {
      href,
      class: "bot-link",
      title: start ? `Opens as /start ${start}` : `Opens the chat with @${state.botUsername}`,
      dataset: { start },
      onclick: (event) => {
        event.preventDefault();
        openStart(start).catch((error) => showToast(String(error.message || error)));
      },
    },
    ...children,
  );
}

// Telegram entities -> DOM. Offsets are UTF-16 code units, which is what JS strings index.
function renderText(text, entities) {
  const root = el("div", { class: "text" });
  const sorted = [...entities].sort((a, b) => a.offset - b.offset || b.length - a.length);
  renderRange(root, text, sorted, 0, text.length);
  return root;
}

function renderRange(parent, text, entities, start, end) {
  let position = start;
  let index = 0;
  while (index < entities.length) {
    const entity = entities[index];
    const entityStart = Math.max(entity.offset, position);
    const entityEnd = Math.min(entity.offset + entity.length, end);
    let next = index + 1;
    const inner = [];
    while (next < entities.length && entities[next].offset < entity.offset + entity.length) {
      inner.push(entities[next]);
      next += 1;
    }
    if (entityStart > position) parent.append(text.slice(position, entityStart));
    if (entityEnd > entityStart) {
      const node = entityNode(entity, text.slice(entityStart, entityEnd));
      renderRange(node.querySelector("code") || node, text, inner, entityStart, entityEnd);
      parent.append(node);
      position = entityEnd;
    }
    index = next;
  }
  if (position < end) parent.append(text.slice(position, end));
}

function entityNode(entity, content) {
  switch (entity.type) {
    case "bold":
      return el("strong");
    case "italic":
      return el("em");
    case "underline":
      return el("u");
    case "strikethrough":
      return el("s");
    case "spoiler":
      return el("span", { class: "spoiler", onclick: (event) => event.currentTarget.classList.toggle("revealed") });
    case "code":
      return el("code");
    case "pre":
      return el("pre", { dataset: { language: entity.language || "" } }, el("code"));
    case "text_link":
      return linkNode(entity.url, entity.start);
    case "url":
      return linkNode(content, entity.start);
    case "blockquote":
    case "expandable_blockquote":
      return el("blockquote");
    case "bot_command":
      return el("span", { class: "command", onclick: () => sendText(content) });
    default:
      return el("span", { class: `entity-${entity.type}` });
  }
}

function renderReplyKeyboard(rows) {
  const box = $("#reply-keyboard");
  if (!rows || !rows.length) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  box.hidden = false;
  box.replaceChildren(
    ...rows.map((row) =>
      el(
        "div",
        { class: "keyboard-row" },
        ...row.map((button) =>
          el(
            "button",
            {
              type: "button",
              class: button.request_contact ? "request-contact" : null,
              title: button.request_contact ? "Shares your phone number with the bot" : null,
              onclick: () => (button.request_contact ? shareContact() : sendText(button.text)),
            },
            button.text,
          ),
        ),
      ),
    ),
  );
}

function renderCommands(commands) {
  const menu = $("#commands-menu");
  $("#commands-button").hidden = !commands || !commands.length;
  menu.replaceChildren(
    ...(commands || []).map((command) =>
      el(
        "button",
        {
          type: "button",
          class: "command-item",
          onclick: () => {
            menu.hidden = true;
            sendText(`/${command.command}`);
          },
        },
        el("span", { class: "command-name" }, `/${command.command}`),
        el("span", { class: "command-description" }, command.description),
      ),
    ),
  );
}

// -- what the member does --------------------------------------------------------------------

// Opening a link to this bot, as Telegram does: with a start parameter the member sends
// "/start PAYLOAD"; without one the chat just opens (or, never started, shows its /start).
async function openStart(payload) {
  if (state.current === null) return;
  if (!payload && state.chat && state.chat.user.started) {
    $("#messages").scrollTop = $("#messages").scrollHeight;
    $("#composer-input").focus();
    return;
  }
  await sendText(payload ? `/start ${payload}` : "/start");
}

async function sendText(text) {
  if (state.current === null || !text.trim()) return;
  await api(`/users/${state.current}/send`, { json: { text } });
  await loadChat();
}

async function shareContact() {
  if (state.current === null) return;
  try {
    await api(`/users/${state.current}/contact`, { json: {} });
    await loadChat();
  } catch (error) {
    showToast(String(error.message || error));
  }
}

async function submitComposer(event) {
  event.preventDefault();
  const input = $("#composer-input");
  const text = input.value;
  if (!text.trim()) return;
  input.value = "";
  autoGrow();
  try {
    await sendText(text);
  } catch (error) {
    showToast(String(error.message || error));
  }
}

async function press(messageId, text) {
  try {
    await api(`/users/${state.current}/press`, { json: { message_id: messageId, text } });
  } catch (error) {
    showToast(String(error.message || error));
  }
}

async function pay(messageId) {
  try {
    await api(`/users/${state.current}/pay`, { json: { message_id: messageId } });
    showToast("Paying… waiting for the bot to confirm");
  } catch (error) {
    showToast(String(error.message || error));
  }
}

async function upload(event) {
  const file = event.target.files[0];
  event.target.value = "";
  if (!file || state.current === null) return;
  const form = new FormData();
  form.append("file", file, file.name);
  const caption = $("#composer-input").value.trim();
  if (caption) {
    form.append("caption", caption);
    $("#composer-input").value = "";
  }
  await api(`/users/${state.current}/upload`, { form });
  await loadChat();
}

async function toggleBlock() {
  if (!state.chat) return;
  await api(`/users/${state.current}/block`, { json: { blocked: !state.chat.user.blocked } });
  await Promise.all([loadUsers(), loadChat()]);
}

function autoGrow() {
  const input = $("#composer-input");
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
}

// -- notices ---------------------------------------------------------------------------------

let toastTimer = null;

function showToast(text) {
  const toast = $("#toast");
  toast.textContent = text;
  toast.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    toast.hidden = true;
  }, 2800);
}

function showAlert(text) {
  $("#alert-text").textContent = text;
  $("#alert").hidden = false;
  $("#alert-ok").focus();
}

let statusTimer = null;

function setStatus(text, typing = false) {
  const status = $("#chat-status");
  status.textContent = text;
  status.classList.toggle("typing", typing);
}

function showAction(action) {
  const words = {
    typing: "typing…",
    upload_photo: "sending a photo…",
    upload_document: "sending a file…",
  };
  setStatus(words[action] || `${action.replaceAll("_", " ")}…`, true);
  clearTimeout(statusTimer);
  statusTimer = setTimeout(() => {
    if (state.chat) setStatus(chatStatus());
  }, 5000);
}

// -- live updates ----------------------------------------------------------------------------

function listen() {
  const source = new EventSource("/sandbox/api/events");
  source.onmessage = (message) => {
    const event = JSON.parse(message.data);
    const mine = event.user_id === state.current;
    if (event.type === "users") {
      loadUsers();
    } else if (event.type === "chat") {
      if (mine) loadChat();
      else if (event.user_id !== null && event.user_id !== undefined) {
        state.unread.add(event.user_id);
        renderUsers();
      }
    } else if (event.type === "notice" && mine && event.text) {
      if (event.show_alert) showAlert(event.text);
      else showToast(event.text);
    } else if (event.type === "action" && mine) {
      showAction(event.action);
    } else if (event.type === "commands") {
      loadChat();
    } else if (event.type === "chats") {
      loadGroupChats();
    }
  };
  source.onerror = () => {
    // EventSource reconnects by itself; catch up on what happened meanwhile.
    source.onopen = () => {
      loadUsers();
      loadChat();
      loadGroupChats();
    };
  };
}

function start() {
  $("#new-user").addEventListener("submit", (event) => createUser(event).catch((e) => showToast(String(e.message || e))));
  $("#new-user-username").addEventListener("input", () => showFormError(""));
  $("#composer").addEventListener("submit", submitComposer);
  $("#composer-input").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("#composer").requestSubmit();
    }
  });
  $("#composer-input").addEventListener("input", autoGrow);
  $("#commands-button").addEventListener("click", () => {
    $("#commands-menu").hidden = !$("#commands-menu").hidden;
  });
  $("#attach-input").addEventListener("change", (event) => upload(event).catch((e) => showToast(String(e.message || e))));
  $("#block-toggle").addEventListener("click", () => toggleBlock().catch((e) => showToast(String(e.message || e))));
  $("#alert-ok").addEventListener("click", () => {
    $("#alert").hidden = true;
  });
  listen();
  loadUsers().then(() => {
    const first = state.users.find((user) => user.admin) || state.users[0];
    if (first && state.current === null) selectUser(first.id);
  });
}

document.addEventListener("DOMContentLoaded", start);
