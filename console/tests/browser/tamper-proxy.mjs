// A test-only HTTP proxy in front of a sealtrail server that flips one byte
// of every GET /v1/entries/{index} answer (inside the header's `body`
// commitment hex), so the browser's verification must fail and say what.
// Everything else passes through unchanged.
import http from "node:http";

/** Flips one hex digit of the header's body commitment, keeping valid JSON. */
export function tamper(text) {
  const m = /"body":"([0-9a-f])/.exec(text);
  if (!m) return text;
  const at = m.index + '"body":"'.length;
  const flipped = m[1] === "0" ? "1" : "0";
  return text.slice(0, at) + flipped + text.slice(at + 1);
}

export function startTamperProxy(target, port = 0) {
  const upstream = new URL(target);
  const server = http.createServer((req, res) => {
    const tamperThis = req.method === "GET" && /^\/v1\/entries\/\d+$/.test((req.url ?? "").split("?")[0]);
    const headers = { ...req.headers, host: upstream.host };
    if (tamperThis) delete headers["accept-encoding"];
    const up = http.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers },
      (ur) => {
        if (!tamperThis || ur.statusCode !== 200) {
          res.writeHead(ur.statusCode ?? 502, ur.headers);
          ur.pipe(res);
          return;
        }
        const chunks = [];
        ur.on("data", (c) => chunks.push(c));
        ur.on("end", () => {
          const body = Buffer.from(tamper(Buffer.concat(chunks).toString("utf8")), "utf8");
          const h = { ...ur.headers, "content-length": String(body.length) };
          delete h["transfer-encoding"];
          res.writeHead(200, h);
          res.end(body);
        });
      },
    );
    up.on("error", (e) => {
      res.writeHead(502, { "content-type": "text/plain" });
      res.end(`tamper proxy: ${e.message}`);
    });
    req.pipe(up);
  });
  return new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve(server)));
}
