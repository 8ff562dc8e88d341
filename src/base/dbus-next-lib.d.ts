// dbus-next's internals that bus-connection.ts builds a peer-to-peer connection from (its index
// only offers bus connections, which always send Hello()). CommonJS modules: module.exports is
// the default export.
declare module "dbus-next/lib/bus.js" {
  const MessageBus: unknown;
  export default MessageBus;
}
declare module "dbus-next/lib/connection.js" {
  export default function createConnection(opts: { busAddress: string; negotiateUnixFd?: boolean }): unknown;
}
