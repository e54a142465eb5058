// An injected WebSocket class the test drives by hand: it records what the
// client sends and lets the test open, answer and close each socket. For the
// parts of the protocol the real server does not speak yet (§9 resume).

export function fakeWebSocket() {
  /** @type {FakeSocket[]} */
  const sockets = [];
  const waiters = [];
  class FakeSocket {
    constructor(url, protocols) {
      this.url = new URL(url);
      this.protocols = protocols;
      this.readyState = 0;
      this.sent = [];
      this.sentWaiters = [];
      this.onopen = null; this.onmessage = null; this.onclose = null; this.onerror = null;
      sockets.push(this);
      for (const w of waiters.splice(0)) w(this);
    }
    send(data) {
      if (this.readyState !== 1) throw new Error('send on a socket that is not open');
      this.sent.push(data);
      for (const w of this.sentWaiters.splice(0)) w();
    }
    close(code = 1000, reason = '') {
      if (this.readyState >= 2) return;
      this.readyState = 3;
      queueMicrotask(() => this.onclose?.({ code, reason }));
    }
    // ---- driven by the test ----
    open() { this.readyState = 1; this.onopen?.({}); }
    /** @param {string} text */
    deliver(text) { this.onmessage?.({ data: text }); }
    /** The server (or the network) ends the socket. */
    drop(code = 1006, reason = '') {
      this.readyState = 3;
      this.onclose?.({ code, reason });
    }
    /** Resolve once the client has sent `n` frames on this socket. */
    async nextSent(n = this.sent.length + 1) {
      while (this.sent.length < n) await new Promise((ok) => this.sentWaiters.push(ok));
      return this.sent[n - 1];
    }
  }
  return {
    WebSocket: FakeSocket,
    sockets,
    /** The n-th socket the client opens (0-based), once it exists. */
    socket(n) {
      if (sockets[n]) return Promise.resolve(sockets[n]);
      return new Promise((ok) => {
        const check = () => (sockets[n] ? ok(sockets[n]) : waiters.push(check));
        waiters.push(check);
      });
    },
  };
}
