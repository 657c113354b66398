// The http workload's peer: Node's own http server with the same two routes as flux's
// project in bench/io.sh — /hello answers at once, anything else awaits fetch() of UPSTREAM.
// Usage: UPSTREAM=http://127.0.0.1:PORT/ PORT=N node bench/node_http_peer.js  (prints "ready")
const http = require('node:http');

const upstream = process.env.UPSTREAM;
const server = http.createServer(async (req, res) => {
  if (req.url === '/hello') {
    res.setHeader('content-type', 'application/json');
    res.end('{"ok":true}');
    return;
  }
  try {
    const answer = await fetch(upstream);
    res.end(await answer.text());
  } catch (error) {
    res.statusCode = 502;
    res.end(String(error));
  }
});
server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('ready'));
