// Money and time as the viewer reads them: amounts are minor units of an
// ISO currency, times are instants shown in the viewer's own zone.

export const viewerZone: string = Intl.DateTimeFormat().resolvedOptions().timeZone;

export function money(minor: number, currency: string): string {
  const format = new Intl.NumberFormat(undefined, { style: "currency", currency: currency.toUpperCase() });
  const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
  return format.format(minor / 10 ** digits);
}

/** Whole major units typed by a person → minor units, or undefined if it is not an amount. */
export function minorUnits(text: string, currency: string): number | undefined {
  const digits = new Intl.NumberFormat(undefined, { style: "currency", currency: currency.toUpperCase() }).resolvedOptions().maximumFractionDigits ?? 2;
  const value = Number(text.replace(",", "."));
  if (!Number.isFinite(value) || value < 0) return undefined;
  return Math.round(value * 10 ** digits);
}

export function majorUnits(minor: number, currency: string): string {
  const digits = new Intl.NumberFormat(undefined, { style: "currency", currency: currency.toUpperCase() }).resolvedOptions().maximumFractionDigits ?? 2;
  return (minor / 10 ** digits).toFixed(digits);
}

export function when(instant: string, zone: string = viewerZone): string {
  return new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", timeZone: zone }).format(new Date(instant));
}

export function clock(instant: string, zone: string = viewerZone): string {
  return new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", timeZone: zone }).format(new Date(instant));
}

export function day(date: string): string {
  return new Intl.DateTimeFormat(undefined, { weekday: "long", day: "numeric", month: "long", timeZone: "UTC" }).format(new Date(`${date}T12:00:00Z`));
}

/** The viewer's local date of an instant, YYYY-MM-DD. */
export function localDate(instant: Date | string, zone: string = viewerZone): string {
  return new Intl.DateTimeFormat("en-CA", { year: "numeric", month: "2-digit", day: "2-digit", timeZone: zone }).format(new Date(instant));
}

export function addDays(date: string, days: number): string {
  const d = new Date(`${date}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}
