// Slot arithmetic, as in transactive.market.slots: a slot starts at a multiple of its length since the epoch
// (UTC); times on the wire are ISO 8601 UTC, slot starts written YYYY-MM-DDTHH:MM:SSZ.

const MINUTE_MS = 60_000;

/** Parse an ISO 8601 time from the API (it may carry microseconds, which Date does not take). */
export function parseTime(text) {
  const trimmed = String(text).replace(/(\.\d{3})\d+/, "$1");
  const time = new Date(trimmed);
  if (Number.isNaN(time.getTime())) throw new Error(`not a time: ${text}`);
  return time;
}

/** Canonical slot-start text: 2026-03-01T10:15:00Z. */
export function isoSlot(time) {
  return time.toISOString().replace(/\.\d{3}Z$/, "Z");
}

export function slotContaining(time, slotMinutes) {
  const length = slotMinutes * MINUTE_MS;
  return new Date(Math.floor(time.getTime() / length) * length);
}

export function addSlots(slotStart, count, slotMinutes) {
  return new Date(slotStart.getTime() + count * slotMinutes * MINUTE_MS);
}

/** The `count` slot starts ending with (and including) the slot containing `now`, oldest first. */
export function recentSlots(now, slotMinutes, count) {
  const current = slotContaining(now, slotMinutes);
  return Array.from({ length: count }, (_, i) => isoSlot(addSlots(current, i - count + 1, slotMinutes)));
}

/** The upcoming slots from the one after `now`'s, as [slot start, label] options: two hours' or 24, the more. */
export function upcomingSlotOptions(now, slotMinutes) {
  const first = addSlots(slotContaining(now, slotMinutes), 1, slotMinutes);
  const count = Math.max(24, Math.ceil(120 / slotMinutes));
  return Array.from({ length: count }, (_, i) => {
    const start = addSlots(first, i, slotMinutes);
    return [isoSlot(start), showTime(start)];
  });
}

/** "2026-03-01 10:15 UTC" (seconds shown only when not zero). */
export function showTime(value) {
  const time = value instanceof Date ? value : parseTime(value);
  const text = time.toISOString();
  const seconds = text.slice(17, 19);
  return `${text.slice(0, 10)} ${text.slice(11, 16)}${seconds === "00" ? "" : ":" + seconds} UTC`;
}

/** "10:15" or "10:15:30" (for chart axes). */
export function showClock(value) {
  const text = (value instanceof Date ? value : parseTime(value)).toISOString();
  return text.slice(17, 19) === "00" ? text.slice(11, 16) : text.slice(11, 19);
}
