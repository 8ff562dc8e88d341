// Who is at the other end of a loopback TCP connection: the uid that owns the client's socket,
// from the kernel's socket table (/proc/net/tcp, the same table `ss -tne` reads). A TCP socket
// has no SO_PEERCRED; on loopback both ends are in the table, and the client's entry is the one
// whose local address is our peer's and whose remote address is ours. An entry with inode 0 is
// orphaned (closed by its process) and shows uid 0 whatever its owner was: it is no answer.

/** the kernel's hex for an IPv4 address and port as /proc/net/tcp prints them ("0100007F:1F90") */
export function tcpTableAddress(ip: string, port: number): string | undefined {
  const b = ip.split(".").map(Number);
  if (b.length !== 4 || b.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) return undefined;
  const hex = (n: number, w: number) => n.toString(16).toUpperCase().padStart(w, "0");
  // the address in the host's byte order as one u32: little-endian on every machine foyer runs on
  return `${hex(b[3]!, 2)}${hex(b[2]!, 2)}${hex(b[1]!, 2)}${hex(b[0]!, 2)}:${hex(port, 4)}`;
}

/**
 * The uid owning the client end of the connection (client ip:port → our ip:port) in `table`'s
 * text, or undefined when the table has no live entry for it.
 */
export function clientUid(table: string, client: { ip: string; port: number }, server: { ip: string; port: number }): number | undefined {
  const local = tcpTableAddress(client.ip, client.port);
  const remote = tcpTableAddress(server.ip, server.port);
  if (!local || !remote) return undefined;
  const at = table.indexOf(` ${local} ${remote} `);
  if (at < 0) return undefined;
  const end = table.indexOf("\n", at);
  // sl local rem st tx:rx tr:when retrnsmt uid timeout inode …; the line's start is cut off above
  const f = table.slice(at, end < 0 ? undefined : end).trim().split(/\s+/);
  const uid = f[6], inode = f[8];
  if (uid === undefined || !/^\d+$/.test(uid) || inode === undefined || !/^\d+$/.test(inode) || inode === "0") return undefined;
  return Number(uid);
}
