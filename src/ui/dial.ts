// A classic script at the top of <head>: it opens the greeter's WebSocket while the stylesheets and
// the page's modules still load, so the handshake is done by the time connection.ts takes the
// socket over (it sends hello). Messages that arrive before then are kept, in order.
import { socketUrl } from "./socket-url.js";

const ws = new WebSocket(socketUrl());
ws.binaryType = "arraybuffer";
const early: MessageEvent[] = [];
ws.onmessage = (ev) => early.push(ev);
window.foyerEarlySocket = { ws, early };
