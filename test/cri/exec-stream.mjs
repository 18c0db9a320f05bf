// The client end of the CRI streaming server's exec, as the API server uses it for `kubectl
// exec`: a websocket (RFC 6455) with the v4.channel.k8s.io subprotocol, where each binary message
// starts with its channel (1 stdout, 2 stderr, 3 the exit status as a JSON Status). Enough for a
// command without stdin: no frames are sent but the handshake.
import crypto from 'node:crypto';
import http from 'node:http';

/** → { stdout, stderr, status } (status: the parsed error-channel JSON, or null). */
export function wsExec(url, { timeout = 10_000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': crypto.randomBytes(16).toString('base64'),
        'Sec-WebSocket-Protocol': 'v4.channel.k8s.io',
      },
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`exec stream: no end after ${timeout} ms`));
    }, timeout);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.on('response', (res) => {
      clearTimeout(timer);
      res.resume();
      reject(new Error(`exec stream: HTTP ${res.statusCode} instead of a websocket upgrade`));
    });
    req.on('upgrade', (res, socket, head) => {
      const chans = { 1: [], 2: [], 3: [] };
      let buf = head;
      const done = () => {
        clearTimeout(timer);
        socket.destroy();
        const text = (n) => Buffer.concat(chans[n]).toString();
        let status = null;
        try {
          status = text(3) ? JSON.parse(text(3)) : null;
        } catch {
          status = { unparsed: text(3) };
        }
        resolve({
          stdout: text(1),
          stderr: text(2),
          status,
          protocol: res.headers['sec-websocket-protocol'],
        });
      };
      const parse = () => {
        for (;;) {
          if (buf.length < 2) return;
          const opcode = buf[0] & 0x0f;
          let len = buf[1] & 0x7f;
          let off = 2;
          if (len === 126) {
            if (buf.length < 4) return;
            len = buf.readUInt16BE(2);
            off = 4;
          } else if (len === 127) {
            if (buf.length < 10) return;
            len = Number(buf.readBigUInt64BE(2));
            off = 10;
          }
          if (buf[1] & 0x80) off += 4; // a server does not mask, but skip a mask if present
          if (buf.length < off + len) return;
          const payload = buf.subarray(off, off + len);
          buf = buf.subarray(off + len);
          if (opcode === 8) return done();
          if (opcode === 2 && payload.length && chans[payload[0]])
            chans[payload[0]].push(payload.subarray(1));
        }
      };
      socket.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        parse();
      });
      socket.on('end', done);
      socket.on('error', done);
      parse();
    });
    req.end();
  });
}
