// Closing a dbus-next connection for good, quietly: shared by foyer's own bus service and its
// connection to systemd. Typed by shape, so base/ stays free of dbus-next.

export interface ClosableBus {
  on(event: "error", listener: () => void): unknown;
  disconnect(): void;
}

export function closeQuietly(bus: ClosableBus): void {
  // keep an 'error' listener: a write to the closed stream emits one, unhandled it would throw
  bus.on("error", () => {});
  try {
    bus.disconnect();
  } catch {
    /* already closed */
  }
  // disconnect() only half-closes (end()): a peer that never answers would keep the socket, and
  // each retry against a hung bus would leak one. destroy() releases the fd now.
  const stream = (bus as unknown as { _connection?: { stream?: { destroy?: () => void } } })._connection?.stream;
  try {
    stream?.destroy?.();
  } catch {
    /* already destroyed */
  }
}
