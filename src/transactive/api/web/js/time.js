// Slot arithmetic, as in transactive.market.slots: a slot starts at a multiple of its length since the epoch
// (UTC); times on the wire are ISO 8601 UTC, slot starts written YYYY-MM-DDTHH:MM:SSZ. Times are shown in the
// community's time zone (setTimeZone, from GET /communities: an IANA name; UTC by default).

const MINUTE_MS = 60_000;
let zone = "UTC";
let formatter = null;

/** Show every time from now on in this IANA time zone (an unknown name falls back to UTC). */
export function setTimeZone(name) {
  try {
    formatter = !name || name === "UTC" ? null : new Intl.DateTimeFormat("en-GB", { timeZone: name,
      year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
      hourCycle: "h23", timeZoneName: "short" });
    zone = formatter ? name : "UTC";
  } catch {
    formatter = null;
    zone = "UTC";
  }
}

/** The IANA name times are shown in ("UTC" by default). */
export function timeZone() {
  return zone;
}

/** [date "YYYY-MM-DD", clock "HH:MM:SS", zone abbreviation] of a time in the shown time zone. */
function partsOf(time) {
  if (!formatter) {
    const text = time.toISOString();
    return [text.slice(0, 10), text.slice(11, 19), "UTC"];
  }
  const p = Object.fromEntries(formatter.formatToParts(time).map((part) => [part.type, part.value]));
  return [`${p.year}-${p.month}-${p.day}`, `${p.hour}:${p.minute}:${p.second}`, p.timeZoneName];
}

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

/** "2026-03-01 10:15 UTC", "2026-03-01 11:15 CET" in the shown time zone (seconds only when not zero). */
export function showTime(value) {
  const [date, clock, abbreviation] = partsOf(value instanceof Date ? value : parseTime(value));
  return `${date} ${clock.endsWith(":00") ? clock.slice(0, 5) : clock} ${abbreviation}`;
}

/** "10:15" or "10:15:30" in the shown time zone (for chart axes). */
export function showClock(value) {
  const clock = partsOf(value instanceof Date ? value : parseTime(value))[1];
  return clock.endsWith(":00") ? clock.slice(0, 5) : clock;
}
