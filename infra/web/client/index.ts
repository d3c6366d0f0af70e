// A typed client of the lesson marketplace's function URLs. Every type here
// comes from ./schema.d.ts, which `npm run generate` makes from
// docs/openapi.yaml: when the contract changes, code that no longer follows
// it stops compiling. No dependencies; it needs only `fetch`.

import type { components, operations } from "./schema";

export type Schemas = components["schemas"];
export type Cart = Schemas["Cart"];
export type CartItem = Schemas["CartItem"];
export type LessonPick = Schemas["LessonPick"];
export type Checkout = Schemas["Checkout"];
export type CheckoutRequest = Schemas["CartRequest"];
export type TeacherCard = Schemas["TeacherCard"];
export type SlotsPage = Schemas["SlotsPage"];
export type UpcomingLessons = Schemas["UpcomingLessons"];
export type PastLessons = Schemas["PastLessons"];
export type ProfileDocument = Schemas["ProfileDocument"];
export type VersionedProfile = Schemas["VersionedProfile"];
export type PayoutsView = Schemas["PayoutsView"];
export type Grant = Schemas["Grant"];
export type PackageCard = Schemas["PackageCard"];

type Op = keyof operations;
type Responses<O extends Op> = operations[O]["responses"];
type JsonOf<R> = R extends { content: { "application/json": infer T } } ? T : never;
/** The body of an operation's success answer (200, else 201). */
export type Ok<O extends Op> = 200 extends keyof Responses<O> ? JsonOf<Responses<O>[200]> : 201 extends keyof Responses<O> ? JsonOf<Responses<O>[201]> : never;
export type Query<O extends Op> = operations[O]["parameters"] extends { query?: infer Q } ? NonNullable<Q> : never;
export type Body<O extends Op> = operations[O]["requestBody"] extends { content: { "application/json": infer B } } | undefined ? B : never;

export type FunctionName = "get-teachers" | "get-slots" | "cart" | "initiate-checkout" | "join-lesson" | "change-booking" | "teacher-profile" | "teacher-payouts" | "credits";

export interface ClientOptions {
  /** Each function's URL: deployed, the stack's outputs (each its own host); locally a base plus the name. */
  functionUrl: (name: FunctionName) => string;
  /** The caller's bearer token (your identity provider's), read before each call. */
  token?: () => string | null | undefined;
  fetch?: typeof fetch;
  /** The longest Retry-After honoured before the one retry of a 503 (seconds). */
  maxRetryAfter?: number;
}

/** An answer that is not a success: the JSON error's code and words, and the field it names. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    readonly lessonIndex?: number,
    readonly reason?: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

type Call = { method: "GET" | "PUT" | "POST" | "DELETE"; path?: string; query?: Record<string, string | number | boolean | undefined>; body?: unknown; headers?: Record<string, string> };

export class LessonsClient {
  private readonly fetch: typeof fetch;

  constructor(private readonly options: ClientOptions) {
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  getTeachers(query: Query<"getTeachers"> = {}): Promise<Ok<"getTeachers">> {
    return this.call("get-teachers", { method: "GET", query });
  }
  getSlots(query: Query<"getSlots">): Promise<Ok<"getSlots">> {
    return this.call("get-slots", { method: "GET", query });
  }
  readCart(): Promise<Ok<"readCart">> {
    return this.call("cart", { method: "GET" });
  }
  /** With `version` (the cart's, as read), written only if the cart is still at it; else a 412 `version_mismatch`. */
  replaceCart(items: LessonPick[], version?: number): Promise<Ok<"replaceCart">> {
    const body: Body<"replaceCart"> = { items };
    return this.call("cart", { method: "PUT", body, headers: ifMatch(version) });
  }
  clearCart(version?: number): Promise<Ok<"clearCart">> {
    return this.call("cart", { method: "DELETE", headers: ifMatch(version) });
  }
  /**
   * Applies `change` to the cart as stored (starting from `from`, the cart on
   * screen, if given): writes the changed list with If-Match, and when the cart
   * changed meanwhile (another tab or device, a checkout) reads it again and
   * applies `change` to that, so nobody's change is lost. `change` answering
   * undefined writes nothing and answers the cart it was given (`from` itself
   * on the first attempt). Three attempts, then the 412 is the caller's.
   */
  async updateCart(change: (items: LessonPick[]) => LessonPick[] | undefined, from?: Cart): Promise<Cart> {
    let cart = from ?? (await this.readCart());
    for (let attempt = 1; ; attempt++) {
      const items = change(cart.items.map(toPick));
      if (items === undefined) return cart;
      try {
        return await this.replaceCart(items, cart.version);
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 412) || attempt === 3) throw err;
        cart = await this.readCart();
      }
    }
  }
  /** One Idempotency-Key per intent: a retry (ours after a 503, or the user's) never opens a second checkout. */
  initiateCheckout(body: Body<"initiateCheckout">, idempotencyKey: string = crypto.randomUUID()): Promise<Ok<"initiateCheckout">> {
    return this.call("initiate-checkout", { method: "POST", body, headers: { "idempotency-key": idempotencyKey } });
  }
  getCheckout(checkoutId: string): Promise<Ok<"getCheckout">> {
    return this.call("initiate-checkout", { method: "GET", query: { checkout_id: checkoutId } });
  }
  abandonCheckout(checkoutId: string): Promise<Ok<"abandonCheckout">> {
    return this.call("initiate-checkout", { method: "DELETE", query: { checkout_id: checkoutId } });
  }
  upcomingLessons(cursor?: string): Promise<UpcomingLessons> {
    return this.call("join-lesson", { method: "GET", query: { cursor } });
  }
  pastLessons(cursor?: string): Promise<PastLessons> {
    return this.call("join-lesson", { method: "GET", query: { cursor, past: "true" } });
  }
  joinLesson(bookingId: string): Promise<Ok<"joinLesson">> {
    const body: Body<"joinLesson"> = { booking_id: bookingId };
    return this.call("join-lesson", { method: "POST", body });
  }
  changeOptions(bookingId: string): Promise<Ok<"bookingChangeOptions">> {
    return this.call("change-booking", { method: "GET", query: { booking_id: bookingId } });
  }
  changeBooking(body: Body<"changeBooking">): Promise<Ok<"changeBooking">> {
    return this.call("change-booking", { method: "POST", body });
  }
  readProfile(query: Query<"readTeacherProfile"> = {}): Promise<Ok<"readTeacherProfile">> {
    return this.call("teacher-profile", { method: "GET", query });
  }
  /** Replaces the profile read at `version`; a 412 `version_mismatch` means it changed elsewhere. */
  writeProfile(doc: Body<"writeTeacherProfile">, version: number, query: Query<"writeTeacherProfile"> = {}): Promise<Ok<"writeTeacherProfile">> {
    return this.call("teacher-profile", { method: "PUT", query, body: doc, headers: { "if-match": `"${version}"` } });
  }
  /** The teacher's Stripe account state and a page of earnings. */
  payouts(query: Query<"teacherPayouts"> = {}): Promise<Ok<"teacherPayouts">> {
    return this.call("teacher-payouts", { method: "GET", query });
  }
  /** The connected account (made once) and a fresh single-use onboarding link: go there at once. */
  startOnboarding(body: Body<"teacherPayoutsOnboarding"> = {}, query: Query<"teacherPayoutsOnboarding"> = {}): Promise<Ok<"teacherPayoutsOnboarding">> {
    return this.call("teacher-payouts", { method: "POST", path: "onboarding", query, body });
  }

  /** The student's lesson-package credits, newest grant first. */
  credits(): Promise<Ok<"listCredits">> {
    return this.call("credits", { method: "GET" });
  }
  /** The unused credits of a grant back as money (within 14 days of buying it). */
  refundCredits(grantId: string): Promise<Ok<"refundCredits">> {
    const body: Body<"refundCredits"> = { grant_id: grantId };
    return this.call("credits", { method: "POST", path: "refund", body });
  }

  private async call<T>(name: FunctionName, call: Call): Promise<T> {
    const base = this.options.functionUrl(name);
    const url = new URL(call.path ? `${base.replace(/\/$/, "")}/${call.path}` : base);
    for (const [key, value] of Object.entries(call.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = { accept: "application/json", ...call.headers };
    const token = this.options.token?.();
    if (token) headers.authorization = `Bearer ${token}`;
    if (call.body !== undefined) headers["content-type"] = "application/json";
    const init: RequestInit = { method: call.method, headers, body: call.body === undefined ? undefined : JSON.stringify(call.body) };
    let response = await this.send(url, init);
    const wait = retryAfter(response, this.options.maxRetryAfter ?? 10);
    if (response.status === 503 && wait !== undefined) {
      await new Promise((resolve) => setTimeout(resolve, wait * 1000));
      response = await this.send(url, init);
    }
    const text = await response.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      // Not ours: a proxy's or Lambda's own error page.
      throw new ApiError(response.status, "http_error", `The server answered ${response.status} without a readable error.`);
    }
    if (!response.ok) throw toError(response.status, json);
    return json as T;
  }

  private async send(url: URL, init: RequestInit): Promise<Response> {
    try {
      return await this.fetch(url, init);
    } catch {
      // fetch rejects only when no answer came (offline, DNS, CORS refused).
      throw new ApiError(0, "network_error", "The server could not be reached. Check your connection and try again.");
    }
  }
}

/** A cart item as a PUT takes it back: what the student picked, never the server's price or verdict. */
export function toPick({ teacher_id, start, duration_minutes, trial }: CartItem): LessonPick {
  return { teacher_id, start, duration_minutes, trial };
}

function ifMatch(version: number | undefined): Record<string, string> | undefined {
  return version === undefined ? undefined : { "if-match": `"${version}"` };
}

function retryAfter(response: Response, max: number): number | undefined {
  const raw = response.headers.get("retry-after");
  const seconds = raw === null ? NaN : Number(raw);
  return Number.isFinite(seconds) && seconds >= 0 ? Math.min(seconds, max) : undefined;
}

function toError(status: number, json: unknown): ApiError {
  const error = (json as Partial<Schemas["Error"]> | undefined)?.error;
  if (!error) return new ApiError(status, "http_error", `The server answered ${status}.`);
  return new ApiError(status, error.code, error.message, error.field, error.lesson_index, error.reason);
}
