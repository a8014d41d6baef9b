// The desk's only script: live inbox rows (Server-Sent Events) and the other side's time.
// Every page works without it; nothing here touches keys or message content.
"use strict";

function refreshInbox() {
  const rows = document.getElementById("inbox-rows");
  if (!rows) return;
  const url = new URL(window.location.href);
  url.searchParams.set("rows", "1");
  fetch(url, { credentials: "same-origin" })
    .then((answer) => (answer.ok ? answer.text() : null))
    .then((html) => {
      if (html !== null) rows.innerHTML = html;
    });
}

function listenForMessages() {
  const table = document.getElementById("inbox");
  if (!table || table.dataset.live !== "1" || !window.EventSource) return;
  const source = new EventSource("/events");
  source.addEventListener("inbox", refreshInbox);
}

// Fixed offsets: neither Vietnam nor China keeps daylight saving time.
const OFFSETS = { "Asia/Ho_Chi_Minh": 7, "Asia/Shanghai": 8, UTC: 0 };

function pad(n) {
  return String(n).padStart(2, "0");
}

function showOtherTime(anchor) {
  const input = document.getElementById(anchor + "-in");
  const zone = document.getElementById(anchor + "-tz");
  const output = document.getElementById(anchor + "-other");
  if (!input || !zone || !output) return;
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(input.value);
  if (!match) {
    output.textContent = "";
    return;
  }
  const entered = zone.value;
  const other = entered === "Asia/Ho_Chi_Minh" ? "Asia/Shanghai" : "Asia/Ho_Chi_Minh";
  const utc = Date.UTC(+match[1], +match[2] - 1, +match[3], +match[4], +match[5]) -
    OFFSETS[entered] * 3600000;
  const t = new Date(utc + OFFSETS[other] * 3600000);
  const label = other === "Asia/Shanghai" ? output.dataset.labelCn : output.dataset.labelVn;
  output.textContent = label + " " + t.getUTCFullYear() + "-" + pad(t.getUTCMonth() + 1) + "-" +
    pad(t.getUTCDate()) + " " + pad(t.getUTCHours()) + ":" + pad(t.getUTCMinutes());
}

function watchTimes() {
  document.querySelectorAll("[data-zone-for]").forEach((input) => {
    const anchor = input.dataset.zoneFor;
    input.addEventListener("input", () => showOtherTime(anchor));
    const zone = document.getElementById(anchor + "-tz");
    if (zone) zone.addEventListener("change", () => showOtherTime(anchor));
  });
}

document.addEventListener("DOMContentLoaded", () => {
  listenForMessages();
  watchTimes();
});
