// The header's bell: the unread count follows new notifications live (Server-Sent Events).
// Without JavaScript the count shown when the page loaded stays, and the link still works.

const bell = document.querySelector("[data-bell]");
const count = document.querySelector("[data-bell-count]");
const live = document.querySelector("[data-bell-live]");

function show(unread) {
  if (!bell || !count || typeof unread !== "number") return;
  count.textContent = String(unread);
  count.hidden = unread === 0;
  bell.setAttribute("aria-label", `${bell.dataset.label}: ${unread} ${bell.dataset.unreadLabel}`);
}

if (bell && window.EventSource) {
  const source = new EventSource("/api/v1/notifications/stream");
  source.addEventListener("unread", (event) => show(JSON.parse(event.data).unread));
  source.addEventListener("notification", (event) => {
    const data = JSON.parse(event.data);
    show(data.unread);
    if (live && data.notification) live.textContent = data.notification.title;
  });
  window.addEventListener("pagehide", () => source.close());
}
