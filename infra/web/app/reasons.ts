// Why a cart item cannot be bought (the contract's CartItem reasons), as a student reads it.

import type { CartItem } from "../client/index.js";
import { ApiError } from "../client/index.js";
import { errorText } from "./errors.js";

export const unavailable: Record<NonNullable<CartItem["reason"]>, string> = {
  teacher_not_found: "This teacher is no longer on the site.",
  teacher_unavailable: "This teacher cannot be booked at the moment.",
  lesson_not_offered: "The teacher no longer offers this lesson.",
  currency_mismatch: "This teacher charges in another currency than the rest of your cart; buy it separately.",
  slot_not_open: "The teacher no longer offers this time.",
  slot_taken: "This time is booked, or someone is paying for it.",
  booked_by_you: "You have already booked a lesson with this teacher at this time.",
  trial_used: "You have already had, or are buying, your trial lesson with this teacher.",
  overlaps_another_item: "This overlaps another lesson with the same teacher in your cart.",
  second_trial: "Only one trial lesson per teacher.",
};

/** A failure to put an item in the cart, in the words the cart page uses for it. */
export function cartRefusal(err: unknown): string {
  if (err instanceof ApiError && err.code === "cart_item_unavailable" && err.reason && err.reason in unavailable) {
    return `Not added: ${unavailable[err.reason as keyof typeof unavailable]}`;
  }
  if (err instanceof ApiError && err.code === "version_mismatch") {
    // updateCart re-applied the change three times and the cart changed every time.
    return "Your cart kept changing in another tab or on another device, so nothing was changed here. Try again.";
  }
  return errorText(err);
}
