// The one answer to new work once close() began: UNAVAILABLE (the gateway's 503).
import { unavailable, type StatusError } from "../common/status-error.js";

export const SHUTTING_DOWN = "control plane is shutting down";

export function shuttingDown(): StatusError {
  return unavailable(SHUTTING_DOWN, "retry against another control plane, or once this one is back");
}
